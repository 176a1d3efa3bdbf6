"""``ctx.stream_widget``: chatkit's stream_widget semantics over plain JSON widgets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from chatkit.widgets import WidgetTemplate

from chatkit_handlers import ActionContext
from chatkit_handlers.types import (
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    WidgetItem,
)

pytestmark = pytest.mark.anyio


def ctx() -> ActionContext[Any]:
    return ActionContext(thread=ThreadMetadata(id="thr_1"), action_type="test")


def md(value: str, streaming: bool = True) -> dict[str, Any]:
    return {
        "type": "Card",
        "children": [{"type": "Markdown", "id": "md", "value": value, "streaming": streaming}],
    }


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


async def test_a_static_root_is_one_done_event() -> None:
    [event] = await collect(ctx().stream_widget(md("Hi", streaming=False), copy_text="Hi"))
    assert isinstance(event, ThreadItemDoneEvent)
    assert isinstance(event.item, WidgetItem)
    assert (event.item.thread_id, event.item.widget, event.item.copy_text) == ("thr_1", md("Hi", False), "Hi")


async def test_a_chatkit_template_build_is_accepted() -> None:
    template = WidgetTemplate(
        {
            "version": "1.0",
            "name": "t",
            "template": '{"type": "Card", "children": [{"type": "Text", "value": "{{ v }}"}]}',
        }
    )
    [event] = await collect(ctx().stream_widget(template.build({"v": "x"})))
    assert event.item.widget == {"type": "Card", "children": [{"type": "Text", "value": "x"}]}


async def test_a_generator_streams_added_deltas_done() -> None:
    async def roots() -> AsyncIterator[dict[str, Any]]:
        yield md("The")
        yield md("The answer")
        yield md("The answer")  # unchanged: no event
        yield md("The answer is 42", streaming=False)

    events = await collect(ctx().stream_widget(roots()))
    assert [type(e) for e in events] == [
        ThreadItemAddedEvent,
        ThreadItemUpdatedEvent,
        ThreadItemUpdatedEvent,
        ThreadItemDoneEvent,
    ]
    added, delta, replaced, done = events
    assert added.item.widget == md("The")
    assert msgspec.to_builtins(delta.update) == {
        "type": "widget.streaming_text.value_delta",
        "component_id": "md",
        "delta": " answer",
        "done": False,
    }
    assert replaced.update.widget == md("The answer is 42", streaming=False)  # the streaming flag changed
    assert delta.item_id == replaced.item_id == done.item.id == added.item.id
    assert done.item.widget == md("The answer is 42", streaming=False)


async def test_an_empty_generator_is_an_error() -> None:
    async def nothing() -> AsyncIterator[dict[str, Any]]:
        return
        yield  # pragma: no cover

    with pytest.raises(ValueError, match="yielded no widget root"):
        await collect(ctx().stream_widget(nothing()))


async def test_the_source_is_closed_when_the_stream_stops_early() -> None:
    closed = []

    async def roots() -> AsyncIterator[dict[str, Any]]:
        try:
            yield md("a")
            yield md("ab")
        finally:
            closed.append(True)

    stream = ctx().stream_widget(roots())
    assert isinstance(await anext(stream), ThreadItemAddedEvent)
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]

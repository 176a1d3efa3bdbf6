"""Handlers called directly, as a user unit-tests them: a payload Struct and a hand-built context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from chatkit_handlers import ActionContext, on_action
from chatkit_handlers._action.decorator import ActionSpec, specs_of
from chatkit_handlers.types import (
    AssistantMessageItem,
    ClientEffectEvent,
    HiddenContextItem,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
)
from examples.counter import handlers
from examples.counter.handlers import Increment, increment, reset
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio


def make_ctx(count: int | None = 3, **kwargs: Any) -> ActionContext[Any]:
    """A context as a test builds it: a thread, and a counter widget as sender unless ``count`` is None."""
    thread = ThreadMetadata(id="thr_unit")
    sender = (
        WidgetItem(id="wid_unit", thread_id=thread.id, widget=counter_card(count))
        if count is not None
        else None
    )
    return ActionContext(thread=thread, sender=sender, **kwargs)


async def collect(gen: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in gen]


# ------------------------------------------------------------------ the decorator


def test_decorator_returns_the_same_function() -> None:
    async def handler(ctx: ActionContext[Any]) -> None:
        return None

    assert on_action("x.y", streaming=False)(handler) is handler
    assert specs_of(handler) == (ActionSpec("x.y", streaming=False),)


def test_decorator_stacks_and_defaults_to_streaming() -> None:
    @on_action("a")
    @on_action("b", streaming=False)
    async def handler(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    assert specs_of(handler) == (ActionSpec("b", streaming=False), ActionSpec("a", streaming=True))


def test_example_handlers_keep_their_registration() -> None:
    assert specs_of(handlers.increment) == (ActionSpec("counter.increment", streaming=False),)
    assert specs_of(handlers.reset) == (ActionSpec("counter.reset", streaming=True),)
    assert specs_of(handlers.counter_card) == ()


@pytest.mark.parametrize("bad", ["", None, 3])
def test_decorator_rejects_a_missing_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="non-empty action type"):
        on_action(bad)


# ------------------------------------------------------------------ the counter example, called directly


async def test_sync_handler_called_directly() -> None:
    assert await increment(Increment(by=2), sender_at(3)) == counter_card(5)
    assert await increment(Increment(), sender_at(0)) == counter_card(1)


def sender_at(count: int) -> WidgetItem:
    sender = make_ctx(count).sender
    assert sender is not None
    return sender


async def test_streaming_handler_called_directly() -> None:
    ctx = make_ctx(7)
    progress, updated, hidden = await collect(reset(ctx))
    assert progress == ProgressUpdateEvent(text="Resetting…")
    assert updated == ThreadItemUpdatedEvent(
        item_id="wid_unit", update=WidgetRootUpdated(widget=counter_card(0))
    )
    assert isinstance(hidden, ThreadItemDoneEvent)
    assert isinstance(hidden.item, HiddenContextItem)
    assert hidden.item.content == "user reset the counter"
    assert hidden.item.thread_id == "thr_unit"


async def test_payload_struct_is_a_plain_struct() -> None:
    assert Increment() == Increment(by=1)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int`, got `str` - at `\$.by`"):
        msgspec.convert({"by": "x"}, Increment)


# ------------------------------------------------------------------ event helpers


def test_progress_and_icon() -> None:
    ctx = make_ctx()
    assert ctx.progress("Working") == ProgressUpdateEvent(text="Working")
    assert ctx.progress("Working", icon="bolt") == ProgressUpdateEvent(text="Working", icon="bolt")


def test_update_widget_targets_the_sender_or_an_explicit_item() -> None:
    ctx = make_ctx()
    assert ctx.update_widget(counter_card(1)).item_id == "wid_unit"
    assert ctx.update_widget(counter_card(1), item_id="wid_other").item_id == "wid_other"


def test_update_widget_without_sender_says_what_to_do() -> None:
    ctx = make_ctx(None, action_type="counter.reset")
    with pytest.raises(RuntimeError, match=r"ctx.update_widget\(\) needs a sender widget.*'counter.reset'"):
        ctx.update_widget(counter_card(0))
    with pytest.raises(RuntimeError, match=r"ctx.update_component\(\)"):
        ctx.update_component("count", {"type": "Text", "id": "count", "value": "1"})
    assert ctx.update_widget(counter_card(0), item_id="wid_x").item_id == "wid_x"


def test_update_component() -> None:
    event = make_ctx().update_component("count", {"type": "Text", "id": "count", "value": "9"})
    assert event.item_id == "wid_unit"
    assert event.update == WidgetComponentUpdated(
        component_id="count", component={"type": "Text", "id": "count", "value": "9"}
    )


def test_replace_and_remove_item() -> None:
    ctx = make_ctx()
    assert ctx.sender is not None
    item = msgspec.structs.replace(ctx.sender, widget=counter_card(42))
    assert ctx.replace_item(item) == ThreadItemReplacedEvent(item=item)
    assert ctx.remove_item("wid_unit") == ThreadItemRemovedEvent(item_id="wid_unit")


def test_add_widget_and_message_make_new_items_in_the_thread() -> None:
    ctx = make_ctx()
    added = ctx.add_widget(counter_card(1), copy_text="1")
    assert isinstance(added.item, WidgetItem)
    assert added.item.thread_id == "thr_unit"
    assert added.item.widget == counter_card(1)
    assert added.item.copy_text == "1"
    assert added.item.id.startswith("wid_")
    assert ctx.add_widget(counter_card(1)).item.id != added.item.id

    said = ctx.message("Done!")
    assert isinstance(said.item, AssistantMessageItem)
    assert said.item.thread_id == "thr_unit"
    assert [part.text for part in said.item.content] == ["Done!"]


def test_client_effect_notice_hidden_context() -> None:
    ctx = make_ctx()
    assert ctx.client_effect("confetti") == ClientEffectEvent(name="confetti", data={})
    assert ctx.client_effect("goto", {"url": "/x"}) == ClientEffectEvent(name="goto", data={"url": "/x"})
    assert ctx.notice("Saved") == NoticeEvent(level="info", message="Saved")
    assert ctx.notice("Careful", level="warning", title="Heads up") == NoticeEvent(
        level="warning", message="Careful", title="Heads up"
    )
    hidden = ctx.hidden_context({"note": "x"})
    assert isinstance(hidden.item, HiddenContextItem)
    assert hidden.item.content == {"note": "x"}


# chatkit warns from inside its own template validation (it builds the named classes itself).
@pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")
def test_helpers_accept_chatkit_widgets() -> None:
    from chatkit.widgets import WidgetTemplate

    template = WidgetTemplate(
        {
            "version": "1.0",
            "name": "count",
            "template": '{"type": "Card", "children": [{"type": "Text", "id": "count", "value": "{{ n }}"}]}',
        }
    )
    event = make_ctx().update_widget(template.build({"n": 4}))
    assert isinstance(event.update, WidgetRootUpdated)
    assert event.update.widget == {
        "type": "Card",
        "children": [{"type": "Text", "id": "count", "value": "4"}],
    }


def test_helpers_reject_what_is_not_a_widget() -> None:
    with pytest.raises(TypeError, match="expected a widget root"):
        make_ctx().add_widget("Card")


def test_context_exposes_what_it_was_built_with() -> None:
    user = {"id": "u1"}
    ctx = make_ctx(action_type="counter.reset", context=user)
    assert ctx.context is user
    assert ctx.action_type == "counter.reset"
    assert ctx.store is None
    assert "counter.reset" in repr(ctx)
    assert "wid_unit" in repr(ctx)


# ------------------------------------------------------------------ handlers a user writes


@on_action("greet", streaming=False)
def greet(ctx: ActionContext[Any]) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "value": f"hi {ctx.context}"}]}


def test_plain_def_handler_is_directly_callable() -> None:
    assert greet(make_ctx(context="ann"))["children"][0]["value"] == "hi ann"

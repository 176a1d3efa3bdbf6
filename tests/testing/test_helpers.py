"""Builders, assertions and the SSE reader of chatkit_handlers.testing."""

from __future__ import annotations

from typing import Any

import pytest

from chatkit_handlers.testing import (
    DEFAULT_THREAD_ID,
    assert_client_effect,
    assert_error_event,
    assert_hidden_context,
    assert_notice,
    assert_widget_added,
    assert_widget_updated,
    component,
    find_events,
    make_action_context,
    make_thread,
    make_widget_item,
)
from chatkit_handlers.testing._sse import SSEParser
from chatkit_handlers.types import (
    ClientEffectEvent,
    ErrorEvent,
    HiddenContextItem,
    NoticeEvent,
    ProgressUpdateEvent,
    SyncCustomActionResponse,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    WidgetComponentUpdated,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
)
from examples.counter.handlers import Increment, increment, reset
from examples.counter.widgets import counter_card

CARD: dict[str, Any] = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "a"}]}

# --------------------------------------------------------------------------- builders


def test_builders_make_what_the_dispatcher_would_hand_a_handler() -> None:
    thread = make_thread("thr_1", title="Orders", metadata={"k": 1})
    assert (thread.id, thread.title, thread.metadata) == ("thr_1", "Orders", {"k": 1})
    assert make_thread().id == DEFAULT_THREAD_ID
    item = make_widget_item(CARD, thread=thread, copy_text="a")
    assert item.id.startswith("wid_")
    assert (item.thread_id, item.widget, item.copy_text) == ("thr_1", CARD, "a")
    ctx = make_action_context(sender=item, context="ada", action_type="x.y")
    assert (ctx.thread.id, ctx.sender, ctx.context, ctx.action_type) == ("thr_1", item, "ada", "x.y")
    assert make_action_context().thread.id == DEFAULT_THREAD_ID
    with pytest.raises(ValueError, match="belongs to thread 'thr_1'"):
        make_action_context(thread=make_thread("thr_2"), sender=item)


@pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")
def test_widget_items_from_chatkit_widgets_and_templates() -> None:
    from chatkit.widgets import Card, Text, WidgetTemplate

    named = Card(children=[Text(id="t", value="a")])
    assert make_widget_item(named).widget == CARD
    template = WidgetTemplate(
        definition={
            "version": "1.0",
            "name": "greeting",
            "template": '{"type": "Card", "children": [{"type": "Text", "id": "t", "value": "{{ name }}"}]}',
        }
    )
    assert make_widget_item(template.build({"name": "a"})).widget == CARD
    with pytest.raises(TypeError, match="expected a widget root"):
        make_widget_item(42)


@pytest.mark.anyio
async def test_unit_testing_a_handler_directly_with_the_builders() -> None:
    item = make_widget_item(counter_card(3))
    card = await increment(Increment(by=2), item)
    assert component(card, "count")["value"] == "5"
    events = [event async for event in reset(make_action_context(sender=item))]
    assert_widget_updated(events, counter_card(0), item=item)
    assert_hidden_context(events, "user reset the counter")


# --------------------------------------------------------------------------- assertions


def test_component_finds_by_id_in_roots_items_and_answers() -> None:
    item = make_widget_item(CARD)
    for holder in (CARD, item, SyncCustomActionResponse(updated_item=item)):
        assert component(holder, "t")["value"] == "a"
    assert component({"type": "Card", "id": "root"}, "root") == {"type": "Card", "id": "root"}
    with pytest.raises(AssertionError, match="no component with id 'nope'"):
        component(CARD, "nope")


def test_assert_widget_updated_on_sync_answers() -> None:
    item = make_widget_item(CARD, id="wid_1")
    answer = SyncCustomActionResponse(updated_item=item)
    assert assert_widget_updated(answer, CARD, item="wid_1") == CARD
    with pytest.raises(AssertionError, match=r'-      "value": "b"\n\+      "value": "a"'):
        assert_widget_updated(
            answer, {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "b"}]}
        )
    with pytest.raises(AssertionError, match="expected item 'wid_2' to be updated"):
        assert_widget_updated(answer, CARD, item="wid_2")
    with pytest.raises(AssertionError, match="expected an updated widget item"):
        assert_widget_updated(SyncCustomActionResponse(), CARD)


def test_assert_widget_updated_applies_stream_updates_in_order() -> None:
    item = make_widget_item(CARD, id="wid_1")
    events = [
        ThreadItemUpdatedEvent(item_id="wid_1", update=WidgetStreamingTextValueDelta("t", "b", done=False)),
        ThreadItemUpdatedEvent(
            item_id="wid_1",
            update=WidgetComponentUpdated("t", {"type": "Text", "id": "t", "value": "c"}),
        ),
        ThreadItemUpdatedEvent(item_id="wid_1", update=WidgetStreamingTextValueDelta("t", "d", done=True)),
    ]
    expected = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "cd"}]}
    assert_widget_updated(events, expected, item=item)
    with pytest.raises(AssertionError, match="pass the WidgetItem itself"):
        assert_widget_updated(events, expected)  # deltas need the starting widget
    replaced = [ThreadItemReplacedEvent(item=make_widget_item(expected, id="wid_1"))]
    assert_widget_updated(replaced, expected)
    with pytest.raises(AssertionError, match="did not update widget 'wid_9'"):
        assert_widget_updated(events, expected, item="wid_9")
    two = [*events, ThreadItemUpdatedEvent(item_id="wid_2", update=WidgetRootUpdated(CARD))]
    with pytest.raises(AssertionError, match=r"exactly one item, got \['wid_1', 'wid_2'\]"):
        assert_widget_updated(two, expected)


def test_assert_widget_added() -> None:
    other = {"type": "Card", "children": []}
    events = [
        ThreadItemDoneEvent(item=make_widget_item(CARD)),
        ThreadItemDoneEvent(item=make_widget_item(other)),
    ]
    assert assert_widget_added(events).widget == other
    assert assert_widget_added(events, CARD).widget == CARD
    with pytest.raises(AssertionError, match="no added widget is the expected one"):
        assert_widget_added(events, {"type": "ListView", "children": []})
    with pytest.raises(AssertionError, match=r"no widget was added; events: progress_update"):
        assert_widget_added([ProgressUpdateEvent(text="…")])


def test_event_assertions_return_what_they_found_or_say_what_was_there() -> None:
    events = [
        ProgressUpdateEvent(text="Working…"),
        ClientEffectEvent(name="confetti", data={"n": 3}),
        NoticeEvent(level="warning", message="Careful"),
        ErrorEvent(code="custom", message="Nope", allow_retry=False),
        ThreadItemDoneEvent(item=HiddenContextItem(id="hcx_1", thread_id="thr_1", content={"did": "x"})),
    ]
    assert find_events(events, ProgressUpdateEvent)[0].text == "Working…"
    assert assert_client_effect(events, "confetti").data == {"n": 3}
    assert assert_client_effect(events, "confetti", {"n": 3}) is events[1]
    with pytest.raises(AssertionError, match=r"emitted: \[\('confetti', \{'n': 3\}\)\]"):
        assert_client_effect(events, "confetti", {"n": 4})
    assert assert_notice(events, "Careful", level="warning") is events[2]
    with pytest.raises(AssertionError, match=r"notices: \[\('warning', 'Careful'\)\]"):
        assert_notice(events, level="danger")
    assert assert_error_event(events, "custom", message="Nope", allow_retry=False) is events[3]
    with pytest.raises(AssertionError, match=r"errors: \[\('custom', 'Nope'\)\]"):
        assert_error_event(events, "stream.error")
    assert assert_hidden_context(events, {"did": "x"}).id == "hcx_1"
    with pytest.raises(AssertionError, match=r"recorded: \[\{'did': 'x'\}\]"):
        assert_hidden_context(events, {"did": "y"})


# --------------------------------------------------------------------------- SSE


def test_sse_parser_reads_events_split_anywhere() -> None:
    wire = b'data: {"type":"progress_update","text":"a"}\n\ndata: {"type":"notice","level":"info","message":"b"}\n\n'
    for cut in range(len(wire)):
        parser = SSEParser()
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        parser.close()
        assert events == [ProgressUpdateEvent(text="a"), NoticeEvent(level="info", message="b")]


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b'event: x\ndata: {"type":"progress_update","text":"a"}\n\n', "not a ChatKit SSE frame"),
        (b'data:{"type":"progress_update","text":"a"}\n\n', "not a ChatKit SSE frame"),
        (b'data: {"type":"progress_update"}\n\n', "invalid event"),
        (b"data: {nope\n\n", "malformed JSON"),
    ],
)
def test_sse_parser_rejects_what_chatkit_could_not_read(wire: bytes, problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        SSEParser().feed(wire)


def test_sse_parser_notices_a_truncated_stream() -> None:
    parser = SSEParser()
    parser.feed(b'data: {"type":"progress_update"')
    with pytest.raises(AssertionError, match="ended inside an event"):
        parser.close()

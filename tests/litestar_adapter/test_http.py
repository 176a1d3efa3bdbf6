"""The whole path over HTTP: Litestar's TestClient against a real app with ChatKitPlugin.

The handlers below are registered by ``router.include(<this module>)``; they record what
they saw in ``SEEN`` so that tests can check what reached them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from litestar import Litestar, Request
from litestar.testing import TestClient

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import (
    HiddenContextItem,
    ThreadItem,
    ThreadMetadata,
    WidgetItem,
)
from examples.counter import handlers as counter_handlers
from examples.counter.handlers import Increment
from examples.counter.widgets import counter_card

SEEN: dict[str, Any] = {}
"""What handlers observed (thread ids, contexts...), reset for every test."""


def count_of(item: ThreadItem) -> int:
    assert isinstance(item, WidgetItem)
    return int(item.widget["children"][0]["value"])


# ------------------------------------------------------------------ sync handlers


@on_action("t.none", streaming=False)
async def returns_none(ctx: ActionContext[Any]) -> None:
    return None


@on_action("t.whole_item", streaming=False)
async def returns_item(sender: WidgetItem) -> WidgetItem:
    return msgspec.structs.replace(sender, widget=counter_card(99), copy_text="99")


@on_action("t.plain", streaming=False)
def plain_sync(payload: Increment, ctx: ActionContext[Any]) -> dict[str, Any]:
    SEEN["plain_thread"] = threading.get_ident()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        SEEN["plain_loop"] = None
    else:
        SEEN["plain_loop"] = "running"
    assert ctx.sender is not None
    return counter_card(int(ctx.sender.widget["children"][0]["value"]) + payload.by)


@on_action("t.sync_boom", streaming=False)
async def sync_boom(ctx: ActionContext[Any]) -> None:
    raise RuntimeError("secret database password in this message")


@on_action("t.sync_refused", streaming=False)
async def sync_refused(ctx: ActionContext[Any]) -> None:
    raise ActionError("That is not allowed", status_code=409)


@on_action("t.sync_title", streaming=False)
async def sync_title(thread: ThreadMetadata) -> None:
    thread.title = "Renamed in sync"


@on_action("t.sync_context", streaming=False)
async def sync_context(ctx: ActionContext[Any], context: Any) -> dict[str, Any]:
    SEEN["sync_context"] = (ctx.context, context)
    return counter_card(0)


# ------------------------------------------------------------------ streaming handlers


@on_action("t.everything")
async def everything(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress("Working", icon="sparkle")
    yield ctx.update_widget(counter_card(5))
    yield ctx.add_widget(counter_card(1), copy_text="one")
    yield ctx.message("Done")
    yield ctx.client_effect("confetti", {"n": 3})
    yield ctx.notice("Saved", level="warning", title="Note")
    yield ctx.hidden_context("the user did everything")


@on_action("t.component")
async def component(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.update_component("count", {"type": "Text", "id": "count", "value": "7"})


@on_action("t.remove")
async def remove(ctx: ActionContext[Any], payload: str) -> AsyncIterator[Any]:
    yield ctx.remove_item(payload)


@on_action("t.replace")
async def replace(ctx: ActionContext[Any], sender: WidgetItem) -> AsyncIterator[Any]:
    yield ctx.replace_item(msgspec.structs.replace(sender, widget=counter_card(42)))


@on_action("t.remove_then_update")
async def remove_then_update(ctx: ActionContext[Any], sender: WidgetItem) -> AsyncIterator[Any]:
    yield ctx.remove_item(sender.id)
    yield ctx.update_widget(counter_card(9))


@on_action("t.hang")
async def hang(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.update_widget(counter_card(21))
    try:
        await anyio.sleep_forever()
    finally:
        SEEN["hang_finally"] = True
    yield ctx.progress("never")


@on_action("t.title")
async def title(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    ctx.thread.title = "Renamed"
    yield ctx.progress("Renaming")


@on_action("t.title_at_end")
async def title_at_end(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress("Renaming")
    ctx.thread.title = "Renamed late"


@on_action("t.boom")
async def boom(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    ctx.thread.title = "Should not stick"
    yield ctx.update_widget(counter_card(13))
    yield ctx.add_widget(counter_card(2))
    yield ctx.remove_item("msg_hello")
    yield ctx.hidden_context("should not be stored")
    raise RuntimeError("secret detail that must not reach the client")


@on_action("t.refused")
async def refused(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress("Checking")
    raise ActionError("Out of stock", allow_retry=True)


@on_action("t.bad_yield")
async def bad_yield(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield "not an event"


@on_action("t.stream_context")
async def stream_context(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    SEEN["stream_context"] = ctx.context
    yield ctx.notice(f"hello {ctx.context}")


@on_action("t.no_item")
async def no_item(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    SEEN["no_item_sender"] = ctx.sender
    yield ctx.add_widget(counter_card(0))


@on_action("t.no_item_sync", streaming=False)
async def no_item_sync(ctx: ActionContext[Any]) -> None:
    SEEN["no_item_sync_sender"] = ctx.sender


@on_action("t.needs_sender", streaming=False)
async def needs_sender(sender: WidgetItem) -> None:
    return None


@on_action("t.payload")
async def echo_payload(payload: Increment, ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress(f"by={payload.by}")


# ------------------------------------------------------------------ the app


def make_router() -> ActionRouter:
    router = ActionRouter()
    router.include(counter_handlers)
    router.include(sys.modules[__name__])
    return router


def make_app(store: MemoryStore, **plugin_kwargs: Any) -> Litestar:
    return Litestar(plugins=[ChatKitPlugin(make_router(), store=store, path="/chatkit", **plugin_kwargs)])


@pytest.fixture(autouse=True)
def _reset_seen() -> None:
    SEEN.clear()


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient[Litestar]]:
    with TestClient(make_app(store)) as test_client:
        yield test_client


def load_item(store: MemoryStore, thread_id: str, item_id: str) -> ThreadItem:
    async def load() -> ThreadItem:
        return await store.load_item(thread_id, item_id, context=None)

    return anyio.run(load)


def thread_items(store: MemoryStore, thread_id: str) -> list[ThreadItem]:
    async def load() -> list[ThreadItem]:
        page = await store.load_thread_items(thread_id, None, 100, "asc", context=None)
        return page.data

    return anyio.run(load)


def load_thread(store: MemoryStore, thread_id: str) -> ThreadMetadata:
    async def load() -> ThreadMetadata:
        return await store.load_thread(thread_id, context=None)

    return anyio.run(load)


def assert_error(response: Any, status: int, code: str, *needles: str) -> str:
    """Check a JSON error answer; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "code", "message", "allow_retry"}
    assert body["type"] == "error"
    assert body["code"] == code
    for needle in needles:
        assert needle in body["message"], body["message"]
    assert "Traceback" not in response.text
    return str(body["message"])


# ------------------------------------------------------------------ both dispatch modes


def test_sync_action_answers_200_with_the_updated_item(
    client: Any, action_body: Any, store: Any, ids: Any
) -> None:
    response = client.post("/chatkit", content=action_body("counter.increment", {"by": 2}, streaming=False))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    item = response.json()["updated_item"]
    assert item["id"] == ids.item
    assert item["type"] == "widget"
    assert item["thread_id"] == ids.thread
    assert item["widget"] == counter_card(2)
    # Saved on the sender, so a reload (and the next click) sees the new count.
    assert count_of(load_item(store, ids.thread, ids.item)) == 2
    client.post("/chatkit", content=action_body("counter.increment", {"by": 5}, streaming=False))
    assert count_of(load_item(store, ids.thread, ids.item)) == 7


def test_sync_action_returning_none_answers_empty_object(client: Any, action_body: Any) -> None:
    response = client.post("/chatkit", content=action_body("t.none", streaming=False))
    assert response.status_code == 200
    assert response.content == b"{}"


def test_sync_action_returning_a_whole_item(client: Any, action_body: Any, store: Any, ids: Any) -> None:
    response = client.post("/chatkit", content=action_body("t.whole_item", streaming=False))
    assert response.status_code == 200
    assert response.json()["updated_item"]["copy_text"] == "99"
    stored = load_item(store, ids.thread, ids.item)
    assert count_of(stored) == 99
    assert isinstance(stored, WidgetItem)
    assert stored.copy_text == "99"


def test_stream_answers_200_with_sse(
    client: Any, action_body: Any, sse_events: Any, store: Any, ids: Any
) -> None:
    client.post("/chatkit", content=action_body("counter.increment", {"by": 3}, streaming=False))
    response = client.post("/chatkit", content=action_body("counter.reset"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response.content)
    assert events == [
        {"type": "stream_options", "stream_options": {"allow_cancel": True}},
        {"type": "progress_update", "text": "Resetting…"},
        {
            "type": "thread.item.updated",
            "item_id": ids.item,
            "update": {"type": "widget.root.updated", "widget": counter_card(0)},
        },
    ]
    assert count_of(load_item(store, ids.thread, ids.item)) == 0


def test_sse_framing_is_exact(client: Any, action_body: Any) -> None:
    response = client.post("/chatkit", content=action_body("t.payload", {"by": 4}))
    assert response.content == (
        b'data: {"type":"stream_options","stream_options":{"allow_cancel":true}}\n\n'
        b'data: {"type":"progress_update","text":"by=4"}\n\n'
    )


def test_extra_action_config_keys_are_ignored(client: Any, action_body: Any) -> None:
    body = action_body(
        "counter.increment", {"by": 1}, streaming=False, handler="server", loadingBehavior="self"
    )
    body = body.replace(b'"params"', b'"metadata":{"client":"x"},"params"')
    assert b'"streaming":false' not in body
    response = client.post("/chatkit", content=body)
    assert response.status_code == 200
    assert response.json()["updated_item"]["widget"] == counter_card(1)


@pytest.mark.parametrize("payload", ["absent", None, {}])
def test_no_payload_and_defaults_over_http(
    client: Any, action_body: Any, sse_events: Any, payload: Any
) -> None:
    kwargs = {"omit_payload": True} if payload == "absent" else {"payload": payload}
    response = client.post("/chatkit", content=action_body("counter.reset", **kwargs))
    assert response.status_code == 200
    assert sse_events(response.content)[1]["type"] == "progress_update"
    response = client.post("/chatkit", content=action_body("t.payload", **kwargs))
    assert sse_events(response.content)[1] == {"type": "progress_update", "text": "by=1"}


# ------------------------------------------------------------------ refused requests (4xx before a handler runs)


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"type": "threads.custom_action",}', b"\xff"])
def test_malformed_json_is_400(client: Any, body: bytes) -> None:
    assert_error(client.post("/chatkit", content=body), 400, "request.malformed", "not valid JSON")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[]", "Expected `object`"),
        (b"{}", "missing required field `type`"),
        (b'{"type": "threads.custom_action"}', "missing required field `params`"),
        (
            b'{"type": "threads.custom_action", "params": {"thread_id": 1, "action": {"type": "x"}}}',
            "Expected `str`, got `int` - at `$.params.thread_id`",
        ),
        (
            b'{"type": "threads.custom_action", "params": {"thread_id": "t"}}',
            "missing required field `action` - at `$.params`",
        ),
        (b'{"type": "threads.nonsense", "params": {}}', "unknown request type 'threads.nonsense'"),
        (b'{"type": 42}', "invalid request"),
    ],
)
def test_invalid_envelope_is_400(client: Any, body: bytes, needle: str) -> None:
    assert_error(client.post("/chatkit", content=body), 400, "request.invalid", needle)


@pytest.mark.parametrize(
    "kind",
    [
        "threads.create",
        "threads.add_user_message",
        "threads.get_by_id",
        "threads.list",
        "items.list",
        "items.feedback",
        "attachments.create",
        "threads.update",
        "threads.delete",
        "input.transcribe",
        "threads.retry_after_item",
    ],
)
def test_other_chatkit_request_types_are_400_naming_the_type(client: Any, kind: str) -> None:
    body = msgspec.json.encode({"type": kind, "params": {"thread_id": "thr"}})
    assert_error(client.post("/chatkit", content=body), 400, "request.unsupported", repr(kind))


def test_unknown_action_is_404_with_suggestions(client: Any, action_body: Any) -> None:
    message = assert_error(
        client.post("/chatkit", content=action_body("counter.incremnt", streaming=False)),
        404,
        "action.unknown",
        "'counter.incremnt'",
        "did you mean 'counter.increment'",
    )
    assert "counter.increment" in message
    message = assert_error(
        client.post("/chatkit", content=action_body("zzz")), 404, "action.unknown", "'zzz'"
    )
    assert "did you mean" not in message


def test_sync_registered_action_sent_streaming_is_400(client: Any, action_body: Any) -> None:
    assert_error(
        client.post("/chatkit", content=action_body("counter.increment", {"by": 1})),
        400,
        "action.mode_mismatch",
        "'counter.increment'",
        "streaming=False",
        "`streaming: false` in the widget's ActionConfig",
    )


def test_streaming_action_sent_sync_is_400(client: Any, action_body: Any) -> None:
    assert_error(
        client.post("/chatkit", content=action_body("counter.reset", streaming=False)),
        400,
        "action.mode_mismatch",
        "'counter.reset'",
        "streaming=True",
        "remove `streaming: false` from the widget's ActionConfig",
    )


def test_invalid_payload_is_422_with_msgspec_path(client: Any, action_body: Any) -> None:
    assert_error(
        client.post("/chatkit", content=action_body("counter.increment", {"by": "2"}, streaming=False)),
        422,
        "payload.invalid",
        "'counter.increment'",
        "Expected `int`, got `str` - at `$.by`",
    )
    assert_error(
        client.post("/chatkit", content=action_body("t.payload", {"by": 1, "extra": True})),
        422,
        "payload.invalid",
        "unknown field `extra`",
    )
    assert_error(
        client.post("/chatkit", content=action_body("counter.reset", {"by": 1})),
        422,
        "payload.invalid",
        "takes no payload",
    )


def test_unknown_thread_is_404(client: Any, action_body: Any) -> None:
    for streaming in (True, False):
        action = "counter.reset" if streaming else "counter.increment"
        assert_error(
            client.post("/chatkit", content=action_body(action, streaming=streaming, thread_id="thr_nope")),
            404,
            "thread.not_found",
            "'thr_nope'",
        )


def test_unknown_item_is_404(client: Any, action_body: Any) -> None:
    for streaming in (True, False):
        action = "counter.reset" if streaming else "counter.increment"
        assert_error(
            client.post("/chatkit", content=action_body(action, streaming=streaming, item_id="wid_nope")),
            404,
            "item.not_found",
            "'wid_nope'",
        )


def test_item_that_is_not_a_widget_is_400(client: Any, action_body: Any, ids: Any) -> None:
    assert_error(
        client.post("/chatkit", content=action_body("counter.reset", item_id=ids.message)),
        400,
        "item.not_widget",
        repr(ids.message),
        "'assistant_message'",
    )


def test_sender_required_but_missing_is_400(client: Any, action_body: Any) -> None:
    assert_error(
        client.post("/chatkit", content=action_body("t.needs_sender", streaming=False, item_id=None)),
        400,
        "item.required",
        "'t.needs_sender'",
        "no item_id",
    )


def test_body_over_limit_with_content_length_is_413(store: MemoryStore, action_body: Any) -> None:
    body = action_body("t.payload", {"by": 1})
    with TestClient(make_app(store, max_body_size=len(body) - 1)) as small:
        response = small.post("/chatkit", content=body)
        assert_error(response, 413, "request.too_large", f"limit of {len(body) - 1} bytes")
        assert small.post("/chatkit", content=body[: len(body) - 1]).status_code == 400


def test_body_over_limit_chunked_is_413(store: MemoryStore, action_body: Any) -> None:
    body = action_body("t.payload", {"by": 1})

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    with TestClient(make_app(store, max_body_size=len(body) - 1)) as small:
        response = small.post("/chatkit", content=chunks())
        assert_error(response, 413, "request.too_large")
    with TestClient(make_app(store, max_body_size=len(body))) as exact:
        assert exact.post("/chatkit", content=chunks()).status_code == 200


def http_scope() -> dict[str, Any]:
    """An ASGI scope for ``POST /chatkit``, to drive the app without a client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/chatkit",
        "raw_path": b"/chatkit",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


@pytest.mark.anyio
async def test_body_over_limit_across_asgi_chunks_is_413(store: MemoryStore, action_body: Any) -> None:
    """Drive the ASGI app directly: no content-length, the body in several messages."""
    body = action_body("t.payload", {"by": 1})
    app = make_app(store, max_body_size=len(body) - 1)
    parts = [body[:10], body[10:20], body[20:]]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if parts:
            chunk = parts.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(parts)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(http_scope(), receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 413
    assert msgspec.json.decode(messages[1]["body"])["code"] == "request.too_large"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(client: Any, method: str) -> None:
    response = client.request(method, "/chatkit")
    assert_error(response, 405, "request.method", "POST")
    assert response.headers["allow"] == "POST"


# ------------------------------------------------------------------ handler failures


def test_sync_handler_exception_is_500_json_and_logged(
    client: Any, action_body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chatkit_handlers"):
        response = client.post("/chatkit", content=action_body("t.sync_boom", streaming=False))
    message = assert_error(response, 500, "handler.error", "'t.sync_boom'")
    assert "secret" not in response.text
    assert "secret" not in message
    records = [r for r in caplog.records if r.name == "chatkit_handlers"]
    assert len(records) == 1
    assert "t.sync_boom" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "secret database password" in str(records[0].exc_info[1])


def test_sync_action_error_keeps_its_status(client: Any, action_body: Any) -> None:
    response = client.post("/chatkit", content=action_body("t.sync_refused", streaming=False))
    assert assert_error(response, 409, "custom") == "That is not allowed"
    assert response.json()["allow_retry"] is False


def test_stream_handler_exception_is_an_error_event_and_logged(
    client: Any, action_body: Any, sse_events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chatkit_handlers"):
        response = client.post("/chatkit", content=action_body("t.boom"))
    assert response.status_code == 200
    events = sse_events(response.content)
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    records = [r for r in caplog.records if r.name == "chatkit_handlers"]
    assert len(records) == 1
    assert "t.boom" in records[0].getMessage()
    assert records[0].exc_info is not None


def test_stream_action_error_is_a_custom_error_event(client: Any, action_body: Any, sse_events: Any) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.refused")).content)
    assert events[1] == {"type": "progress_update", "text": "Checking"}
    assert events[-1] == {"type": "error", "code": "custom", "message": "Out of stock", "allow_retry": True}


def test_stream_yielding_a_non_event_is_a_stream_error(
    client: Any, action_body: Any, sse_events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chatkit_handlers"):
        events = sse_events(client.post("/chatkit", content=action_body("t.bad_yield")).content)
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert "yielded str" in caplog.text


# ------------------------------------------------------------------ persistence


def test_stream_persists_what_its_events_imply(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    response = client.post("/chatkit", content=action_body("t.everything"))
    events = sse_events(response.content)
    assert [e["type"] for e in events] == [
        "stream_options",
        "progress_update",
        "thread.item.updated",
        "thread.item.done",
        "thread.item.done",
        "client_effect",
        "notice",
    ]
    # widget.root.updated saved on the sender at the end of the stream.
    assert count_of(load_item(store, ids.thread, ids.item)) == 5
    # thread.item.done items added, in order, after the seeded ones; hidden context stored too.
    items = thread_items(store, ids.thread)
    assert [i.id for i in items[:2]] == [ids.item, ids.message]
    added_widget, added_message, hidden = items[2:]
    assert isinstance(added_widget, WidgetItem)
    assert added_widget.id == events[3]["item"]["id"]
    assert added_widget.widget == counter_card(1)
    assert added_widget.copy_text == "one"
    assert added_message.id == events[4]["item"]["id"]
    assert isinstance(hidden, HiddenContextItem)
    assert hidden.content == "the user did everything"
    # ...and never sent.
    assert b"hidden_context" not in response.content
    assert b"the user did everything" not in response.content


def test_component_update_is_saved(client: Any, action_body: Any, store: MemoryStore, ids: Any) -> None:
    client.post("/chatkit", content=action_body("t.component"))
    assert count_of(load_item(store, ids.thread, ids.item)) == 7
    stored = load_item(store, ids.thread, ids.item)
    assert isinstance(stored, WidgetItem)
    assert stored.widget["children"][1] == counter_card(0)["children"][1]


def test_removed_item_is_deleted(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.remove", ids.message)).content)
    assert events[1] == {"type": "thread.item.removed", "item_id": ids.message}
    assert [i.id for i in thread_items(store, ids.thread)] == [ids.item]


def test_replaced_item_is_saved(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.replace")).content)
    assert events[1]["type"] == "thread.item.replaced"
    assert events[1]["item"]["widget"] == counter_card(42)
    assert count_of(load_item(store, ids.thread, ids.item)) == 42
    assert [i.id for i in thread_items(store, ids.thread)] == [ids.item, ids.message]


def test_update_after_remove_does_not_bring_the_item_back(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.remove_then_update")).content)
    assert [e["type"] for e in events] == ["stream_options", "thread.item.removed", "thread.item.updated"]
    assert [i.id for i in thread_items(store, ids.thread)] == [ids.message]


@pytest.mark.parametrize(("action", "title"), [("t.title", "Renamed"), ("t.title_at_end", "Renamed late")])
def test_title_change_persists_and_emits_thread_updated(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any, action: str, title: str
) -> None:
    response = client.post("/chatkit", content=action_body(action))
    assert b"private-owner" not in response.content
    events = sse_events(response.content)
    updated = [e for e in events if e["type"] == "thread.updated"]
    assert len(updated) == 1
    thread = updated[0]["thread"]
    assert thread["id"] == ids.thread
    assert thread["title"] == title
    assert thread["items"] == {"data": [], "has_more": False}
    assert thread["metadata"] == {}  # as chatkit sends it: the thread's own metadata stays private
    stored = load_thread(store, ids.thread)
    assert stored.title == title
    assert stored.metadata == {"owner": "private-owner"}


def test_sync_title_change_persists(client: Any, action_body: Any, store: MemoryStore, ids: Any) -> None:
    assert client.post("/chatkit", content=action_body("t.sync_title", streaming=False)).content == b"{}"
    assert load_thread(store, ids.thread).title == "Renamed in sync"


def test_nothing_is_persisted_when_the_handler_raises(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.boom")).content)
    # The events before the failure were sent...
    assert [e["type"] for e in events] == [
        "stream_options",
        "thread.item.updated",
        "thread.updated",
        "thread.item.done",
        "thread.item.removed",
        "error",
    ]
    # ...but the store is as it was.
    assert count_of(load_item(store, ids.thread, ids.item)) == 0
    assert [i.id for i in thread_items(store, ids.thread)] == [ids.item, ids.message]
    assert load_thread(store, ids.thread).title == "Test thread"


def test_sync_handler_exception_persists_nothing(
    client: Any, action_body: Any, store: MemoryStore, ids: Any
) -> None:
    client.post("/chatkit", content=action_body("t.sync_boom", streaming=False))
    assert count_of(load_item(store, ids.thread, ids.item)) == 0


@pytest.mark.anyio
async def test_client_disconnect_cancels_the_handler_and_persists_nothing(
    store: MemoryStore, action_body: Any, ids: Any
) -> None:
    app = make_app(store)
    body = action_body("t.hang")
    started = anyio.Event()
    messages: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await started.wait()  # the client goes away once the handler is mid-stream
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if b"thread.item.updated" in message.get("body", b""):
            started.set()

    with anyio.fail_after(10):  # a hang guard, not a timing assertion
        await app(http_scope(), receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 200
    assert SEEN["hang_finally"] is True
    assert b"never" not in b"".join(m.get("body", b"") for m in messages)
    assert count_of(await store.load_item(ids.thread, ids.item, context=None)) == 0


# ------------------------------------------------------------------ execution and context


def test_plain_def_sync_handler_runs_in_a_worker_thread(
    store: MemoryStore, action_body: Any, ids: Any
) -> None:
    async def loop_thread(request: Request[Any, Any, Any]) -> str:
        SEEN["loop_thread"] = threading.get_ident()
        return "ctx"

    with TestClient(make_app(store, context=loop_thread)) as client:
        response = client.post("/chatkit", content=action_body("t.plain", {"by": 3}, streaming=False))
    assert response.status_code == 200
    assert response.json()["updated_item"]["widget"] == counter_card(3)
    assert SEEN["plain_loop"] is None  # no event loop in the handler's thread
    assert SEEN["plain_thread"] != SEEN["loop_thread"]
    assert count_of(load_item(store, ids.thread, ids.item)) == 3


def test_sync_context_callable_reaches_handlers(
    store: MemoryStore, action_body: Any, sse_events: Any
) -> None:
    def user_of(request: Request[Any, Any, Any]) -> str:
        return request.headers.get("x-user", "anonymous")

    with TestClient(make_app(store, context=user_of)) as client:
        headers = {"x-user": "ann"}
        client.post("/chatkit", content=action_body("t.sync_context", streaming=False), headers=headers)
        events = sse_events(
            client.post("/chatkit", content=action_body("t.stream_context"), headers=headers).content
        )
    assert SEEN["sync_context"] == ("ann", "ann")
    assert SEEN["stream_context"] == "ann"
    assert events[1] == {"type": "notice", "level": "info", "message": "hello ann"}


def test_async_context_callable_reaches_handlers(store: MemoryStore, action_body: Any) -> None:
    async def user_of(request: Request[Any, Any, Any]) -> dict[str, str]:
        await anyio.lowlevel.checkpoint()
        return {"user": request.headers.get("x-user", "anonymous")}

    with TestClient(make_app(store, context=user_of)) as client:
        client.post(
            "/chatkit", content=action_body("t.sync_context", streaming=False), headers={"x-user": "bob"}
        )
        client.post("/chatkit", content=action_body("t.stream_context"))
    assert SEEN["sync_context"] == ({"user": "bob"}, {"user": "bob"})
    assert SEEN["stream_context"] == {"user": "anonymous"}


def test_context_is_none_without_a_callable(client: Any, action_body: Any) -> None:
    client.post("/chatkit", content=action_body("t.sync_context", streaming=False))
    assert SEEN["sync_context"] == (None, None)


def test_actions_without_item_id(
    client: Any, action_body: Any, sse_events: Any, store: MemoryStore, ids: Any
) -> None:
    events = sse_events(client.post("/chatkit", content=action_body("t.no_item", item_id=None)).content)
    assert SEEN["no_item_sender"] is None
    assert events[1]["type"] == "thread.item.done"
    assert len(thread_items(store, ids.thread)) == 3

    body = action_body("t.no_item_sync", streaming=False, item_id=None).replace(
        b'"thread_id"', b'"item_id":null,"thread_id"'
    )
    response = client.post("/chatkit", content=body)
    assert response.status_code == 200
    assert response.content == b"{}"
    assert SEEN["no_item_sync_sender"] is None


def test_sync_widget_root_without_sender_is_a_handler_error(client: Any, action_body: Any) -> None:
    # counter.increment asks for its sender: refused before it runs; t.sync_context returns a
    # root with nothing to update.
    response = client.post(
        "/chatkit", content=action_body("counter.increment", streaming=False, item_id=None)
    )
    assert "needs the widget that sent it" in assert_error(response, 400, "item.required")
    response = client.post("/chatkit", content=action_body("t.sync_context", streaming=False, item_id=None))
    assert_error(response, 500, "handler.error")


# ------------------------------------------------------------------ the same path without Litestar


@pytest.mark.anyio
async def test_dispatcher_core_answers_bytes(store: MemoryStore, action_body: Any, sse_events: Any) -> None:
    dispatcher = Dispatcher(make_router(), store, max_body_size=2000)
    result = await dispatcher.dispatch(action_body("counter.increment", {"by": 1}, streaming=False), "ctx")
    assert (result.status_code, result.media_type, result.stream) == (200, "application/json", None)
    assert msgspec.json.decode(result.body)["updated_item"]["widget"] == counter_card(1)

    result = await dispatcher.dispatch(action_body("t.stream_context"), "ctx")
    assert (result.status_code, result.media_type, result.body) == (200, "text/event-stream", None)
    assert result.stream is not None
    events = sse_events(b"".join([chunk async for chunk in result.stream]))
    assert events[1] == {"type": "notice", "level": "info", "message": "hello ctx"}

    result = await dispatcher.dispatch(b" " * 2001)
    assert result.status_code == 413
    assert result.body is not None
    assert msgspec.json.decode(result.body)["code"] == "request.too_large"


# ------------------------------------------------------------------ the counter example app, as shipped


def test_counter_example_app(action_body: Any, sse_events: Any) -> None:
    from examples.counter.app import DEMO_ITEM, DEMO_THREAD, app

    def body(action_type: str, payload: Any, streaming: bool) -> bytes:
        return bytes(
            action_body(action_type, payload, streaming=streaming, thread_id=DEMO_THREAD, item_id=DEMO_ITEM)
        )

    with TestClient(app) as client:  # its startup hook seeds the demo thread
        first = client.post("/chatkit", content=body("counter.increment", {"by": 2}, False)).json()
        second = client.post("/chatkit", content=body("counter.increment", {"by": 5}, False)).json()
        assert first["updated_item"]["widget"] == counter_card(2)
        assert second["updated_item"]["widget"] == counter_card(7)
        events = sse_events(client.post("/chatkit", content=body("counter.reset", None, True)).content)
        assert [e["type"] for e in events] == ["stream_options", "progress_update", "thread.item.updated"]
        third = client.post("/chatkit", content=body("counter.increment", None, False)).json()
        assert third["updated_item"]["widget"] == counter_card(1)

"""What the conformance suite runs: handlers covering every event an action can produce,
a ChatKitServer using them through ``RoutedActions``, the Litestar app in one-endpoint
mode, request builders from openai-chatkit's own types, and strict response checks.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from chatkit import types as ck
from chatkit.actions import Action as ChatKitAction
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import TypeAdapter

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.bridge import RoutedActions
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.types import WidgetItem, new_id
from examples.bridge.store import MemoryChatKitStore

THREAD = "thr_conf"
ITEM = "wid_conf"
CONTEXT = "user-1"
"""The per-request context both modes hand to handlers (and to ``respond()``)."""

ABSENT: Any = object()


def card(n: int) -> dict[str, Any]:
    """A counter card with a sync +1 button."""
    return {
        "type": "Card",
        "children": [
            {"type": "Text", "id": "count", "value": str(n)},
            {
                "type": "Button",
                "label": "+1",
                "onClickAction": {"type": "conf.bump", "payload": {"by": 1}, "streaming": False},
            },
        ],
    }


def count_of(widget: dict[str, Any]) -> int:
    return int(widget["children"][0]["value"])


TEMPLATE = WidgetTemplate(
    {
        "version": "1.0",
        "name": "counter",
        "template": '{"type": "Card", "children": [{"type": "Text", "id": "count", "value": "{{ n }}"}]}',
    }
)


class Bump(msgspec.Struct, forbid_unknown_fields=True):
    by: int = 1


# ------------------------------------------------------------------ sync handlers


@on_action("conf.bump", streaming=False)
async def bump(payload: Bump, sender: WidgetItem) -> dict[str, Any]:
    return card(count_of(sender.widget) + payload.by)


@on_action("conf.bump_template", streaming=False)
async def bump_template(payload: Bump, sender: WidgetItem) -> DynamicWidgetRoot:
    return TEMPLATE.build({"n": count_of(sender.widget) + payload.by})


@on_action("conf.bump_named", streaming=False)
async def bump_named(payload: Bump, sender: WidgetItem) -> Any:
    from chatkit.widgets import Card, Text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Card(children=[Text(id="count", value=str(count_of(sender.widget) + payload.by))])


@on_action("conf.bump_response", streaming=False)
async def bump_response(sender: WidgetItem) -> ck.SyncCustomActionResponse:
    widget = DynamicWidgetRoot.model_validate(card(count_of(sender.widget) + 1))
    item = ck.WidgetItem(
        id=sender.id, thread_id=sender.thread_id, created_at=sender.created_at, widget=widget
    )
    return ck.SyncCustomActionResponse(updated_item=item)


@on_action("conf.noop", streaming=False)
async def noop() -> None:
    return None


@on_action("conf.rename", streaming=False)
async def rename(ctx: ActionContext) -> None:
    ctx.thread.title = "Renamed"


@on_action("conf.sync_fail", streaming=False)
async def sync_fail() -> None:
    raise ActionError("Not now", status_code=409)


# ------------------------------------------------------------------ streaming handlers


async def growing_card() -> AsyncIterator[dict[str, Any]]:
    text = {"type": "Markdown", "id": "md", "value": "Hel", "streaming": True}
    root = {"type": "Card", "children": [text]}
    yield root
    text["value"] = "Hello"  # the same dict, changed in place: stream_widget copies each root
    yield root
    text["value"] = "Hello, world"
    yield root
    yield {"type": "Card", "children": [{**text, "streaming": False}, {"type": "Divider"}]}


@on_action("conf.everything")
async def everything(ctx: ActionContext, sender: WidgetItem) -> AsyncIterator[Any]:
    """One of every event an action can produce, built every supported way."""
    assert ctx.context == CONTEXT
    yield ctx.progress("Working", icon="sparkle")
    yield ctx.notice("Heads up", level="warning", title="Note")
    yield ctx.client_effect("confetti", {"n": 3})
    yield ctx.update_widget(card(10))
    yield ctx.update_component("count", {"type": "Text", "id": "count", "value": "11"})
    async for event in ctx.stream_widget(growing_card(), copy_text="Hello, world"):
        yield event
    added = ctx.add_widget(card(0))
    yield added
    yield ctx.replace_item(msgspec.structs.replace(added.item, widget=card(5)))
    message = ctx.message("temporary")
    yield message
    yield ctx.remove_item(message.item.id)
    yield ctx.hidden_context({"seen": True})
    ctx.thread.title = "Everything"
    yield {"type": "progress_update", "text": "a dict event"}
    yield ck.ProgressUpdateEvent(text="a chatkit event")
    # An assistant message streamed with chatkit's own events, as stream_agent_response does.
    now = datetime.now()
    msg = ck.AssistantMessageItem(id=new_id("msg"), thread_id=ctx.thread.id, created_at=now, content=[])
    yield ck.ThreadItemAddedEvent(item=msg)
    empty = ck.AssistantMessageContent(text="")
    yield ck.ThreadItemUpdatedEvent(
        item_id=msg.id, update=ck.AssistantMessageContentPartAdded(content_index=0, content=empty)
    )
    yield ck.ThreadItemUpdatedEvent(
        item_id=msg.id, update=ck.AssistantMessageContentPartTextDelta(content_index=0, delta="See docs")
    )
    annotation = ck.Annotation(source=ck.URLSource(title="Docs", url="https://example.com/docs"), index=8)
    yield ck.ThreadItemUpdatedEvent(
        item_id=msg.id,
        update=ck.AssistantMessageContentPartAnnotationAdded(
            content_index=0, annotation_index=0, annotation=annotation
        ),
    )
    final = ck.AssistantMessageContent(text="See docs", annotations=[annotation])
    yield ck.ThreadItemUpdatedEvent(
        item_id=msg.id, update=ck.AssistantMessageContentPartDone(content_index=0, content=final)
    )
    yield ck.ThreadItemDoneEvent(item=msg.model_copy(update={"content": [final]}))
    # A workflow and a generated image, as dicts and chatkit models.
    workflow = ck.WorkflowItem(
        id=new_id("wf"),
        thread_id=ctx.thread.id,
        created_at=now,
        workflow=ck.Workflow(type="custom", tasks=[]),
    )
    yield ck.ThreadItemAddedEvent(item=workflow)
    task = ck.CustomTask(title="Step 1", status_indicator="loading")
    yield ck.ThreadItemUpdatedEvent(item_id=workflow.id, update=ck.WorkflowTaskAdded(task_index=0, task=task))
    done_task = {"type": "custom", "title": "Step 1", "status_indicator": "complete"}
    yield {
        "type": "thread.item.updated",
        "item_id": workflow.id,
        "update": {"type": "workflow.task.updated", "task_index": 0, "task": done_task},
    }
    yield ck.ThreadItemDoneEvent(
        item=workflow.model_copy(
            update={"workflow": ck.Workflow(type="custom", tasks=[ck.CustomTask(**done_task)])}
        )
    )
    image = ck.GeneratedImageItem(id=new_id("img"), thread_id=ctx.thread.id, created_at=now)
    yield ck.ThreadItemAddedEvent(item=image)
    picture = ck.GeneratedImage(id="img_1", url="https://example.com/cat.png")
    yield ck.ThreadItemUpdatedEvent(
        item_id=image.id, update=ck.GeneratedImageUpdated(image=picture, progress=0.5)
    )
    yield ck.ThreadItemDoneEvent(item=image.model_copy(update={"image": picture}))


@on_action("conf.fail")
async def fail(ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.progress("Checking stock")
    raise ActionError("Out of stock", allow_retry=True)


@on_action("conf.crash")
async def crash(ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.progress("About to fail")
    raise RuntimeError("boom")


@on_action("conf.fail_after_writes")
async def fail_after_writes(ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.update_widget(card(99))
    yield ctx.add_widget(card(1))
    ctx.thread.title = "Half done"
    raise ActionError("Stopped halfway")


@on_action("conf.hidden")
async def hidden(ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.hidden_context("for the model only")


@on_action("conf.announce")
async def announce(ctx: ActionContext) -> AsyncIterator[Any]:
    """Sent with ``chatkit.sendCustomAction(action)``: no item, so no sender."""
    assert ctx.sender is None
    yield ctx.add_widget(card(0), copy_text="0")


@on_action("conf.defaults")
async def defaults(payload: Bump, ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.notice(f"by={payload.by}")


@on_action("conf.no_payload")
async def no_payload(ctx: ActionContext) -> AsyncIterator[Any]:
    yield ctx.notice("no payload")


router = ActionRouter()
router.include(sys.modules[__name__])


# ------------------------------------------------------------------ the ChatKitServer


class ConformanceServer(RoutedActions, ChatKitServer[Any]):
    """Actions through the router; ``respond()`` streams an assistant message.

    ``sent`` records the exact bytes ``process()`` produced, so the one-endpoint
    mode can be checked to pass them on unchanged.
    """

    actions = router

    def __init__(self, store: MemoryChatKitStore) -> None:
        super().__init__(store)
        self.sent: list[bytes] = []

    async def respond(
        self, thread: ck.ThreadMetadata, input_user_message: ck.UserMessageItem | None, context: Any
    ) -> AsyncIterator[ck.ThreadStreamEvent]:
        assert context == CONTEXT
        msg = ck.AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[],
        )
        yield ck.ThreadItemAddedEvent(item=msg)
        for delta in ("Hello", " there"):
            update = ck.AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
            yield ck.ThreadItemUpdatedEvent(item_id=msg.id, update=update)
        content = ck.AssistantMessageContent(text="Hello there")
        yield ck.ThreadItemDoneEvent(item=msg.model_copy(update={"content": [content]}))
        yield ck.ThreadItemDoneEvent(
            item=ck.HiddenContextItem(
                id=new_id("hcx"), thread_id=thread.id, created_at=datetime.now(), content="respond() ran"
            )
        )

    async def process(
        self, request: str | bytes | bytearray, context: Any
    ) -> StreamingResult | NonStreamingResult:
        result = await super().process(request, context)
        if isinstance(result, NonStreamingResult):
            self.sent.append(result.json)
            return result
        return StreamingResult(self._record(result.json_events))

    async def _record(self, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in events:
            self.sent.append(chunk)
            yield chunk


async def seeded_store() -> MemoryChatKitStore:
    """A chatkit store holding ``THREAD`` with the counter widget ``ITEM`` at 0."""
    store = MemoryChatKitStore()
    thread = ck.ThreadMetadata(id=THREAD, created_at=datetime.now(), title="Conformance")
    await store.save_thread(thread, context=CONTEXT)
    widget = DynamicWidgetRoot.model_validate(card(0))
    item = ck.WidgetItem(id=ITEM, thread_id=THREAD, created_at=datetime.now(), widget=widget)
    await store.add_thread_item(THREAD, item, context=CONTEXT)
    return store


def make_app(server: ConformanceServer) -> Litestar:
    """The one-endpoint mode: actions on the fast path, the rest to ``server.process()``."""
    return Litestar(plugins=[ChatKitPlugin(router, server=server, context=lambda request: CONTEXT)])


# ------------------------------------------------------------------ requests, from chatkit's types


def action_request(
    action_type: str,
    payload: Any = ABSENT,
    *,
    sync: bool = False,
    thread_id: str = THREAD,
    item_id: str | None = ITEM,
) -> bytes:
    """A custom action request as ChatKit.js sends it; ``payload``/``item_id`` omitted when absent/None."""
    action = ChatKitAction[str, Any](type=action_type)
    if payload is not ABSENT:
        action = ChatKitAction[str, Any](type=action_type, payload=payload)
    params = ck.ThreadCustomActionParams(thread_id=thread_id, item_id=item_id, action=action)
    request = (
        ck.ThreadsSyncCustomActionReq(params=params) if sync else ck.ThreadsCustomActionReq(params=params)
    )
    return request.model_dump_json(exclude_none=True).encode()


def user_input(text: str) -> ck.UserMessageInput:
    return ck.UserMessageInput(
        content=[ck.UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=ck.InferenceOptions(),
    )


def encode_request(request: Any) -> bytes:
    data: bytes = request.model_dump_json(exclude_none=True).encode()
    return data


# ------------------------------------------------------------------ strict checks

_EVENT: TypeAdapter[Any] = TypeAdapter(ck.ThreadStreamEvent)
_SYNC_RESPONSE: TypeAdapter[Any] = TypeAdapter(ck.SyncCustomActionResponse)


def _validate(adapter: Any, raw: bytes) -> Any:
    with warnings.catch_warnings():
        # chatkit's named widget classes warn when a widget validates into them.
        warnings.simplefilter("ignore", DeprecationWarning)
        return adapter.validate_json(raw)


def assert_subset(ours: Any, theirs: Any, path: str = "$") -> None:
    """Everything we sent survives chatkit's parse unchanged (nothing dropped or coerced)."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), f"{path}: {theirs!r} is not an object"
        for key, value in ours.items():
            assert key in theirs, f"{path}.{key}: chatkit's models drop this key"
            assert_subset(value, theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list), f"{path}: {theirs!r} is not an array"
        assert len(ours) == len(theirs), f"{path}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_subset(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def check_model(adapter: TypeAdapter[Any], raw: bytes) -> Any:
    """Validate ``raw`` with a chatkit type; return it as JSON."""
    model = _validate(adapter, raw)
    data = msgspec.json.decode(raw)
    assert_subset(data, model.model_dump(mode="json", by_alias=True, exclude_none=True))
    return data


def check_stream(raw: bytes) -> list[dict[str, Any]]:
    """Every frame is exactly ``data: <json>\\n\\n`` and every event validates with chatkit."""
    assert raw.endswith(b"\n\n"), raw[-60:]
    events = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: "), block[:80]
        assert b"\n" not in block, block[:80]
        events.append(check_model(_EVENT, block[6:]))
    return events


def check_sync(raw: bytes) -> dict[str, Any]:
    """A ``SyncCustomActionResponse`` as chatkit parses it."""
    return check_model(_SYNC_RESPONSE, raw)


def shape(events: list[dict[str, Any]]) -> list[str]:
    """The event types, with the update type of ``thread.item.updated``: comparable across modes."""
    return [e["type"] + (f"/{e['update']['type']}" if "update" in e else "") for e in events]


# ------------------------------------------------------------------ the two modes


class HTTPMode:
    """Actions over HTTP through ``ChatKitPlugin(router, server=...)``."""

    name = "http"

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client

    async def stream(self, body: bytes) -> list[dict[str, Any]]:
        response = await self.client.post("/chatkit", content=body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return check_stream(response.content)

    async def sync(self, body: bytes) -> dict[str, Any]:
        response = await self.client.post("/chatkit", content=body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return check_sync(response.content)


class BridgeMode:
    """Actions through ``ChatKitServer.process()`` and the ``RoutedActions`` mixin."""

    name = "bridge"

    def __init__(self, server: ConformanceServer) -> None:
        self.server = server

    async def stream(self, body: bytes) -> list[dict[str, Any]]:
        result = await self.server.process(body, CONTEXT)
        assert isinstance(result, StreamingResult)
        return check_stream(b"".join([chunk async for chunk in result]))

    async def sync(self, body: bytes) -> dict[str, Any]:
        result = await self.server.process(body, CONTEXT)
        assert isinstance(result, NonStreamingResult)
        return check_sync(result.json)

"""ChatKit wire types as msgspec Structs.

Every request, item and stream event a custom action touches, shaped exactly as
openai-chatkit 1.6.5 puts it on the wire. Structs omit fields whose value is
``None`` (chatkit serializes with ``exclude_none``); fields with a non-``None``
default that chatkit always emits use a ``default_factory`` so they are always
encoded too; a lambda, since msgspec still omits an empty value made by the
builtin ``list``/``dict`` factories.

Widgets are kept as plain JSON (``dict``): the framework never needs to
understand a widget tree to route, validate or persist it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, Union

import msgspec
from typing_extensions import TypeVar

__all__ = [
    "Action",
    "ActiveStatus",
    "AssistantMessageContent",
    "AssistantMessageContentPartAdded",
    "AssistantMessageContentPartAnnotationAdded",
    "AssistantMessageContentPartDone",
    "AssistantMessageContentPartTextDelta",
    "AssistantMessageItem",
    "ClientEffectEvent",
    "ClientToolCallItem",
    "ClosedStatus",
    "CustomActionParams",
    "CustomActionRequest",
    "EndOfTurnItem",
    "ErrorEvent",
    "GeneratedImageItem",
    "GeneratedImageUpdated",
    "HiddenContextItem",
    "LockedStatus",
    "NoticeEvent",
    "Page",
    "ProgressUpdateEvent",
    "SDKHiddenContextItem",
    "StreamOptions",
    "StreamOptionsEvent",
    "StructuredInputItem",
    "SyncCustomActionRequest",
    "SyncCustomActionResponse",
    "TaskItem",
    "ThreadItem",
    "ThreadItemAddedEvent",
    "ThreadItemDoneEvent",
    "ThreadItemRemovedEvent",
    "ThreadItemReplacedEvent",
    "ThreadItemUpdate",
    "ThreadItemUpdatedEvent",
    "ThreadMetadata",
    "ThreadResponse",
    "ThreadStatus",
    "ThreadStreamEvent",
    "ThreadUpdatedEvent",
    "UserMessageItem",
    "WidgetComponentUpdated",
    "WidgetItem",
    "WidgetRoot",
    "WidgetRootUpdated",
    "WidgetStreamingTextValueDelta",
    "WidgetUpdate",
    "WorkflowItem",
    "WorkflowTaskAdded",
    "WorkflowTaskUpdated",
    "new_id",
    "now",
]

WidgetRoot = dict[str, Any]
"""A widget tree as plain JSON: ``{"type": "Card", "children": [...]}``."""


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``"wid_1f0c2a9e4b7d4c21"`` (chatkit-style prefix + hex)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def now() -> datetime:
    """The current time, timezone-aware (UTC), as items and threads record it."""
    return datetime.now(UTC)


class _Wire(msgspec.Struct, omit_defaults=True):
    """Base for wire structs: ``None``-valued optional fields are omitted."""


# --------------------------------------------------------------------------- requests


class Action(_Wire, kw_only=True):
    """``{"type": ..., "payload": ...}`` as a widget's ActionConfig sends it.

    The payload is kept undecoded (``msgspec.Raw``) so that the route's own typed
    decoder validates it in a single pass. Extra ActionConfig keys a client adds
    (``handler``, ``loadingBehavior``, ``streaming``) are ignored.
    """

    type: str
    payload: msgspec.Raw = msgspec.Raw(b"null")


class CustomActionParams(_Wire, kw_only=True):
    """``params`` of both action requests."""

    thread_id: str
    action: Action
    item_id: str | None = None


class CustomActionRequest(_Wire, kw_only=True, tag="threads.custom_action", tag_field="type"):
    """``threads.custom_action``: answered with a Server-Sent Events stream."""

    streaming: ClassVar[bool] = True
    """Which mode the request asks for (a class attribute, not on the wire)."""

    params: CustomActionParams
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class SyncCustomActionRequest(_Wire, kw_only=True, tag="threads.sync_custom_action", tag_field="type"):
    """``threads.sync_custom_action``: answered with one JSON ``SyncCustomActionResponse``."""

    streaming: ClassVar[bool] = False
    """Which mode the request asks for (a class attribute, not on the wire)."""

    params: CustomActionParams
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


# --------------------------------------------------------------------------- threads


class ActiveStatus(_Wire, tag="active", tag_field="type"):
    """The thread accepts input."""


class LockedStatus(_Wire, tag="locked", tag_field="type"):
    """The thread is locked; ``reason`` is shown to the user."""

    reason: str | None = None


class ClosedStatus(_Wire, tag="closed", tag_field="type"):
    """The thread is closed; ``reason`` is shown to the user."""

    reason: str | None = None


ThreadStatus = Union[ActiveStatus, LockedStatus, ClosedStatus]


class ThreadMetadata(_Wire, kw_only=True):
    """A thread without its items. ``{"id", "created_at"}`` is a valid thread.

    Handlers may change ``title`` (or ``status``/``metadata``): the dispatcher
    persists the thread and emits ``thread.updated``, as chatkit does.
    """

    id: str
    created_at: datetime = msgspec.field(default_factory=now)
    title: str | None = None
    status: ThreadStatus = msgspec.field(default_factory=ActiveStatus)
    allowed_image_domains: list[str] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


# --------------------------------------------------------------------------- items


class WidgetItem(_Wire, kw_only=True, tag="widget", tag_field="type"):
    """A widget in a thread; ``widget`` is the root as plain JSON."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    widget: WidgetRoot
    copy_text: str | None = None


class AssistantMessageContent(_Wire, kw_only=True):
    """One ``output_text`` part of an assistant message."""

    text: str
    type: Literal["output_text"] = msgspec.field(default_factory=lambda: "output_text")
    annotations: list[dict[str, Any]] = msgspec.field(default_factory=lambda: [])


class AssistantMessageItem(_Wire, kw_only=True, tag="assistant_message", tag_field="type"):
    """An assistant message (what ``ctx.message(text)`` adds)."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    content: list[AssistantMessageContent]


class UserMessageItem(_Wire, kw_only=True, tag="user_message", tag_field="type"):
    """A user message; content parts are kept as plain JSON."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    content: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=lambda: [])
    quoted_text: str | None = None
    inference_options: dict[str, Any] = msgspec.field(default_factory=lambda: {})


class HiddenContextItem(_Wire, kw_only=True, tag="hidden_context_item", tag_field="type"):
    """Context the model sees on its next turn; stored, never sent to the client."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    content: Any


class SDKHiddenContextItem(_Wire, kw_only=True, tag="sdk_hidden_context", tag_field="type"):
    """chatkit's own hidden context (e.g. a stream-cancelled note); never sent."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    content: str


class EndOfTurnItem(_Wire, kw_only=True, tag="end_of_turn", tag_field="type"):
    """Marks the end of an assistant turn."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)


class ClientToolCallItem(_Wire, kw_only=True, tag="client_tool_call", tag_field="type"):
    """A call of a client-side tool; ``output`` is filled in when the client answers."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    status: Literal["pending", "completed"] = msgspec.field(default_factory=lambda: "pending")
    call_id: str
    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=lambda: {})
    output: Any = None


class GeneratedImageItem(_Wire, kw_only=True, tag="generated_image", tag_field="type"):
    """A generated image (``image`` is ``{"id", "url"}`` once available)."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    image: dict[str, Any] | None = None


class StructuredInputItem(_Wire, kw_only=True, tag="structured_input", tag_field="type"):
    """Questions for the user; ``inputs`` kept as plain JSON."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    status: Literal["pending", "answered", "skipped"] = msgspec.field(default_factory=lambda: "pending")
    inputs: list[dict[str, Any]]


class WorkflowItem(_Wire, kw_only=True, tag="workflow", tag_field="type"):
    """A workflow (reasoning or custom tasks); ``workflow`` kept as plain JSON."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    workflow: dict[str, Any]


class TaskItem(_Wire, kw_only=True, tag="task", tag_field="type"):
    """A single task; ``task`` kept as plain JSON."""

    id: str
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    task: dict[str, Any]


ThreadItem = Union[
    WidgetItem,
    AssistantMessageItem,
    UserMessageItem,
    HiddenContextItem,
    SDKHiddenContextItem,
    EndOfTurnItem,
    ClientToolCallItem,
    GeneratedImageItem,
    StructuredInputItem,
    WorkflowItem,
    TaskItem,
]
"""Every chatkit thread item (tagged by ``type``); parts the framework never reads stay plain JSON."""

HIDDEN_ITEM_TYPES = (HiddenContextItem, SDKHiddenContextItem)


PageData = TypeVar("PageData", default=ThreadItem)
"""What a ``Page`` holds: thread items unless said otherwise (``Page[ThreadMetadata]``)."""


class Page(_Wire, Generic[PageData], kw_only=True):
    """A page of records: a thread's items (as ``Thread.items`` carries them), or threads.

    ``Page`` alone is a page of items; ``Page[ThreadMetadata]`` is what
    ``Store.load_threads`` returns, as chatkit's ``Page`` is generic too.
    """

    data: list[PageData] = msgspec.field(default_factory=lambda: [])
    has_more: bool = msgspec.field(default_factory=lambda: False)
    after: str | None = None


class ThreadResponse(_Wire, kw_only=True):
    """A thread as sent to the client (``Thread``): the thread's metadata is never sent."""

    id: str
    created_at: datetime
    title: str | None = None
    status: ThreadStatus = msgspec.field(default_factory=ActiveStatus)
    allowed_image_domains: list[str] | None = None
    # chatkit builds its response Thread without copying the metadata, so it sends {}.
    metadata: dict[str, Any] = msgspec.field(default_factory=lambda: {})
    items: Page[ThreadItem] = msgspec.field(default_factory=Page)

    @classmethod
    def of(cls, thread: ThreadMetadata) -> ThreadResponse:
        """The client-facing view of ``thread`` (chatkit empties ``metadata``)."""
        return cls(
            id=thread.id,
            created_at=thread.created_at,
            title=thread.title,
            status=thread.status,
            allowed_image_domains=thread.allowed_image_domains,
        )


# --------------------------------------------------------------------------- item updates


class WidgetRootUpdated(_Wire, tag="widget.root.updated", tag_field="type"):
    """The whole widget root was replaced."""

    widget: WidgetRoot


class WidgetComponentUpdated(_Wire, tag="widget.component.updated", tag_field="type"):
    """One component (by ``id``) of the widget was replaced."""

    component_id: str
    component: dict[str, Any]


class WidgetStreamingTextValueDelta(_Wire, tag="widget.streaming_text.value_delta", tag_field="type"):
    """Text appended to a ``Text``/``Markdown`` component's ``value``."""

    component_id: str
    delta: str
    done: bool


class AssistantMessageContentPartAdded(_Wire, tag="assistant_message.content_part.added", tag_field="type"):
    """A content part was added to a streaming assistant message."""

    content_index: int
    content: AssistantMessageContent


class AssistantMessageContentPartTextDelta(
    _Wire, tag="assistant_message.content_part.text_delta", tag_field="type"
):
    """Text appended to a content part of a streaming assistant message."""

    content_index: int
    delta: str


class AssistantMessageContentPartAnnotationAdded(
    _Wire, tag="assistant_message.content_part.annotation_added", tag_field="type"
):
    """An annotation (a source reference, plain JSON) added to a content part."""

    content_index: int
    annotation_index: int
    annotation: dict[str, Any]


class AssistantMessageContentPartDone(_Wire, tag="assistant_message.content_part.done", tag_field="type"):
    """A content part of an assistant message is final."""

    content_index: int
    content: AssistantMessageContent


class WorkflowTaskAdded(_Wire, tag="workflow.task.added", tag_field="type"):
    """A task (plain JSON) was appended to a workflow item."""

    task_index: int
    task: dict[str, Any]


class WorkflowTaskUpdated(_Wire, tag="workflow.task.updated", tag_field="type"):
    """A task (plain JSON) of a workflow item was replaced."""

    task_index: int
    task: dict[str, Any]


class GeneratedImageUpdated(_Wire, tag="generated_image.updated", tag_field="type"):
    """A generated image (``{"id", "url"}``) changed, with optional progress."""

    image: dict[str, Any]
    progress: float | None = None


ThreadItemUpdate = Union[
    WidgetRootUpdated,
    WidgetComponentUpdated,
    WidgetStreamingTextValueDelta,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartTextDelta,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
    GeneratedImageUpdated,
]
"""Every chatkit item update; only the three widget updates change what the store holds."""

WidgetUpdate = Union[WidgetRootUpdated, WidgetComponentUpdated, WidgetStreamingTextValueDelta]
"""The updates that change a stored widget (the dispatcher applies and saves them)."""

WIDGET_UPDATE_TYPES = (WidgetRootUpdated, WidgetComponentUpdated, WidgetStreamingTextValueDelta)


# --------------------------------------------------------------------------- stream events


class StreamOptions(_Wire):
    """Stream-level options; the first event of every action stream carries them."""

    allow_cancel: bool


class StreamOptionsEvent(_Wire, tag="stream_options", tag_field="type"):
    """``{"type": "stream_options", "stream_options": {"allow_cancel": true}}``."""

    stream_options: StreamOptions


class ThreadUpdatedEvent(_Wire, tag="thread.updated", tag_field="type"):
    """The thread's metadata (e.g. its title) changed."""

    thread: ThreadResponse


class ThreadItemAddedEvent(_Wire, tag="thread.item.added", tag_field="type"):
    """An item started streaming; not persisted until its ``thread.item.done``."""

    item: ThreadItem


class ThreadItemUpdatedEvent(_Wire, tag="thread.item.updated", tag_field="type"):
    """An item changed; widget root updates of stored items are persisted."""

    item_id: str
    update: ThreadItemUpdate


class ThreadItemDoneEvent(_Wire, tag="thread.item.done", tag_field="type"):
    """An item is complete: persisted (hidden context items are stored, never sent)."""

    item: ThreadItem


class ThreadItemRemovedEvent(_Wire, tag="thread.item.removed", tag_field="type"):
    """An item was removed: deleted from the store."""

    item_id: str


class ThreadItemReplacedEvent(_Wire, tag="thread.item.replaced", tag_field="type"):
    """An item was replaced whole: saved to the store."""

    item: ThreadItem


class ProgressUpdateEvent(_Wire, tag="progress_update", tag_field="type"):
    """A transient progress line (``icon`` is a chatkit icon name)."""

    text: str
    icon: str | None = None


class ClientEffectEvent(_Wire, tag="client_effect", tag_field="type"):
    """Asks the client to run its ``onEffect`` handler with ``name`` and ``data``."""

    name: str
    data: dict[str, Any] = msgspec.field(default_factory=lambda: {})


class NoticeEvent(_Wire, tag="notice", tag_field="type"):
    """A user-facing notice (``message`` supports markdown)."""

    level: Literal["info", "warning", "danger"]
    message: str
    title: str | None = None


class ErrorEvent(_Wire, kw_only=True, tag="error", tag_field="type"):
    """An error shown in the thread. Also the body of every 4xx/5xx JSON answer."""

    code: str = msgspec.field(default_factory=lambda: "custom")
    message: str | None = None
    allow_retry: bool = msgspec.field(default_factory=lambda: False)


ThreadStreamEvent = Union[
    StreamOptionsEvent,
    ThreadUpdatedEvent,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ProgressUpdateEvent,
    ClientEffectEvent,
    NoticeEvent,
    ErrorEvent,
]
"""Every event an action stream may carry."""

EVENT_TYPES: tuple[type[msgspec.Struct], ...] = (
    StreamOptionsEvent,
    ThreadUpdatedEvent,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ProgressUpdateEvent,
    ClientEffectEvent,
    NoticeEvent,
    ErrorEvent,
)


class SyncCustomActionResponse(_Wire, kw_only=True):
    """The answer to ``threads.sync_custom_action``: ``{"updated_item": ...}`` or ``{}``."""

    updated_item: ThreadItem | None = None

"""Our msgspec wire Structs ⇄ openai-chatkit's pydantic models.

Used by the ChatKitServer bridge and the chatkit store adapter, and only
there: this module imports pydantic and chatkit, which stay optional for
everyone else (the ``chatkit`` extra).

Widgets cross into chatkit as ``DynamicWidgetRoot``/``DynamicWidgetComponent``
(what ``WidgetTemplate.build`` returns), never as the named widget classes:
those drop properties they do not model and warn on every use, while the
dynamic models keep the JSON exactly as it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from chatkit import types as ck
from chatkit.widgets import DynamicWidgetComponent, DynamicWidgetRoot
from pydantic import TypeAdapter

from ..types import (
    ErrorEvent,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRoot,
    WidgetRootUpdated,
)
from .encode import client_error

__all__ = [
    "chatkit_time",
    "event_to_chatkit",
    "item_to_chatkit",
    "thread_from_chatkit",
    "thread_to_chatkit",
    "widget_to_chatkit",
]

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_event_adapter: TypeAdapter[Any] = TypeAdapter(ck.ThreadStreamEvent)
_item_adapter: TypeAdapter[Any] = TypeAdapter(ck.ThreadItem)

_ITEM_EVENTS: dict[type[msgspec.Struct], Any] = {
    ThreadItemAddedEvent: ck.ThreadItemAddedEvent,
    ThreadItemDoneEvent: ck.ThreadItemDoneEvent,
    ThreadItemReplacedEvent: ck.ThreadItemReplacedEvent,
}


def thread_from_chatkit(thread: ck.ThreadMetadata) -> ThreadMetadata:
    """Our ``ThreadMetadata`` from chatkit's (a chatkit ``Thread``'s items are ignored)."""
    return _decode_thread(thread.model_dump_json(by_alias=True, exclude_none=True))


def thread_to_chatkit(thread: ThreadMetadata) -> ck.ThreadMetadata:
    """chatkit's ``ThreadMetadata`` from ours (its time as chatkit makes times: ``chatkit_time``)."""
    converted = ck.ThreadMetadata.model_validate_json(_encode(thread))
    converted.created_at = chatkit_time(thread.created_at)
    return converted


def chatkit_time(moment: datetime) -> datetime:
    """``moment`` as chatkit's server makes times (``datetime.now()``): naive, local.

    Times chatkit-handlers makes are aware (UTC). A chatkit store keeping both
    kinds cannot order them (comparing naive and aware times raises), and the
    stores of ChatKit apps order items and threads by ``created_at``: every
    time crossing into chatkit is made naive, as its own are.
    """
    return moment if moment.tzinfo is None else moment.astimezone().replace(tzinfo=None)


def widget_to_chatkit(root: WidgetRoot) -> DynamicWidgetRoot:
    """A chatkit widget root holding exactly the JSON of ``root``."""
    return DynamicWidgetRoot.model_validate(root)


def item_to_chatkit(item: ThreadItem) -> Any:
    """The chatkit (pydantic) item for an item Struct (its time as chatkit makes times)."""
    if isinstance(item, WidgetItem):
        return ck.WidgetItem(
            id=item.id,
            thread_id=item.thread_id,
            created_at=chatkit_time(item.created_at),
            widget=widget_to_chatkit(item.widget),
            copy_text=item.copy_text,
        )
    converted = _item_adapter.validate_json(_encode(item))
    converted.created_at = chatkit_time(item.created_at)
    return converted


def event_to_chatkit(event: ThreadStreamEvent) -> Any:
    """The chatkit (pydantic) event for an event Struct."""
    chatkit_event = _ITEM_EVENTS.get(type(event))
    if chatkit_event is not None:
        return chatkit_event(item=item_to_chatkit(event.item))  # type: ignore[union-attr]
    if isinstance(event, ThreadItemUpdatedEvent):
        update = event.update
        if isinstance(update, WidgetRootUpdated):
            return ck.ThreadItemUpdatedEvent(
                item_id=event.item_id, update=ck.WidgetRootUpdated(widget=widget_to_chatkit(update.widget))
            )
        if isinstance(update, WidgetComponentUpdated):
            component = DynamicWidgetComponent.model_validate(update.component)
            return ck.ThreadItemUpdatedEvent(
                item_id=event.item_id,
                update=ck.WidgetComponentUpdated(component_id=update.component_id, component=component),
            )
    if isinstance(event, ErrorEvent):
        event = client_error(event)
    return _event_adapter.validate_json(_encode(event))

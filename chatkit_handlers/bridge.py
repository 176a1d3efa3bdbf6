"""``RoutedActions``: answer a ``ChatKitServer``'s widget actions with an ``ActionRouter``.

For apps that already have an openai-chatkit ``ChatKitServer`` (a model in
``respond()``, threads, history, attachments) served by any framework, FastAPI
included. Mix it in before ``ChatKitServer`` and give it the router::

    from chatkit.server import ChatKitServer
    from chatkit_handlers.bridge import RoutedActions

    class MyServer(RoutedActions, ChatKitServer[User]):
        actions = router                       # an ActionRouter

        async def respond(self, thread, input_user_message, context):
            ...                                # your model code, unchanged

``action()`` and ``sync_action()`` are then answered by the router's handlers,
exactly the handlers the Litestar endpoint runs: chatkit's pydantic
``Action``/``WidgetItem``/``ThreadMetadata`` come in, the handler gets the
validated payload Struct and an ``ActionContext`` whose ``store`` is the
server's own store (through ``ChatKitStoreAdapter``), and what it returns or
yields goes back out as chatkit's pydantic events / ``SyncCustomActionResponse``.

Persistence: chatkit itself stores ``thread.item.done``/``replaced``/``removed``
and thread changes as the events pass. It leaves two gaps, which the bridge
fills with the dispatcher's rules, written only after the handler finished
without an error: a sync action's ``updated_item`` (and thread changes) is
saved; widget updates of stored items (``thread.item.updated``) are applied to
the stored widget and saved.

Errors: in a stream, ``ActionError`` becomes chatkit's ``CustomStreamError``
(an ``error`` event with ``code: "custom"`` and the message) and a request
the router refuses (unknown action, invalid payload...) an ``error`` event
with the same message the HTTP endpoint answers with. ``sync_action`` has no
error channel in chatkit: ``DispatchError`` (``status_code``, ``code``,
``message``) and ``ActionError`` (``status_code``, ``message``) propagate out of
``server.process()``; map them to HTTP answers in your endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar

import msgspec
from chatkit import types as ck
from chatkit.actions import Action as ChatKitAction
from chatkit.errors import CustomStreamError
from pydantic import BaseModel

from ._coerce import to_event, to_item, to_updated_item
from ._context import ActionContext
from ._convert import (
    chatkit_store_adapter,
    event_to_chatkit,
    item_to_chatkit,
    thread_from_chatkit,
    thread_to_chatkit,
)
from ._dispatch import Dispatcher
from ._persist import apply_widget_update
from ._router import ActionRouter, Route
from .errors import ActionError, DispatchError, NotFoundError
from .stores import Store
from .types import (
    WIDGET_UPDATE_TYPES,
    Action,
    CustomActionParams,
    CustomActionRequest,
    SyncCustomActionRequest,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
    WidgetUpdate,
)

__all__ = ["RoutedActions"]

logger = logging.getLogger("chatkit_handlers")

_THREAD_FIELDS = ("title", "status", "allowed_image_domains", "metadata")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, BaseModel):  # a payload built from pydantic models in Python code
        return obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} as an action payload")


_encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode


class RoutedActions:
    """Mixin for ``ChatKitServer``: ``action()``/``sync_action()`` go through ``actions``.

    Attributes:
        actions: the ``ActionRouter`` whose handlers answer the server's actions
            (a class attribute).

    Use it before ``ChatKitServer`` in the bases so its methods win::

        class MyServer(RoutedActions, ChatKitServer):
            actions = router
    """

    actions: ClassVar[ActionRouter]
    store: Any  # set by ChatKitServer.__init__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        router = cls.__dict__.get("actions")
        if router is not None and not isinstance(router, ActionRouter):
            raise TypeError(
                f"{cls.__qualname__}.actions must be an ActionRouter, got {type(router).__name__}"
            )

    def _routed_actions(self) -> _Bridge:
        bridge: _Bridge | None = self.__dict__.get("_routed_actions_bridge")
        if bridge is None or bridge.chatkit_store is not self.store:
            router = getattr(type(self), "actions", None)
            if not isinstance(router, ActionRouter):
                raise TypeError(
                    f"{type(self).__qualname__} mixes in RoutedActions but has no router: set the "
                    "class attribute `actions = ActionRouter(...)`"
                )
            bridge = _Bridge(router, self.store)
            self.__dict__["_routed_actions_bridge"] = bridge
        return bridge

    async def action(
        self,
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
        context: Any,
    ) -> AsyncIterator[ck.ThreadStreamEvent]:
        """Answer ``threads.custom_action`` with the matching streaming handler."""
        bridge = self._routed_actions()
        try:
            route, payload, ctx = bridge.prepare(CustomActionRequest, thread, action, sender, context)
        except DispatchError as exc:
            logger.warning("action %r refused: %s", action.type, exc.message)
            raise CustomStreamError(exc.message, allow_retry=False) from None
        async for event in bridge.stream(route, payload, ctx, thread):
            yield event

    async def sync_action(
        self,
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
        context: Any,
    ) -> ck.SyncCustomActionResponse:
        """Answer ``threads.sync_custom_action`` with the matching sync handler.

        Unlike chatkit-python, the ``updated_item`` is saved (and a changed
        thread too), so a reload shows what the user saw.

        Raises:
            DispatchError: the router refused the request (unknown action,
                invalid payload, mode mismatch...).
            ActionError: the handler raised it.
        """
        bridge = self._routed_actions()
        route, payload, ctx = bridge.prepare(SyncCustomActionRequest, thread, action, sender, context)
        seen = _encode(ctx.thread)
        result = await route.call_sync(ctx, payload)
        item = to_updated_item(result, ctx.sender, route.type)
        if _encode(ctx.thread) != seen:
            _copy_thread(ctx.thread, thread)
            await self.store.save_thread(thread, context=context)
        if item is None:
            return ck.SyncCustomActionResponse()
        updated = item_to_chatkit(item)
        await self.store.save_item(thread.id, updated, context=context)
        return ck.SyncCustomActionResponse(updated_item=updated)


class _Bridge:
    """What one server instance needs to run handlers: the router and stores."""

    __slots__ = ("chatkit_store", "dispatcher", "store")

    def __init__(self, router: ActionRouter, chatkit_store: Any) -> None:
        self.chatkit_store = chatkit_store
        self.store: Store = chatkit_store_adapter(chatkit_store)
        self.dispatcher = Dispatcher(router, self.store)

    def prepare(
        self,
        kind: type[CustomActionRequest] | type[SyncCustomActionRequest],
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
        context: Any,
    ) -> tuple[Route, Any, ActionContext[Any]]:
        """Match and validate as the HTTP endpoint does; build the handler's context."""
        params = CustomActionParams(
            thread_id=thread.id,
            item_id=sender.id if sender is not None else None,
            action=Action(type=action.type, payload=msgspec.Raw(_encode(action.payload))),
        )
        route, payload = self.dispatcher.resolve(kind(params=params))
        our_sender = to_item(sender) if sender is not None else None
        assert our_sender is None or isinstance(our_sender, WidgetItem)  # chatkit checked it
        ctx = self.dispatcher.context_for(route, thread_from_chatkit(thread), our_sender, context)
        return route, payload, ctx

    async def stream(
        self, route: Route, payload: Any, ctx: ActionContext[Any], thread: ck.ThreadMetadata
    ) -> AsyncIterator[Any]:
        """Run a streaming handler, yielding chatkit events; chatkit persists what passes."""
        updates = _WidgetUpdates()
        seen = _encode(ctx.thread)
        try:
            async with aclosing(route.call_stream(ctx, payload)) as events:
                async for produced in events:
                    event = to_event(produced)
                    updates.record(event)
                    # Before yielding: chatkit looks for thread changes right after each event.
                    seen = _sync_thread(ctx.thread, thread, seen)
                    yield produced if isinstance(produced, BaseModel) else event_to_chatkit(event)
            _sync_thread(ctx.thread, thread, seen)
            await updates.flush(self.store, thread.id, ctx.context)
        except ActionError as exc:
            raise CustomStreamError(exc.message, allow_retry=exc.allow_retry) from None


def _copy_thread(ours: ThreadMetadata, theirs: ck.ThreadMetadata) -> None:
    """Write the handler's changes of the thread onto chatkit's thread object."""
    updated = thread_to_chatkit(ours)
    for name in _THREAD_FIELDS:
        setattr(theirs, name, getattr(updated, name))


def _sync_thread(ours: ThreadMetadata, theirs: ck.ThreadMetadata, seen: bytes) -> bytes:
    current = _encode(ours)
    if current != seen:
        _copy_thread(ours, theirs)
    return current


class _WidgetUpdates:
    """Widget updates of stored items, saved once the handler finished cleanly.

    chatkit stores the items of ``done``/``replaced``/``removed`` events as they
    pass, so the stored item is always the right base to apply updates to.
    """

    __slots__ = ("_streaming", "_updates")

    def __init__(self) -> None:
        self._streaming: set[str] = set()
        self._updates: dict[str, list[WidgetUpdate]] = {}

    def record(self, event: ThreadStreamEvent) -> None:
        if isinstance(event, ThreadItemAddedEvent):
            self._streaming.add(event.item.id)
        elif isinstance(event, ThreadItemDoneEvent | ThreadItemReplacedEvent):
            self._streaming.discard(event.item.id)
            self._updates.pop(event.item.id, None)
        elif isinstance(event, ThreadItemRemovedEvent):
            self._updates.pop(event.item_id, None)
        elif (
            isinstance(event, ThreadItemUpdatedEvent)
            and isinstance(event.update, WIDGET_UPDATE_TYPES)
            and event.item_id not in self._streaming
        ):
            self._updates.setdefault(event.item_id, []).append(event.update)

    async def flush(self, store: Store, thread_id: str, context: Any) -> None:
        for item_id, updates in self._updates.items():
            try:
                item = await store.load_item(thread_id, item_id, context=context)
            except NotFoundError:
                continue  # an update of an item that was never stored: nothing to persist
            if not isinstance(item, WidgetItem):
                continue
            root = item.widget
            for update in updates:
                root = apply_widget_update(root, update)
            await store.save_item(thread_id, msgspec.structs.replace(item, widget=root), context=context)

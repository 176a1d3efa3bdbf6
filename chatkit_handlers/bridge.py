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

Concurrency: the same locks as the HTTP endpoint, taken by the same runners on
the adapter over the server's store, so they serialize the actions of one
server instance. A sync action holds its sender widget's lock from reloading
it until its update is saved; a stream holds its thread's lock and its
sender's from reloading them until its writes are done (chatkit's writes of
the stream's events included: they happen while the stream waits at a
``yield``). An action that cannot get its locks within ``lock_timeout`` is
refused like over HTTP: ``sync_action`` raises ``DispatchError(409,
"item.busy")``, a stream ends with an ``error`` event (code ``custom``, naming the
busy thread or item), both with ``allow_retry``.

Errors: in a stream, ``ActionError`` becomes chatkit's ``CustomStreamError``
(an ``error`` event with ``code: "custom"`` and the message) and a request
the router refuses (unknown action, invalid payload...) an ``error`` event
with the same message the HTTP endpoint answers with. ``sync_action`` has no
error channel in chatkit: ``DispatchError`` (``status_code``, ``code``,
``message``, ``allow_retry``) and ``ActionError`` (``status_code``, ``message``,
``allow_retry``) propagate out of ``server.process()``; map them to HTTP
answers in your endpoint.

Stream options: a routed stream opens with its handler's (or router's)
``allow_cancel`` where one is set, else with the server's
``get_stream_options()``, as chatkit does. What a client's disconnect does is
up to the framework serving ``process()``'s stream (most cancel it); only the
HTTP adapters of this package run a stream the user may not stop to its end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from types import MappingProxyType
from typing import Any, ClassVar

import msgspec
from chatkit import types as ck
from chatkit.actions import Action as ChatKitAction
from chatkit.errors import CustomStreamError
from chatkit.server import StreamingResult
from pydantic import BaseModel

from ._execution.answers import failure_event
from ._execution.dispatcher import Dispatcher
from ._execution.locks import DEFAULT_LOCK_TIMEOUT, busy_event
from ._execution.request import RequestView
from ._routing.errorhandlers import Reply
from ._routing.route import Route
from ._routing.router import ActionRouter
from ._wire.chatkit import event_to_chatkit, item_to_chatkit, thread_to_chatkit
from ._wire.encode import STREAM_OPENINGS
from .errors import (
    ActionError,
    DispatchError,
    LockTimeoutError,
    NotFoundError,
    RegistrationError,
    StoreUnavailableError,
)
from .stores.chatkit import ChatKitStoreAdapter
from .types import (
    Action,
    CustomActionParams,
    CustomActionRequest,
    SyncCustomActionRequest,
    ThreadMetadata,
    ThreadStreamEvent,
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
        lock_timeout: seconds an action waits for another action on the same
            widget (or, streaming, the same thread) before it is refused as busy
            (``None``: no limit, ``0``: refuse at once); the dispatcher's default.

    Use it before ``ChatKitServer`` in the bases so its methods win::

        class MyServer(RoutedActions, ChatKitServer):
            actions = router
    """

    actions: ClassVar[ActionRouter]
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT
    store: Any  # set by ChatKitServer.__init__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        router = cls.__dict__.get("actions")
        if router is not None and not isinstance(router, ActionRouter):
            raise RegistrationError(
                f"{cls.__qualname__}.actions must be an ActionRouter, got {type(router).__name__}"
            )

    def _routed_actions(self) -> _Bridge:
        bridge: _Bridge | None = vars(self).get("_routed_actions_bridge")
        if (
            bridge is None
            or bridge.chatkit_store is not self.store
            or bridge.lock_timeout != self.lock_timeout
        ):
            router = getattr(type(self), "actions", None)
            if not isinstance(router, ActionRouter):
                raise RegistrationError(
                    f"{type(self).__qualname__} mixes in RoutedActions but has no router: set the "
                    "class attribute `actions = ActionRouter(...)`"
                )
            bridge = _Bridge(router, self.store, self.lock_timeout)
            vars(self)["_routed_actions_bridge"] = bridge
        return bridge

    async def action(
        self,
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
        context: Any,
    ) -> AsyncIterator[ck.ThreadStreamEvent]:
        """Answer ``threads.custom_action`` with the matching streaming handler.

        The stream holds the thread's lock and its sender's; an action that
        cannot get them within ``lock_timeout`` ends with an ``error`` event
        naming the busy thread or item (``allow_retry: true``).
        """
        bridge = self._routed_actions()
        dispatcher = bridge.dispatcher
        try:
            request, route, payload = bridge.resolve(CustomActionRequest, thread, action, sender)
            stream, _ = await dispatcher.streams.open(
                request.params, route, payload, context, bridge.extras, _ChatKitEmitter(thread)
            )
        except DispatchError as exc:
            logger.warning("action %r refused: %s", action.type, exc.message)
            raise CustomStreamError(exc.message, allow_retry=exc.allow_retry) from None
        except (StoreUnavailableError, LockTimeoutError) as exc:  # as over HTTP: retryable
            yield event_to_chatkit(failure_event(action.type, exc))
            return
        async with aclosing(stream) as events:
            async for event in events:
                yield event

    async def process(self, request: str | bytes | bytearray, context: Any) -> Any:
        """chatkit's ``process()``; a routed stream's ``stream_options`` say its handler's ``allow_cancel``.

        chatkit sends ``get_stream_options()`` before it calls ``action()``;
        for an action whose route sets ``allow_cancel``, that first event is
        replaced by the route's.
        """
        result = await super().process(request, context)  # type: ignore[misc]  # ChatKitServer's
        if isinstance(result, StreamingResult):
            allow_cancel = self._routed_actions().allow_cancel_of(request)
            if allow_cancel is not None:
                result.json_events = _opening_with(result.json_events, allow_cancel)
        return result

    async def sync_action(
        self,
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
        context: Any,
    ) -> ck.SyncCustomActionResponse:
        """Answer ``threads.sync_custom_action`` with the matching sync handler.

        The sender widget's lock is held from reloading it (the handler sees
        the latest widget, not the one chatkit loaded before the lock) until
        its update is saved. Unlike chatkit-python, the ``updated_item`` is
        saved (and a changed thread too, in one transaction), so a reload
        shows what the user saw.

        Raises:
            DispatchError: the router refused the request (unknown action,
                invalid payload, mode mismatch...), the thread or widget is
                gone, or (409 ``item.busy``, ``allow_retry``) another action on
                the widget held it past ``lock_timeout``.
            ActionError: the handler raised it.
        """
        bridge = self._routed_actions()
        request, route, payload = bridge.resolve(SyncCustomActionRequest, thread, action, sender)
        try:
            outcome = await bridge.dispatcher.syncs.run(
                request.params, route, payload, context, bridge.extras
            )
        except LockTimeoutError as exc:
            busy = busy_event(exc)
            raise DispatchError(409, busy.code, busy.message or busy.code, allow_retry=True) from None
        _copy_thread(outcome.ctx.thread, thread)
        if outcome.item is None:
            return ck.SyncCustomActionResponse()
        return ck.SyncCustomActionResponse(updated_item=item_to_chatkit(outcome.item))


class _Bridge:
    """What one server instance needs to run handlers: a dispatcher over its store.

    The dispatcher's store (the adapter over the server's chatkit store) holds
    the locks, so they serialize the actions of this server instance (one per
    process).
    """

    __slots__ = ("chatkit_store", "dispatcher", "extras", "lock_timeout")

    def __init__(self, router: ActionRouter, chatkit_store: Any, lock_timeout: float | None) -> None:
        self.chatkit_store = chatkit_store
        self.lock_timeout = lock_timeout
        self.dispatcher = Dispatcher(router, ChatKitStoreAdapter(chatkit_store), lock_timeout=lock_timeout)
        # No HTTP request reaches a ChatKitServer's action(): handlers asking for one get an empty view.
        self.extras = self.dispatcher.with_view(None, None) if RequestView in self.dispatcher.needs else None

    def allow_cancel_of(self, body: str | bytes | bytearray) -> bool | None:
        """The ``allow_cancel`` the route of a ``threads.custom_action`` body sets (``None``: none)."""
        try:
            request = _decode_custom_action(body)
        except (msgspec.MsgspecError, RecursionError):
            return None  # another request type (chatkit has parsed it already)
        route = self.dispatcher.router.lookup(request.params.action.type)
        return route.allow_cancel if route is not None else None

    def resolve(
        self,
        kind: type[CustomActionRequest] | type[SyncCustomActionRequest],
        thread: ck.ThreadMetadata,
        action: ChatKitAction[str, Any],
        sender: ck.WidgetItem | None,
    ) -> tuple[CustomActionRequest | SyncCustomActionRequest, Route, Any]:
        """Match and validate as the HTTP endpoint does (``DispatchError`` if refused)."""
        params = CustomActionParams(
            thread_id=thread.id,
            item_id=sender.id if sender is not None else None,
            action=Action(type=action.type, payload=msgspec.Raw(_encode(action.payload))),
        )
        request = kind(params=params)
        route, payload = self.dispatcher.resolve(request)
        return request, route, payload


_decode_custom_action = msgspec.json.Decoder(CustomActionRequest).decode


class _EventType(msgspec.Struct):
    type: str


_event_type = msgspec.json.Decoder(_EventType).decode


async def _opening_with(
    events: AsyncGenerator[bytes, None], allow_cancel: bool
) -> AsyncGenerator[bytes, None]:
    """chatkit's SSE stream, its ``stream_options`` event (the first) saying ``allow_cancel``."""
    opening = STREAM_OPENINGS[allow_cancel]
    async with aclosing(events):
        first = True
        async for chunk in events:
            if first and _event_type(chunk.removeprefix(b"data: ")).type == "stream_options":
                chunk = opening
            first = False
            yield chunk


class _ChatKitEmitter:
    """Events as chatkit's pydantic models, for ``ChatKitServer.process()`` to send and store.

    chatkit stores the items of the events as they pass, while the stream
    waits at its ``yield`` and so still holds the locks; what chatkit leaves
    out (widget updates, the thread) the runner writes once the handler
    finished cleanly. A thread change is copied onto chatkit's thread object
    before the event that follows it is handed over, since chatkit looks for
    thread changes right after each event.
    """

    persist_items = False

    def __init__(self, thread: ck.ThreadMetadata) -> None:
        self._thread = thread

    openings: Mapping[bool, None] = MappingProxyType({True: None, False: None})  # chatkit sends its own

    def event(self, event: ThreadStreamEvent) -> Any:
        return event_to_chatkit(event)

    def thread_updated(self, thread: ThreadMetadata) -> None:
        _copy_thread(thread, self._thread)

    def failed(self, action_type: str, exc: Exception) -> Any:
        if isinstance(exc, Reply):  # a guard's refusal, a timeout, an error handler's answer (a notice too)
            return event_to_chatkit(exc.event)
        if isinstance(exc, ActionError | DispatchError):
            raise CustomStreamError(exc.message, allow_retry=exc.allow_retry) from None
        if isinstance(exc, LockTimeoutError | StoreUnavailableError | NotFoundError):  # an error event
            return event_to_chatkit(failure_event(action_type, exc))
        raise exc


def _copy_thread(ours: ThreadMetadata, theirs: ck.ThreadMetadata) -> None:
    """Write the handler's changes of the thread onto chatkit's thread object."""
    updated = thread_to_chatkit(ours)
    for name in _THREAD_FIELDS:
        setattr(theirs, name, getattr(updated, name))

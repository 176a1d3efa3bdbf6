"""The dispatch core: request bytes in, JSON bytes or an SSE byte stream out.

No web framework here. The Litestar adapter, the test client and the
ChatKitServer bridge are thin shells over :meth:`Dispatcher.dispatch`.

Everything a request can get wrong is found before a handler runs or a stream
starts, and answered with a precise 4xx (see ``DispatchError``).

Concurrent actions on one widget or thread are serialized with the store's
locks (see ``_locking``), and what the dispatcher persists for a handler is
written in one store transaction.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any, Union

import msgspec

from ._coerce import to_updated_item
from ._context import ActionContext, new_context, thread_change
from ._errorhandlers import Reply
from ._locking import DEFAULT_LOCK_TIMEOUT, StreamLock, busy_event, check_store, stream_keys
from ._providers import Extras
from ._router import ActionRouter, Route
from ._stream import STREAM_OPTIONS, run_stream
from .errors import ActionError, DispatchError, LockTimeoutError, NotFoundError
from .stores import LoadsThreadAndItem, SavesItemJSON, Store, item_lock
from .stores._base import loads_thread_and_item, saves_item_json
from .stores._locks import LocalLocks, plain_local_locks
from .types import (
    CustomActionRequest,
    ErrorEvent,
    SyncCustomActionRequest,
    ThreadItem,
    WidgetItem,
)

__all__ = ["DEFAULT_MAX_BODY_SIZE", "DispatchResult", "Dispatcher", "error_body"]

logger = logging.getLogger("chatkit_handlers")

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
"""1 MiB: far above any widget action, far below what could hurt a server."""

JSON = "application/json"
SSE = "text/event-stream"

ActionRequest = Union[CustomActionRequest, SyncCustomActionRequest]

_request_decoder: msgspec.json.Decoder[ActionRequest] = msgspec.json.Decoder(ActionRequest)
_decode_request = _request_decoder.decode


class _TypeOnly(msgspec.Struct):
    type: Any = None


_decode_type = msgspec.json.Decoder(_TypeOnly).decode
_encode = msgspec.json.Encoder().encode
_EMPTY_RESPONSE = b"{}"
_UPDATED_ITEM = b'{"updated_item":'

CHATKIT_REQUEST_TYPES = frozenset(
    {
        "threads.create",
        "threads.add_user_message",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
        "threads.retry_after_item",
        "threads.get_by_id",
        "threads.list",
        "items.list",
        "items.feedback",
        "attachments.create",
        "attachments.delete",
        "threads.update",
        "threads.delete",
        "input.transcribe",
    }
)
"""The ChatKit request types other than the two action requests."""


def error_body(code: str, message: str, *, allow_retry: bool = False) -> bytes:
    """The JSON body of an error answer: the same shape as a stream ``error`` event."""
    return _encode(ErrorEvent(code=code, message=message, allow_retry=allow_retry))


class DispatchResult(msgspec.Struct):
    """What to answer: a status and either a JSON body or an SSE byte stream.

    (A Struct for its constructor in C: one is made per request.)

    Attributes:
        status_code: 200, or the 4xx/5xx of a refused request.
        body: the JSON body (``None`` for a stream).
        stream: the SSE-framed events (``None`` for a JSON answer).
        request_type: the ChatKit request type, when it could be read.
    """

    status_code: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    request_type: str | None = None

    @property
    def media_type(self) -> str:
        """``text/event-stream`` for a stream, ``application/json`` otherwise."""
        return SSE if self.stream is not None else JSON

    @classmethod
    def error(cls, exc: DispatchError) -> DispatchResult:
        """A JSON error answer for ``exc``."""
        return cls(exc.status_code, error_body(exc.code, exc.message, allow_retry=exc.allow_retry))

    def __repr__(self) -> str:
        kind = "stream" if self.stream is not None else f"body={self.body!r}"
        return f"DispatchResult({self.status_code}, {kind})"


class Dispatcher:
    """Answers ChatKit action requests with a router's handlers and a store.

    >>> dispatcher = Dispatcher(router, MemoryStore())  # doctest: +SKIP
    >>> result = await dispatcher.dispatch(body, context=user)  # doctest: +SKIP

    Args:
        router: the handlers.
        store: where threads and items are loaded from and persisted to.
        max_body_size: larger request bodies are refused with 413.
        provides: the types an adapter supplies per request through ``extras``
            (the Litestar adapter: its ``Request``). The router is checked at
            once (``router.check``): a handler asking for a type nothing
            provides is a ``RegistrationError`` here, not a failing request.
        lock_timeout: seconds an action waits for another action on the same
            widget (or, streaming, the same thread) before it is refused as busy
            (``None``: no limit, ``0``: refuse at once).

    Attributes:
        needs: the ``provides`` types some handler, guard or provider asks for;
            an adapter builds those values only when this is not empty.
    """

    __slots__ = (
        "_kind",
        "_load_both",
        "_load_item",
        "_load_thread",
        "_save_item",
        "_save_json",
        "lock_timeout",
        "max_body_size",
        "needs",
        "router",
        "store",
    )

    def __init__(
        self,
        router: ActionRouter,
        store: Store,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        provides: Collection[type] = (),
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        check_store(store)
        self.router = router
        self.store = store
        # The store's optional methods, used on it and on its views of the same class (a lock's
        # or a transaction's) only: a view of another class may not have them. The methods they
        # stand for are noted as checked: one patched later turns its stand-in off.
        kind = self._kind = type(store)
        self._load_both = loads_thread_and_item(store)
        self._save_json = saves_item_json(store)
        self._load_thread = getattr(kind, "load_thread", None)
        self._load_item = getattr(kind, "load_item", None)
        self._save_item = getattr(kind, "save_item", None)
        self.max_body_size = max_body_size
        self.lock_timeout = lock_timeout
        self.needs = router.check(provided=provides)

    async def dispatch(
        self, body: bytes, context: Any = None, *, extras: Extras | None = None
    ) -> DispatchResult:
        """Answer one request body; never raises for bad input.

        ``extras`` maps a type to a zero-argument factory of its value for this
        request (see ``provides``); it is only called if a handler asks.
        """
        try:
            request = self.decode(body)
            route, payload = self.resolve(request)
            if route.streaming:
                # A stream's locks and context first, so that a 4xx is still JSON. The thread's and
                # the sender's locks are taken here when nobody holds them; then the context is
                # loaded once, through the locked store, and the stream owns the locks. When the
                # thread is busy the context is loaded now only to answer a missing thread or
                # widget with a 4xx; the stream then waits for the locks and reloads it
                # (StreamLock). (Inline, not a method of its own: one coroutine less per stream.)
                params = request.params
                keys = stream_keys(params.thread_id, params.item_id)
                lock = StreamLock(self.store, keys, self.lock_timeout, context, self, request, route)
                store = lock.take_now()
                if store is False:  # the store's own locks: entering them may suspend
                    store = await lock.try_now()
                try:
                    ctx = await self.load_context(request, route, context, store)
                except BaseException:
                    await lock.release()
                    raise
                if lock.holds and ctx._store is store:  # the keys are held on the store itself:
                    ctx._holds = lock.holds  # ctx.store makes the view holding them, if asked
                stream = run_stream(route, ctx, payload, STREAM_OPTIONS, extras, lock)
                if lock.held:
                    await anext(stream)  # into its try block: from here on, closing it releases the locks
                return DispatchResult(
                    200, None, stream, "threads.custom_action"
                )  # (resolve checked the mode)
            params = request.params
            if params.item_id is not None:
                key = item_lock(params.thread_id, params.item_id)
                store = self.store
                if plain_local_locks(store):
                    # Per-process locks, as LocalLocks.lock() takes them: taken at once if free,
                    # on the store itself (its view holding the key is made if the handler asks).
                    local: LocalLocks = store  # type: ignore[assignment]  # (no cast() call per action)
                    keys = (key,)
                    if local.take_keys_now(keys):  # the usual case: no coroutine more than needed
                        loaded: ActionContext[Any] | None = None
                        try:
                            loaded = await self.load_context(request, route, context, store)
                            if loaded._store is store:  # ctx.store makes the view holding the key, if asked
                                loaded._holds = keys
                            try:  # run_sync, inlined
                                return sync_answer(*await self.apply_sync(route, loaded, payload, extras))
                            except Exception as exc:
                                return sync_failure(route, exc)
                        finally:
                            local.release_keys(keys)
                            if loaded is not None:  # a ctx kept past the action: no view claims the key
                                loaded._holds = ()
                # A busy widget, or a store with locks of its own.
                holding = store.lock(key, timeout=self.lock_timeout, context=context)
                return await self.run_locked(request, route, payload, context, extras, holding)
            # No sender: nothing to read-modify-write, nothing to lock.
            ctx = await self.load_context(request, route, context)
            return await self.run_sync(route, ctx, payload, extras)
        except DispatchError as exc:
            return DispatchResult.error(exc)
        except LockTimeoutError as exc:  # a store's load waiting for a lock of its own, say
            return busy_answer(exc, None)

    async def run_locked(
        self,
        request: ActionRequest,
        route: Route,
        payload: Any,
        context: Any,
        extras: Extras | None,
        holding: AbstractAsyncContextManager[Store],
    ) -> DispatchResult:
        """Run a sync action holding its sender's lock (``holding``), waiting for it if need be.

        The lock is held from loading the widget to saving it, so concurrent
        clicks on one widget read-modify-write it one after the other.
        """
        try:
            async with holding as store:
                ctx = await self.load_context(request, route, context, store)
                return await self.run_sync(route, ctx, payload, extras)
        except LockTimeoutError as exc:
            return busy_answer(exc)

    def decode(self, body: bytes) -> ActionRequest:
        """Decode the envelope; ``DispatchError`` names what is wrong with it."""
        if len(body) > self.max_body_size:
            raise DispatchError(
                413,
                "request.too_large",
                f"request body of {len(body)} bytes exceeds the limit of {self.max_body_size} bytes",
            )
        try:
            return _decode_request(body)
        except msgspec.ValidationError as exc:
            raise self._envelope_error(body, exc) from None
        except msgspec.DecodeError as exc:
            raise DispatchError(400, "request.malformed", f"request body is not valid JSON: {exc}") from None

    def _envelope_error(self, body: bytes, exc: msgspec.ValidationError) -> DispatchError:
        try:
            kind = _decode_type(body).type
        except msgspec.MsgspecError:
            kind = None
        if kind in CHATKIT_REQUEST_TYPES:
            return DispatchError(
                400,
                "request.unsupported",
                f"request type {kind!r} is a ChatKit request this endpoint does not handle: it "
                "answers only threads.custom_action and threads.sync_custom_action",
            )
        if isinstance(kind, str) and kind not in ("threads.custom_action", "threads.sync_custom_action"):
            return DispatchError(400, "request.invalid", f"unknown request type {kind!r}")
        return DispatchError(400, "request.invalid", f"invalid request: {exc}")

    def resolve(self, request: ActionRequest) -> tuple[Route, Any]:
        """Match the action to a route, check the mode, validate the payload."""
        action = request.params.action
        route = self.router.lookup(action.type)
        if route is None:
            near = self.router.suggest(action.type)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise DispatchError(404, "action.unknown", f"no handler for action {action.type!r}{hint}")
        kind = type(request)  # (the exact types first: an isinstance miss on a Struct costs ~75 ns)
        sync_request = kind is SyncCustomActionRequest or (
            kind is not CustomActionRequest and isinstance(request, SyncCustomActionRequest)
        )
        if sync_request and route.streaming:
            raise DispatchError(
                400,
                "action.mode_mismatch",
                f"action {action.type!r} is registered with streaming=True but arrived as "
                "threads.sync_custom_action; remove `streaming: false` from the widget's "
                "ActionConfig (or register the handler with streaming=False)",
            )
        if not sync_request and not route.streaming:
            raise DispatchError(
                400,
                "action.mode_mismatch",
                f"action {action.type!r} is registered with streaming=False; set "
                "`streaming: false` in the widget's ActionConfig so the client sends "
                "threads.sync_custom_action",
            )
        return route, route.decode_payload(action.payload)

    async def load_context(
        self,
        request: ActionRequest,
        route: Route,
        context: Any,
        store: Store | None = None,
    ) -> ActionContext[Any]:
        """Load the thread and the sender item (through ``store``, the locked one); 404 for either missing."""
        params = request.params
        store = self.store if store is None else store
        item_id = params.item_id
        kind = self._kind
        both = (  # one query (one trip) for both
            item_id is not None
            and self._load_both
            and type(store) is kind
            and kind.load_thread is self._load_thread
            and kind.load_item is self._load_item
        )
        if both and kind.__dictoffset__:  # instances with a __dict__: a load may be patched on this one
            state = store.__dict__
            both = "load_thread" not in state and "load_item" not in state
        item: ThreadItem | None = None
        try:
            if both:
                assert item_id is not None
                loader: LoadsThreadAndItem = store  # type: ignore[assignment]  # (no cast() call per action)
                thread, item = await loader.load_thread_and_item(params.thread_id, item_id, context=context)
            else:
                thread = await store.load_thread(params.thread_id, context=context)
        except NotFoundError:
            raise DispatchError(404, "thread.not_found", f"thread {params.thread_id!r} not found") from None
        sender = None
        if params.item_id is not None:
            try:
                if not both:
                    item = await store.load_item(params.thread_id, params.item_id, context=context)
            except NotFoundError:
                item = None
            if item is None:
                raise DispatchError(
                    404, "item.not_found", f"item {params.item_id!r} not found in thread {params.thread_id!r}"
                )
            if not isinstance(item, WidgetItem):
                raise DispatchError(
                    400,
                    "item.not_widget",
                    f"item {params.item_id!r} is a {item.__struct_config__.tag!r}, not a widget",
                )
            sender = item
        elif route.sender_required:
            raise DispatchError(
                400,
                "item.required",
                f"action {route.type!r} needs the widget that sent it, but no item_id was "
                "given; send it from a widget (or pass itemId to sendCustomAction)",
            )
        return new_context(thread, sender, route.type, store, context)

    async def apply_sync(
        self, route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None
    ) -> tuple[ThreadItem | None, bytes | None]:
        """Run a sync handler and persist its update and thread change, all or nothing.

        Returns the ``updated_item`` (``None`` for none) and, when it was
        encoded for the store (``save_item_json``), its JSON, which the answer
        reuses; raises what the handler raised, having written nothing then.
        Two writes (the thread and the item) go in one store transaction; one
        write is atomic by itself and goes straight to the store. ``dispatch``
        and the ChatKitServer bridge run sync actions with this.
        """
        item = to_updated_item(await route.call_sync(ctx, payload, extras), ctx.sender, route.type)
        store = self.store if ctx._store is None else ctx._store  # (a view holding the locks, or not)
        thread = None if ctx._seen is None else thread_change(ctx)  # (no call if nobody looked)
        context = ctx.context
        if thread is None:
            if item is None:
                return None, None
            thread_id = ctx._thread.id  # (not a look at it)
            kind = self._kind
            if (
                self._save_json
                and type(store) is kind
                and kind.save_item is self._save_item
                and (not kind.__dictoffset__ or "save_item" not in store.__dict__)  # not patched on it
            ):
                data = _encode(item)
                saver: SavesItemJSON = store  # type: ignore[assignment]  # (no cast() call per action)
                await saver.save_item_json(thread_id, item, data, context=context)
                return item, data
            await store.save_item(thread_id, item, context=context)
        elif item is None:
            await store.save_thread(thread, context=context)
        else:
            async with store.transaction(context=context) as tx:
                await tx.save_thread(thread, context=context)
                await tx.save_item(thread.id, item, context=context)
        return item, None

    async def run_sync(
        self, route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None
    ) -> DispatchResult:
        """Run a sync handler (see ``apply_sync``) and answer ``SyncCustomActionResponse`` or the error."""
        try:
            return sync_answer(*await self.apply_sync(route, ctx, payload, extras))
        except Exception as exc:
            return sync_failure(route, exc)


def sync_answer(item: ThreadItem | None, data: bytes | None = None) -> DispatchResult:
    """The ``SyncCustomActionResponse`` of a sync action that updated ``item`` (or nothing).

    ``data`` is the item's JSON if it was encoded already (for the store).
    """
    if item is None:
        return DispatchResult(200, _EMPTY_RESPONSE, None, "threads.sync_custom_action")
    if data is None:
        data = _encode(item)
    # {"updated_item": <item>}, as encoding SyncCustomActionResponse(updated_item=item) writes it.
    return DispatchResult(200, b"".join((_UPDATED_ITEM, data, b"}")), None, "threads.sync_custom_action")


def busy_answer(
    exc: LockTimeoutError, request_type: str | None = "threads.sync_custom_action"
) -> DispatchResult:
    """409 ``item.busy`` or ``thread.busy``, retryable: an action that could not get its locks."""
    return DispatchResult(409, _encode(busy_event(exc)), None, request_type)


def sync_failure(route: Route, exc: Exception) -> DispatchResult:
    """The answer to a sync action whose guards, handler or writes raised ``exc`` (nothing written)."""
    if isinstance(exc, Reply):  # a guard's refusal, a timeout, an error handler's answer
        return DispatchResult(exc.status_code, exc.body())
    if isinstance(exc, ActionError):
        return DispatchResult(exc.status_code, error_body("custom", exc.message, allow_retry=exc.allow_retry))
    logger.error("sync handler for action %r failed", route.type, exc_info=exc)
    return DispatchResult(
        500, error_body("handler.error", f"the handler for action {route.type!r} failed", allow_retry=True)
    )

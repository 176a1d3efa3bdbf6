"""The dispatch core: request bytes in, a JSON body or an event stream out.

No web framework here. The Litestar plugin, the test client and the
ChatKitServer bridge are thin shells over :class:`Dispatcher`::

    decode (the envelope) -> resolve (route, mode, payload) -> sync | stream

Everything a request can get wrong is found before a handler runs or a stream
starts, and answered with a precise 4xx (see ``DispatchError``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from time import perf_counter
from typing import Any, Union

import msgspec

from .._routing.providers import Extras
from .._routing.route import Route, too_deep
from .._routing.router import ActionRouter
from ..errors import DispatchError, RegistrationError
from ..stores import Features, Store
from ..types import CustomActionRequest, SyncCustomActionRequest
from .answers import DispatchResult, failure, sync_answer
from .locks import DEFAULT_LOCK_TIMEOUT, check_store
from .observe import ActionObserver, ActionRecord, Observers
from .request import DEFAULT_MAX_BODY_SIZE, RequestView, too_large
from .stream import AllowCancel, SSEEmitter, StreamRunner
from .sync import SyncOutcome, SyncRunner

__all__ = ["CHATKIT_REQUEST_TYPES", "ActionRequest", "Dispatcher"]


ActionRequest = Union[CustomActionRequest, SyncCustomActionRequest]

_decode_request = msgspec.json.Decoder(ActionRequest).decode


class _TypeOnly(msgspec.Struct):
    type: Any = None


_decode_type = msgspec.json.Decoder(_TypeOnly).decode

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


class Dispatcher:
    """Answers ChatKit action requests with a router's handlers and a store.

    >>> dispatcher = Dispatcher(router, MemoryStore())  # doctest: +SKIP
    >>> result = await dispatcher.dispatch(body, context=user)  # doctest: +SKIP

    Args:
        router: the handlers.
        store: where threads and items are loaded from and persisted to. What
            it declares it can do (``StoreFeatures``) is read here, once.
        max_body_size: larger request bodies are refused with 413.
        provides: the types an adapter supplies per request through ``extras``
            (the Litestar adapter: its ``Request``); ``RequestView`` is always
            provided. The router is checked at once (``router.check``): a
            handler asking for a type nothing provides is a
            ``RegistrationError`` here, not a failing request.
        lock_timeout: seconds an action waits for another action on the same
            widget (or, streaming, the same thread) before it is refused as busy
            (``None``: no limit, ``0``: refuse at once).
        allow_cancel: for streaming routes that set no ``allow_cancel``:
            called with the action's thread and context, says whether the user
            may stop the stream (``None``: they may, as in ChatKit).
        observers: hear of every request as one ``ActionRecord`` (spans,
            metrics, logs: ``chatkit_handlers.observability``). Without them
            no record is made.

    Attributes:
        needs: the ``provides`` types some handler, guard or provider asks for;
            an adapter builds those values only when this is not empty.
        features: what the store declared (``Features``).
    """

    __slots__ = (
        "_observers",
        "_provides",
        "_sse",
        "features",
        "max_body_size",
        "needs",
        "router",
        "store",
        "streams",
        "syncs",
    )

    def __init__(
        self,
        router: ActionRouter,
        store: Store,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        provides: Collection[type] = (),
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        allow_cancel: AllowCancel | None = None,
        observers: Sequence[ActionObserver] = (),
    ) -> None:
        check_store(store)
        self.router = router
        self.store = store
        self.features = Features.of(store)
        self.syncs = SyncRunner(store, self.features, lock_timeout)
        self.streams = StreamRunner(store, self.features, lock_timeout, allow_cancel)
        self.max_body_size = max_body_size
        self._provides = (RequestView, *provides)
        self.needs = router.check(provided=self._provides)
        _check_once(router, store, self.features)
        self._observers = Observers(observers) if observers else None
        self._sse = SSEEmitter(log_failures=self._observers is None or not self._observers.logs_failures)

    @property
    def lock_timeout(self) -> float | None:
        """Seconds an action waits for the locks of another (see the class)."""
        return self.syncs.lock_timeout

    def check(self) -> None:
        """Check the router again (handlers registered since the dispatcher was built)."""
        self.needs = self.router.check(provided=self._provides)
        _check_once(self.router, self.store, self.features)

    async def dispatch(
        self,
        body: bytes,
        context: Any = None,
        *,
        extras: Extras | None = None,
        request: RequestView | None = None,
    ) -> DispatchResult:
        """Answer one request body; never raises for bad input.

        ``extras`` maps a type to a zero-argument factory of its value for this
        request (see ``provides``); it is only called if a handler asks.
        ``request`` is what handlers asking for a ``RequestView`` get (see ``with_view``).
        """
        if self._observers is not None:
            return await self._dispatch_observed(self._observers, body, context, extras, request)
        try:
            action = self.decode(body)
            route, payload = self.resolve(action)
        except DispatchError as exc:
            return DispatchResult.error(exc)
        if RequestView in self.needs:
            extras = self.with_view(extras, request)
        try:
            if route.streaming:
                stream, allow_cancel = await self.streams.open(
                    action.params, route, payload, context, extras, self._sse
                )
                return DispatchResult(200, None, stream, "threads.custom_action", allow_cancel)
            outcome: SyncOutcome = await self.syncs.run(action.params, route, payload, context, extras)
        except Exception as exc:  # refused before a stream started, or a sync action that failed
            return failure(route, exc)
        return sync_answer(outcome.item, outcome.data)

    async def _dispatch_observed(
        self,
        observers: Observers,
        body: bytes,
        context: Any,
        extras: Extras | None,
        request: RequestView | None,
    ) -> DispatchResult:
        """``dispatch``, telling ``observers`` of the request as one ``ActionRecord``."""
        record = ActionRecord(context, perf_counter())
        try:
            action = self.decode(body)
            params = action.params
            record.action_type = params.action.type
            record.mode = "stream" if action.streaming else "sync"
            record.thread_id = params.thread_id
            record.item_id = params.item_id
            route, payload = self.resolve(action)
        except DispatchError as exc:
            matched = self.router.lookup(record.action_type) if record.action_type is not None else None
            if matched is not None:  # labelled by its route even when refused (a bad payload...)
                record.action = matched.registered_type
            observers.started(record)
            observers.ended(record, exc.status_code, exc.code)
            return DispatchResult.error(exc)
        record.action = route.registered_type
        observers.started(record)
        if RequestView in self.needs:
            extras = self.with_view(extras, request)
        try:
            with observers.current(record):
                if route.streaming:
                    stream, allow_cancel = await self.streams.open(
                        params, route, payload, context, extras, self._sse, record
                    )
                else:
                    outcome = await self.syncs.run(params, route, payload, context, extras, record)
        except Exception as exc:
            record.failed(exc)
            refused = failure(route, exc, log=not observers.logs_failures)
            observers.ended(record, refused.status_code, record.outcome)
            return refused
        if route.streaming:
            watched = observers.watch(record, stream)
            return DispatchResult(200, None, watched, "threads.custom_action", allow_cancel)
        answer = sync_answer(outcome.item, outcome.data)
        observers.ended(record, 200)
        return answer

    def with_view(self, extras: Extras | None, request: RequestView | None) -> Extras:
        """``extras`` providing ``request`` to what asks for a ``RequestView``.

        Without a request (the ChatKitServer bridge, a test client driving a
        router) the view is of an empty scope: no headers, no client, no user.
        """
        view = request if request is not None else RequestView({})
        return {**(extras or {}), RequestView: lambda: view}

    def decode(self, body: bytes) -> ActionRequest:
        """Decode the envelope; ``DispatchError`` names what is wrong with it."""
        if len(body) > self.max_body_size:
            raise too_large(self.max_body_size, len(body))
        try:
            return _decode_request(body)
        except msgspec.ValidationError as exc:
            raise _envelope_error(body, exc) from None
        except msgspec.DecodeError as exc:
            raise DispatchError(400, "request.malformed", f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise too_deep("the request body") from None

    def resolve(self, request: ActionRequest) -> tuple[Route, Any]:
        """Match the action to a route, check the mode, validate the payload."""
        action = request.params.action
        route = self.router.lookup(action.type)
        if route is None:
            near = self.router.suggest(action.type)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise DispatchError(404, "action.unknown", f"no handler for action {action.type!r}{hint}")
        sync_request = not request.streaming
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


def _check_once(router: ActionRouter, store: Store, features: Features) -> None:
    """``once`` routes need a store that records consumed widget actions: refused now, not per request."""
    if features.records_consumed:
        return
    once = [route.type for route in router.routes() if route.once]
    if once:
        raise RegistrationError(
            f"routes {once} are once=True, but {type(store).__qualname__} does not record consumed "
            "widget actions (StoreFeatures.records_consumed); use a store of chatkit_handlers.stores"
        )


def _envelope_error(body: bytes, exc: msgspec.ValidationError) -> DispatchError:
    try:
        kind = _decode_type(body).type
    except (msgspec.MsgspecError, RecursionError):
        kind = None
    if isinstance(kind, str) and kind in CHATKIT_REQUEST_TYPES:
        return DispatchError(
            400,
            "request.unsupported",
            f"request type {kind!r} is a ChatKit request this endpoint does not handle: it "
            "answers only threads.custom_action and threads.sync_custom_action",
        )
    if isinstance(kind, str) and kind not in ("threads.custom_action", "threads.sync_custom_action"):
        return DispatchError(400, "request.invalid", f"unknown request type {kind!r}")
    return DispatchError(400, "request.invalid", f"invalid request: {exc}")

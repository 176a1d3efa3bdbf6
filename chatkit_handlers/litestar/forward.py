"""Handing the other ChatKit request types to a ``ChatKitServer``.

In the one-endpoint mode (``ChatKitPlugin(router, server=...)``) the action
requests take the dispatcher's fast path and every other request type
(``threads.create``, ``threads.list``, ``items.list``...) goes to
``server.process(body, context)``; its ``StreamingResult`` (SSE) or
``NonStreamingResult`` (JSON) is passed on byte for byte. So do the actions
the router has no handler for, if the server answers actions itself.

What chatkit-python leaves to the integrator is done here, framework-free: a
request it rejects (a pydantic ``ValidationError``, an unknown thread, a
missing override) becomes a precise 4xx/5xx JSON answer instead of an
exception; for a stream, the first event is produced before the answer
starts, so those errors are still answered with a status; a failure after
that ends the stream with an ``error`` event instead of a cut connection.
No pydantic or chatkit import at module level: the types are looked up only
when an error has to be classified.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec

from .._execution.answers import DispatchResult
from .._execution.dispatcher import CHATKIT_REQUEST_TYPES
from .._execution.stream import AllowCancel
from .._routing.router import ActionRouter
from .._wire.encode import error_body, frame
from ..errors import ActionError, DispatchError, NotFoundError
from ..types import ErrorEvent, ThreadMetadata

__all__ = ["ChatKitServerLike", "Forwarder"]

logger = logging.getLogger("chatkit_handlers")


class ChatKitServerLike(Protocol):
    """What the one-endpoint mode needs of an openai-chatkit ``ChatKitServer``."""

    store: Any

    async def process(self, request: bytes, context: Any) -> Any:
        """Answer one ChatKit request: a ``StreamingResult`` or ``NonStreamingResult``."""
        ...

    def get_stream_options(self, thread: Any, context: Any) -> Any:
        """A stream's ``StreamOptions`` (``allow_cancel``) for ``thread``."""
        ...


class _PeekAction(msgspec.Struct):
    type: Any = None


class _PeekParams(msgspec.Struct):
    action: _PeekAction | None = None


class _Peek(msgspec.Struct):
    type: Any = None
    params: _PeekParams | None = None


_peek = msgspec.json.Decoder(_Peek).decode

_ACTION_METHODS = {"threads.custom_action": "action", "threads.sync_custom_action": "sync_action"}
_NOT_OWN = ("chatkit.server", "chatkit_handlers.bridge")


def _implements(server: object, method: str) -> bool:
    """Whether ``server``'s class defines ``method`` itself (not chatkit's stub or the mixin's)."""
    for cls in type(server).__mro__:
        if method in cls.__dict__:
            return cls.__module__ not in _NOT_OWN
    return False


class Forwarder:
    """Hands the requests the router does not answer to ``server``.

    That is every ChatKit request type other than the two action types, and
    the actions the router has no handler for when the server implements
    ``action()``/``sync_action()`` itself (an app moving its actions to
    handlers one at a time); an unknown action otherwise stays a 404.
    """

    __slots__ = ("_fallback", "router", "server")

    def __init__(self, server: ChatKitServerLike, router: ActionRouter) -> None:
        self.server = server
        self.router = router
        self._fallback = frozenset(
            kind for kind, method in _ACTION_METHODS.items() if _implements(server, method)
        )

    def allow_cancel(self) -> AllowCancel | None:
        """The server's ``get_stream_options()`` as the default of routes that set no ``allow_cancel``.

        ``None`` when the server keeps chatkit's (every stream may be stopped):
        nothing to convert per stream then.
        """
        if not _implements(self.server, "get_stream_options"):
            return None
        from .._wire.chatkit import thread_to_chatkit  # chatkit's models only for server= users

        options = self.server.get_stream_options

        def allow_cancel(thread: ThreadMetadata, context: Any) -> bool:
            return bool(options(thread_to_chatkit(thread), context).allow_cancel)

        return allow_cancel

    def request_type(self, body: bytes) -> str | None:
        """The request type if ``server`` should answer ``body``, else ``None``.

        Anything else (an action the router answers, a malformed body, an
        unknown type) stays with the dispatcher, which answers it precisely.
        """
        try:
            peek = _peek(body)
        except (msgspec.MsgspecError, RecursionError):  # the dispatcher says what is wrong
            return None
        kind = peek.type
        if not isinstance(kind, str):  # (a JSON object, say: no request type, and unhashable)
            return None
        if kind in CHATKIT_REQUEST_TYPES:
            return str(kind)
        if kind in self._fallback and peek.params is not None and peek.params.action is not None:
            action_type = peek.params.action.type
            if isinstance(action_type, str) and self.router.lookup(action_type) is None:
                return str(kind)
        return None

    async def forward(self, body: bytes, kind: str, context: Any) -> DispatchResult:
        """Answer a non-action request with ``server.process()``; never raises for its failures."""
        try:
            result = await self.server.process(body, context)
            json = getattr(result, "json", None)
            if isinstance(json, bytes):  # NonStreamingResult
                return DispatchResult(200, json, request_type=kind)
            events: AsyncIterator[bytes] = aiter(result)
            try:
                first = await anext(events)
            except StopAsyncIteration:
                first = b""
            except BaseException:
                await _close(events, result)
                raise
        except Exception as exc:
            return _refusal(exc, kind)
        return DispatchResult(200, stream=_relay(first, events, result, kind), request_type=kind)


async def _relay(first: bytes, events: AsyncIterator[bytes], result: Any, kind: str) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in events:
            yield chunk
    except Exception:
        logger.exception("ChatKitServer.process() failed while streaming a %r answer", kind)
        yield frame(ErrorEvent(code="stream.error", allow_retry=True))
    finally:
        await _close(events, result)


async def _close(events: AsyncIterator[bytes], result: Any) -> None:
    """Close the iterator and chatkit's inner generator (so cancellation reaches it)."""
    for stream in (events, getattr(result, "json_events", None)):
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _refusal(exc: Exception, kind: str) -> DispatchResult:
    """The JSON error answer for an exception ``server.process()`` raised before streaming."""
    from chatkit.store import NotFoundError as ChatKitNotFoundError
    from pydantic import ValidationError

    if isinstance(exc, DispatchError):  # a RoutedActions server's sync_action refused the request
        return DispatchResult.error(exc)
    if isinstance(exc, ActionError):
        return DispatchResult(exc.status_code, error_body("custom", exc.message, allow_retry=exc.allow_retry))
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            where = ".".join(str(part) for part in errors[0]["loc"]) or "$"
            message = f"invalid {kind!r} request: {errors[0]['msg']} at {where}"
        else:
            message = f"invalid {kind!r} request: {exc}"
        return DispatchResult(400, error_body("request.invalid", message))
    if isinstance(exc, ChatKitNotFoundError | NotFoundError):
        detail = str(exc) or "a thread, item or attachment it names does not exist"
        return DispatchResult(404, error_body("not_found", f"{kind!r} request: {detail}"))
    if isinstance(exc, NotImplementedError):
        return DispatchResult(501, error_body("request.not_implemented", str(exc) or kind))
    if isinstance(exc, ValueError):  # chatkit's way of refusing a request it cannot apply
        return DispatchResult(400, error_body("request.invalid", f"{kind!r} request refused: {exc}"))
    logger.error("ChatKitServer.process() failed on a %r request", kind, exc_info=exc)
    return DispatchResult(
        500,
        error_body(
            "server.error", f"the ChatKit server failed to answer a {kind!r} request", allow_retry=True
        ),
    )

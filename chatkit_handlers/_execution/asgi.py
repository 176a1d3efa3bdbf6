"""Answering over ASGI: a JSON body, or an SSE stream that a client's disconnect cancels.

A stream the user may not stop (``allow_cancel: false``) is the exception: its
handler runs to its end whatever the client does, and its writes are committed.

Shared by every ASGI adapter (the Litestar plugin, ``chatkit_handlers.asgi``)
and the test client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from .._wire.encode import error_body
from ..errors import DispatchError
from .answers import DispatchResult
from .request import read_body

__all__ = ["close_stream", "read_post", "send_json", "send_result", "send_stream"]

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


async def read_post(scope: Any, receive: Receive, send: Send, max_body_size: int) -> bytes | None:
    """The body of a ``POST`` of at most ``max_body_size`` bytes; ``None`` once another request was answered.

    A request with another method is answered 405, a body over the limit 413
    ``request.too_large`` (before it is read whole).
    """
    if scope["method"] != "POST":
        await send_json(send, 405, error_body("request.method", "use POST"), extra=[(b"allow", b"POST")])
        return None
    try:
        return await read_body(scope, receive, max_body_size)
    except DispatchError as exc:  # too large
        refused = DispatchResult.error(exc)
        await send_json(send, refused.status_code, refused.body or b"")
        return None


async def send_result(result: DispatchResult, receive: Receive, send: Send) -> None:
    """Send ``result``: its JSON body, or its stream (closed however it ends)."""
    if result.stream is None:
        await send_json(send, result.status_code, result.body or b"")
    else:
        await send_stream(result, receive, send)


async def send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [_JSON_CONTENT_TYPE, (b"content-length", b"%d" % len(body))]
    if extra is not None:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_stream(result: DispatchResult, receive: Receive, send: Send) -> None:
    """Send the SSE stream; a client disconnect cancels the handler, unless it may not be stopped."""
    assert result.stream is not None
    stream = result.stream
    try:
        if not result.allow_cancel:
            with anyio.CancelScope(shield=True):  # not the server's cancellation of a gone client either
                await _pump_to_end(stream, result.status_code, send)
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # another anyio backend (trio)
            await _pump_in_task_group(stream, result.status_code, receive, send)
        else:
            await _pump_on_asyncio(stream, result.status_code, receive, send)
    finally:
        await close_stream(stream)


async def _pump(stream: AsyncIterator[bytes], status: int, send: Send) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _SSE_HEADERS})
    async for chunk in stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump_to_end(stream: AsyncIterator[bytes], status: int, send: Send) -> None:
    """Pump without watching for a disconnect; once sending fails, run the rest of the stream unsent."""
    connected = True

    async def forward(message: dict[str, Any]) -> None:
        nonlocal connected
        if connected:
            try:
                await send(message)
            except Exception:  # the client is gone (servers raise different things): finish without it
                connected = False

    await forward({"type": "http.response.start", "status": status, "headers": _SSE_HEADERS})
    async for chunk in stream:
        await forward({"type": "http.response.body", "body": chunk, "more_body": True})
    await forward({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump_on_asyncio(stream: AsyncIterator[bytes], status: int, receive: Receive, send: Send) -> None:
    """Pump in this task while one plain asyncio task waits for ``http.disconnect``.

    An anyio task group does the same portably, but entering one, spawning its
    watcher and cancelling it costs more than the rest of a short stream
    (bench/README.md, section 3). Here the pump runs in one anyio cancel
    scope, which the watcher cancels on a disconnect: an anyio cancellation,
    so the stream's shielded clean-up (writing what a finished handler
    produced) completes even then, which a plain ``task.cancel()`` would cut
    off (anyio's shields do not stop asyncio's own cancellation). The scope
    absorbs only its own cancellation: one from anywhere else propagates.
    """
    loop = asyncio.get_running_loop()
    watchers: list[asyncio.Task[None]] = []

    def watch() -> None:
        watchers.append(loop.create_task(_cancel_on_disconnect(receive, scope)))

    with anyio.CancelScope() as scope:
        # The watcher is only needed once the pump waits for something: until this task first
        # suspends, nothing could be cancelled anyway. call_soon runs watch() in the event
        # loop's next iteration, which starts as soon as this task suspends; a stream that
        # never does (a quick handler, a store in memory) spares the task.
        pending = loop.call_soon(watch)
        try:
            await _pump(stream, status, send)
        finally:
            pending.cancel()
            for watcher in watchers:
                watcher.cancel()


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a broken receive: the pump's next send finds out the same
        return
    scope.cancel()


async def _pump_in_task_group(
    stream: AsyncIterator[bytes], status: int, receive: Receive, send: Send
) -> None:
    """The portable version: the pump and a disconnect watcher in one anyio task group."""

    async def watch(scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch, tg.cancel_scope)
        await _pump(stream, status, send)
        tg.cancel_scope.cancel()


async def close_stream(stream: Any) -> None:
    if getattr(stream, "ag_frame", True) is None:
        return  # an async generator that already ran to its end: nothing to close
    close: Callable[[], Awaitable[None]] | None = getattr(stream, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()

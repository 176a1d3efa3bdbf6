"""One HTTP POST against an ASGI app, in process, with a streamed response.

httpx's ASGI transport buffers the whole response, so a test could neither
read a stream event by event nor hang up halfway. This driver hands the body
chunks over as the app sends them (no buffering: the app waits for the test to
read, as it waits for a real socket), and when the test is done it sends
``http.disconnect``, exactly what a browser closing the connection does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["AsgiResponse", "asgi_post", "post_scope"]

Message = dict[str, Any]


class AsgiResponse:
    """The status and headers of a response, and its body as it arrives.

    Iterate over it (``async for chunk in response``) to read the body chunks.
    """

    __slots__ = ("_done", "_messages", "headers", "status_code")

    def __init__(
        self, status_code: int, headers: dict[str, str], messages: MemoryObjectReceiveStream[Message]
    ):
        self.status_code = status_code
        self.headers = headers
        self._messages = messages
        self._done = False

    def __aiter__(self) -> AsgiResponse:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            message = await self._messages.receive()
        except anyio.EndOfStream:
            self._done = True
            raise StopAsyncIteration from None
        if message["type"] != "http.response.body":
            raise AssertionError(f"unexpected ASGI message during the body: {message!r}")
        if not message.get("more_body", False):
            self._done = True
        return bytes(message.get("body", b""))

    async def read(self) -> bytes:
        """The whole (remaining) body."""
        return b"".join([chunk async for chunk in self])


def post_scope(path: str, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    """The ASGI scope of ``POST path`` with a JSON body of ``len(body)`` bytes."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


@asynccontextmanager
async def asgi_post(
    app: Any, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> AsyncIterator[AsgiResponse]:
    """POST ``body`` to ``app`` at ``path``; leaving the block hangs up."""
    extra = ((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())
    scope = post_scope(path, body, extra)
    # Buffer size 0: the app's send() returns only once the test took the message.
    send_stream, receive_stream = anyio.create_memory_object_stream[Message](0)
    hung_up = anyio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await hung_up.wait()
        return {"type": "http.disconnect"}

    async def run_app() -> None:
        async with send_stream:
            await app(scope, receive, send_stream.send)

    # An error in the test's own code is kept out of the task group, which would
    # wrap it in an ExceptionGroup, and raised as is once the app has finished.
    failure: Exception | None = None
    async with anyio.create_task_group() as tg, receive_stream:
        tg.start_soon(run_app)
        try:
            yield await _response(receive_stream, path)
        except Exception as exc:
            failure = exc
        finally:
            hung_up.set()
            # Take whatever the app still sends while it notices the disconnect.
            with anyio.CancelScope(shield=True):
                async for _ in receive_stream:
                    pass
    if failure is not None:
        raise failure


async def _response(messages: MemoryObjectReceiveStream[Message], path: str) -> AsgiResponse:
    try:
        start = await messages.receive()
    except anyio.EndOfStream:
        raise AssertionError(f"the app returned without answering POST {path}") from None
    if start["type"] != "http.response.start":
        raise AssertionError(f"expected http.response.start, got {start!r}")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", ())}
    return AsgiResponse(int(start["status"]), headers, messages)

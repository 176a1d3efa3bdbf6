"""The boundary between a web framework and the dispatcher: the body, and a view of the request.

Every adapter (the Litestar plugin, the test client, the ChatKitServer bridge)
hands the dispatcher the same two things: the request body as bytes, read
here with its size limit, and a ``RequestView`` that guards, providers and
handlers may ask for by annotation, whatever framework served the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import DispatchError

__all__ = ["DEFAULT_MAX_BODY_SIZE", "RequestView", "read_body", "too_large"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
"""1 MiB: far above any widget action, far below what could hurt a server."""

Receive = Callable[[], Awaitable[Any]]


def too_large(limit: int, size: int | None = None) -> DispatchError:
    """413 ``request.too_large``."""
    got = "request body" if size is None else f"request body of {size} bytes"
    return DispatchError(413, "request.too_large", f"{got} exceeds the limit of {limit} bytes")


async def read_body(scope: Mapping[str, Any], receive: Receive, limit: int) -> bytes:
    """The body of an ASGI HTTP request, refused (``DispatchError`` 413) past ``limit`` bytes.

    A body announced (``Content-Length``) over the limit is refused before
    any of it is received; one in several messages, as soon as what arrived
    is over the limit. A client that disconnects before the end gives what
    arrived (the answer goes nowhere anyway).
    """
    # An announced length over the limit is refused before the first receive(): a client that
    # waits for "100 Continue" sends nothing until then. (A length of three digits or fewer is
    # under any limit of 1,000 or more: it is not parsed then.)
    for name, value in scope["headers"]:  # (required in an ASGI HTTP scope)
        if name == b"content-length":
            if (len(value) > 3 or limit < 1000) and value.isdigit() and int(value) > limit:
                raise too_large(limit, int(value))
            break
    message = await receive()
    body: bytes = message.get("body", b"")  # (none in http.disconnect)
    if message.get("more_body", False):
        return await _read_rest(receive, body, limit)
    if len(body) > limit:
        raise too_large(limit, len(body))
    return body


async def _read_rest(receive: Receive, first: bytes, limit: int) -> bytes:
    chunks = [first]
    size = len(first)
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


class RequestView:
    """The HTTP request an action arrived in, whatever framework served it.

    Guards, providers and handlers get it by annotation (``request: RequestView``),
    under Litestar, any ASGI app and the test client alike. The Litestar
    ``Request`` stays available to those that ask for it under Litestar.

    Attributes:
        scope: the ASGI scope (``type``, ``method``, ``path``, ``headers``...).
    """

    __slots__ = ("_headers", "scope")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope
        self._headers: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"RequestView({self.method} {self.path})"

    @property
    def method(self) -> str:
        """The HTTP method (``POST``)."""
        return str(self.scope.get("method", ""))

    @property
    def path(self) -> str:
        """The request's path."""
        return str(self.scope.get("path", ""))

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, names in lower case (a repeated header's values joined with ``", "``)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self.scope.get("headers", ()):
                name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, when the server knows it."""
        client = self.scope.get("client")
        return (str(client[0]), int(client[1])) if client else None

    @property
    def user(self) -> Any:
        """``scope["user"]``, set by authentication middleware (``None`` without)."""
        return self.scope.get("user")

"""The one-endpoint mode's forwarding of non-action requests, against stand-in servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from chatkit.store import NotFoundError as ChatKitNotFoundError
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionError, ActionRouter
from chatkit_handlers.errors import DispatchError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore

pytestmark = pytest.mark.anyio

LIST = msgspec.json.encode({"type": "threads.list", "params": {}})


class Streams:
    """Answers every request with a stream that fails after ``good`` events."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.store = None
        self.closed = False

    async def process(self, request: bytes, context: Any) -> Any:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        try:
            for n in range(self.good):
                yield b'data: {"type":"progress_update","text":"%d"}\n\n' % n
            raise ChatKitNotFoundError("thread thr_x")
        finally:
            self.closed = True


def app(server: Any) -> Litestar:
    return Litestar(plugins=[ChatKitPlugin(ActionRouter(), store=MemoryStore(), server=server)])


async def test_a_failure_before_the_first_event_is_a_status() -> None:
    server = Streams(good=0)
    async with AsyncTestClient(app(server)) as client:
        response = await client.post("/chatkit", content=LIST)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert server.closed


async def test_a_failure_mid_stream_ends_with_an_error_event() -> None:
    server = Streams(good=2)
    async with AsyncTestClient(app(server)) as client:
        response = await client.post("/chatkit", content=LIST)
    assert response.status_code == 200
    assert response.text.endswith('data: {"type":"error","code":"stream.error","allow_retry":true}\n\n')
    assert response.text.count("progress_update") == 2
    assert server.closed


async def test_action_and_invalid_requests_stay_with_the_dispatcher() -> None:
    server = Streams(good=1)
    async with AsyncTestClient(app(server)) as client:
        unknown = await client.post("/chatkit", content=b'{"type": "threads.nope", "params": {}}')
        malformed = await client.post("/chatkit", content=b"{")
        action = await client.post(
            "/chatkit",
            content=b'{"type": "threads.custom_action", "params": {"thread_id": "t", "action": {"type": "a"}}}',
        )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "request.invalid")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "request.malformed")
    assert (action.status_code, action.json()["code"]) == (404, "action.unknown")


class Refuses:
    """A server whose process() raises what a RoutedActions sync_action raises."""

    store = None

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def process(self, request: bytes, context: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (DispatchError(422, "payload.invalid", "bad"), 422, "payload.invalid"),
        (ActionError("Not now", status_code=409), 409, "custom"),
        (RuntimeError("secret detail"), 500, "server.error"),
    ],
)
async def test_exceptions_of_process_become_statuses(exc: Exception, status: int, code: str) -> None:
    async with AsyncTestClient(app(Refuses(exc))) as client:
        response = await client.post("/chatkit", content=LIST)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert "secret detail" not in response.text


def test_a_store_or_a_server_is_required() -> None:
    with pytest.raises(TypeError, match=r"store= .* or server="):
        ChatKitPlugin(ActionRouter())

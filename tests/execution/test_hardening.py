"""Bad input and store outages: a precise, documented 4xx or 503, never a 500, on every store.

Each case here once answered 500 (or, for another user's busy widget, made the caller wait
for a lock that told it the thread exists).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from _stores_support import BACKENDS, action, events, open_store, serve
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.asgi import ChatKitApp
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import NotFoundError, StoreUnavailableError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore, SQLiteStore, Store, item_lock
from chatkit_handlers.testing._asgi import post_scope
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter import handlers as counter_handlers
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio


def router() -> ActionRouter:
    router = ActionRouter()
    router.include(counter_handlers)
    return router


async def seed(store: Store, context: Any = None) -> None:
    await store.save_thread(ThreadMetadata(id="thr_1"), context=context)
    await store.add_thread_item(
        "thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget=counter_card(0)), context=context
    )


def click(thread: str = "thr_1", item: str = "wid_1", payload: Any = None) -> bytes:
    return action("sync", "counter.increment", thread=thread, item=item, payload=payload)


def error(body: bytes | None) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(body or b"")
    assert set(decoded) == {"type", "code", "message", "allow_retry"}, decoded
    assert decoded["type"] == "error"
    return decoded


# --------------------------------------------------------------------------- malformed input


SYNC_PREFIX = b'{"type":"threads.sync_custom_action","params":{"thread_id":"thr_1","item_id":"wid_1",'


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (b'{"type":{}}', 400, "request.invalid", "Expected `str`"),
        (b'{"type":[1,2]}', 400, "request.invalid", "Expected `str`"),
        (b'{"type":null}', 400, "request.invalid", "invalid request"),
        (
            SYNC_PREFIX
            + b'"action":{"type":"counter.increment","payload":'
            + b"[" * 1000
            + b"]" * 1000
            + b"}}}",
            400,
            "request.malformed",
            "nested too deeply",
        ),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, 400, "request.malformed", "nested too deeply"),
        (
            SYNC_PREFIX + b'"action":{"type":"counter.increment","payload":{"\xff":1}}}}',
            400,
            "request.malformed",
            "UTF-8",
        ),
        (
            b'{"type":"threads.sync_custom_action","params":{"thread_id":"\xff"}}',
            400,
            "request.malformed",
            "UTF-8",
        ),
        (b'{"type": "threads.sync_custom_action"', 400, "request.malformed", "not valid JSON"),
        (b"", 400, "request.malformed", "not valid JSON"),
    ],
)
async def test_malformed_bodies_get_a_precise_4xx_over_http(
    body: bytes, status: int, code: str, says: str
) -> None:
    store = MemoryStore()
    await seed(store)
    app = Litestar(plugins=[ChatKitPlugin(router(), store=store)])
    async with AsyncTestClient(app) as client:
        answer = await client.post("/chatkit", content=body)
    assert answer.status_code == status, answer.text
    refused = error(answer.content)
    assert refused["code"] == code
    assert says in refused["message"]
    assert "Traceback" not in answer.text


async def test_an_id_a_backend_cannot_store_is_not_found(kind: str, tmp_path: Path) -> None:
    """A NUL in an id: PostgreSQL's text cannot hold one; every store answers 404 alike."""
    async with open_store(kind, tmp_path) as store:
        await seed(store)
        dispatcher = Dispatcher(router(), store, lock_timeout=1)
        for body, code in (
            (click(thread="thr_\x00"), "thread.not_found"),
            (click(item="wid_\x00"), None),
            (action("stream", "counter.reset", thread="thr_\x00", item="wid_1"), "thread.not_found"),
        ):
            result = await dispatcher.dispatch(body)
            assert result.status_code == 404, result.body
            refused = error(result.body)
            assert code is None or refused["code"] == code


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --------------------------------------------------------------------------- ownership before waiting


async def test_another_users_busy_widget_is_not_found_at_once(kind: str, tmp_path: Path) -> None:
    """Bob's click on Alice's widget, while an action of hers holds it: 404 now, not 409 after the timeout."""
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        await seed(store, context="alice")
        dispatcher = Dispatcher(router(), store, lock_timeout=30)
        async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context="alice"):
            with anyio.fail_after(10):  # a hang guard, far below the lock timeout
                result = await dispatcher.dispatch(click(), context="bob")
                streamed = await dispatcher.dispatch(
                    action("stream", "counter.reset", thread="thr_1", item="wid_1"), context="bob"
                )
        assert result.status_code == 404
        assert error(result.body)["code"] == "thread.not_found"
        assert streamed.status_code == 404
        mine = await dispatcher.dispatch(click(), context="alice")  # free again: Alice's own click
        assert mine.status_code == 200


# --------------------------------------------------------------------------- store outages


class Outage(MemoryStore):
    """A MemoryStore whose loads or saves fail as a store that cannot be reached does."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    async def load_thread_and_item(self, thread_id: str, item_id: str, *, context: Any = None) -> Any:
        if self.fail == "load":
            raise StoreUnavailableError("the database is down")
        return await super().load_thread_and_item(thread_id, item_id, context=context)

    async def save_item_json(self, thread_id: str, item: Any, data: bytes, *, context: Any = None) -> None:
        if self.fail == "save":
            raise StoreUnavailableError("the database is down")
        await super().save_item_json(thread_id, item, data, context=context)

    async def save_item(self, thread_id: str, item: Any, *, context: Any = None) -> None:
        if self.fail == "save":
            raise StoreUnavailableError("the database is down")
        await super().save_item(thread_id, item, context=context)


@pytest.mark.parametrize("fail", ["load", "save"])
async def test_a_store_outage_is_a_retryable_503_or_error_event(
    fail: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Outage(fail="")
    await seed(store)
    store.fail = fail
    dispatcher = Dispatcher(router(), store)
    result = await dispatcher.dispatch(click())
    assert result.status_code == 503
    refused = error(result.body)
    assert refused["code"] == "store.unavailable"
    assert refused["allow_retry"] is True
    assert "handler" not in refused["message"]  # never blamed on the handler
    streamed = await dispatcher.dispatch(action("stream", "counter.reset", thread="thr_1", item="wid_1"))
    if fail == "load":  # before the stream started: the same JSON answer
        assert streamed.status_code == 503
    else:  # the stream had started: an error event, retryable
        assert streamed.stream is not None
        got = events(b"".join([chunk async for chunk in streamed.stream]))
        assert got[-1]["type"] == "error"
        assert got[-1]["allow_retry"] is True
        assert "unavailable" in got[-1]["message"]
    unavailable = [r for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(unavailable) == 2  # once per action, with its cause
    assert all(r.exc_info is not None for r in unavailable)
    assert not [r for r in caplog.records if "failed" in r.getMessage()]


async def test_sqlite_busy_past_its_timeout_is_unavailable_not_a_handler_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    store = SQLiteStore(path, busy_timeout=0.05)
    try:
        await seed(store)
        other = sqlite3.connect(path, isolation_level=None)  # another process's long write
        other.execute("BEGIN EXCLUSIVE")
        try:
            result = await Dispatcher(router(), store).dispatch(click())
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert result.status_code == 503, result.body
        assert error(result.body)["code"] == "store.unavailable"
        assert (await Dispatcher(router(), store).dispatch(click())).status_code == 200  # recovered
    finally:
        await store.close()


async def test_an_unreachable_postgres_is_unavailable() -> None:
    from chatkit_handlers.stores import PostgresStore

    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    try:
        result = await Dispatcher(router(), store).dispatch(click())
        assert result.status_code == 503
        assert error(result.body)["code"] == "store.unavailable"
    finally:
        await store.close()


async def test_postgres_recovers_by_itself_once_its_database_is_back() -> None:
    """The database dropped and created again under a running store: 503s, then 200s, no restart."""
    import uuid

    import asyncpg
    from _stores_support import require_postgres

    from chatkit_handlers.stores import PostgresStore

    admin_dsn = require_postgres()
    name = f"chk_recover_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
        store = PostgresStore(dsn, min_size=1, max_size=2)
        try:
            await seed(store)
            dispatcher = Dispatcher(router(), store)
            assert (await dispatcher.dispatch(click())).status_code == 200
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            down = await dispatcher.dispatch(click())
            assert down.status_code == 503, down.body
            assert error(down.body)["code"] == "store.unavailable"
            await admin.execute(f"CREATE DATABASE {name}")
            statuses = []
            for _ in range(5):  # the pool's dead connections are replaced, the tables made again
                statuses.append((await dispatcher.dispatch(click())).status_code)
                if statuses[-1] != 503:
                    break
            assert statuses[-1] == 404, statuses  # back: an empty database, so the thread is unknown
            await seed(store)
            assert (await dispatcher.dispatch(click())).status_code == 200
        finally:
            await store.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


class Vanishing(MemoryStore):
    """A MemoryStore whose thread disappears (another request deleted it) before the writes."""

    gone = False

    async def save_item_json(self, thread_id: str, item: Any, data: bytes, *, context: Any = None) -> None:
        if self.gone:
            raise NotFoundError(f"thread {thread_id!r} not found")
        await super().save_item_json(thread_id, item, data, context=context)

    async def save_item(self, thread_id: str, item: Any, *, context: Any = None) -> None:
        if self.gone:
            raise NotFoundError(f"thread {thread_id!r} not found")
        await super().save_item(thread_id, item, context=context)


async def test_a_thread_deleted_while_its_action_ran_is_not_found_not_a_handler_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Vanishing()
    await seed(store)
    local = ActionRouter()

    @local.on_action("gone.sync", streaming=False)
    async def gone_sync(sender: WidgetItem) -> dict[str, Any]:
        store.gone = True
        return counter_card(1)

    @local.on_action("gone.stream")
    async def gone_stream(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        store.gone = True
        yield ctx.update_widget(counter_card(2))

    dispatcher = Dispatcher(local, store)
    result = await dispatcher.dispatch(action("sync", "gone.sync", thread="thr_1", item="wid_1"))
    assert result.status_code == 404
    assert error(result.body)["code"] == "thread.not_found"
    store.gone = False
    streamed = await dispatcher.dispatch(action("stream", "gone.stream", thread="thr_1", item="wid_1"))
    assert streamed.stream is not None
    got = events(b"".join([chunk async for chunk in streamed.stream]))
    assert got[-1]["type"] == "error"
    assert "gone" in got[-1]["message"]
    assert not [r for r in caplog.records if "failed" in r.getMessage()]  # not blamed on a handler


# --------------------------------------------------------------------------- an announced body too large


def test_an_announced_body_over_the_limit_is_refused_before_any_of_it_is_sent(tmp_path: Path) -> None:
    """A client using ``Expect: 100-continue`` sends its body only once told to: a real uvicorn
    process answers 413 to the headers alone, and never asks for the body."""
    env: dict[str, str | None] = {
        "STORE": "sqlite",
        "SQLITE_PATH": str(tmp_path / "e2e.sqlite3"),
        "MARKER_DIR": str(tmp_path),
    }
    with serve(env, log=tmp_path / "server.log") as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
            )
            answer = b""
            while b"\r\n\r\n" not in answer:  # the status line and headers, within the timeout
                answer += conn.recv(4096)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer  # not "100 Continue"


@pytest.mark.parametrize("adapter", ["litestar", "asgi"])
def test_an_announced_body_over_the_limit_is_refused_without_receiving(adapter: str) -> None:
    """Both adapters, driven as an ASGI server would: 413 before the first ``receive()``."""
    router = ActionRouter()
    router.include(counter_handlers)
    store = MemoryStore()
    if adapter == "litestar":
        app: Any = Litestar(plugins=[ChatKitPlugin(router, store=store, max_body_size=1000)])
    else:
        app = ChatKitApp(router, store=store, max_body_size=1000)
    sent: list[dict[str, Any]] = []
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"{" * 1000, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = post_scope("/chatkit", b"")
    scope["headers"] = [(b"content-type", b"application/json"), (b"content-length", b"5000")]
    anyio.run(app, scope, receive, send)
    assert received == 0
    assert sent[0]["status"] == 413
    body = msgspec.json.decode(sent[1]["body"])
    assert body["code"] == "request.too_large"
    assert "5000" in body["message"]

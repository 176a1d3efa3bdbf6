"""Helpers for the store tests: the backends, the PostgreSQL server, a user's chatkit Store."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from chatkit.store import NotFoundError as ChatKitNotFoundError

from chatkit_handlers._wire.chatkit import item_to_chatkit
from chatkit_handlers._wire.coerce import to_item
from chatkit_handlers.stores import ChatKitStoreAdapter, LockKey, MemoryStore, Owner, SQLiteStore, Store
from chatkit_handlers.types import ThreadItem
from examples.bridge.store import MemoryChatKitStore
from examples.bridge.store import _page as page_of

POSTGRES_DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("memory", "sqlite", "postgres", "chatkit")
REPO = Path(__file__).resolve().parent.parent

_postgres_error: list[str | None] = []


def require_postgres() -> str:
    """The DSN; skips the test when no server answers, except in CI, where it fails."""
    if not _postgres_error:
        # in a thread of its own: callers may be inside an event loop already
        with ThreadPoolExecutor(1) as pool:
            _postgres_error.append(pool.submit(asyncio.run, _probe()).result())
    error = _postgres_error[0]
    if error is not None:
        message = f"no PostgreSQL at {POSTGRES_DSN} ({error}); set CHATKIT_TEST_POSTGRES_DSN"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " — CI must run the PostgreSQL tests (.ci/run starts a server)")
        pytest.skip(message)
    return POSTGRES_DSN


async def _probe() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def new_schema() -> str:
    """A schema name no other test (or parallel run) uses."""
    return f"ckh_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@asynccontextmanager
async def open_store(kind: str, tmp_path: Path, *, owner: Owner | None = None) -> AsyncIterator[Store]:
    """A fresh, empty store of ``kind``, closed (and its tables dropped) afterwards."""
    if kind == "memory":
        yield MemoryStore(owner=owner)
    elif kind == "sqlite":
        sqlite = SQLiteStore(tmp_path / f"{uuid.uuid4().hex}.sqlite3", owner=owner)
        try:
            yield sqlite
        finally:
            await sqlite.close()
    elif kind == "postgres":
        from chatkit_handlers.stores import PostgresStore

        require_postgres()
        schema = new_schema()
        postgres = PostgresStore(POSTGRES_DSN, schema=schema, owner=owner, max_size=12)
        try:
            yield postgres
        finally:
            try:
                await postgres.close()
            finally:
                await drop_schema(schema)
    elif kind == "chatkit":
        yield ChatKitStoreAdapter(ScopedChatKitStore(owner=owner))
    else:
        raise ValueError(kind)


def wire(kind: str, item: ThreadItem) -> bytes:
    """The bytes ``item`` should encode to after a round trip through a ``kind`` store."""
    if kind == "chatkit":  # chatkit's models fill in their defaults
        item = to_item(item_to_chatkit(item))
    return msgspec.json.encode(item)


class ScopedChatKitStore(MemoryChatKitStore):
    """A user's chatkit ``Store`` (the bridge example's), scoping threads to ``owner(context)``.

    Other users' threads raise chatkit's ``NotFoundError``, as a well-behaved store does.
    """

    def __init__(self, owner: Owner | None = None) -> None:
        super().__init__()
        self.owner = owner
        self.owners: dict[str, str | None] = {}

    def _check(self, thread_id: str, context: Any) -> None:
        if thread_id not in self.threads or (
            self.owner is not None and self.owners.get(thread_id) != self.owner(context)
        ):
            raise ChatKitNotFoundError(f"thread {thread_id} not found")

    async def load_thread(self, thread_id: str, context: Any) -> Any:
        self._check(thread_id, context)
        return await super().load_thread(thread_id, context)

    async def save_thread(self, thread: Any, context: Any) -> None:
        if thread.id in self.threads:
            self._check(thread.id, context)
        else:
            self.owners[thread.id] = self.owner(context) if self.owner is not None else None
        await super().save_thread(thread, context)

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Any:
        mine = [
            thread
            for thread_id, thread in self.threads.items()
            if self.owner is None or self.owners.get(thread_id) == self.owner(context)
        ]
        mine.sort(key=lambda thread: (thread.created_at, thread.id))
        return page_of(mine, after, limit, order, key=lambda thread: thread.id)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Any:
        self._check(thread_id, context)
        return await super().load_thread_items(thread_id, after, limit, order, context)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> Any:
        self._check(thread_id, context)
        return await super().load_item(thread_id, item_id, context)

    async def add_thread_item(self, thread_id: str, item: Any, context: Any) -> None:
        self._check(thread_id, context)
        await super().save_item(thread_id, item, context)  # an id added twice is saved, not doubled

    async def save_item(self, thread_id: str, item: Any, context: Any) -> None:
        self._check(thread_id, context)
        await super().save_item(thread_id, item, context)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        self._check(thread_id, context)
        await super().delete_thread_item(thread_id, item_id, context)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        self._check(thread_id, context)
        await super().delete_thread(thread_id, context)


# --------------------------------------------------------------------------- real server processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    env: dict[str, str | None],
    *,
    log: Path,
    app: str = "_stores_app:app",
    app_dir: Path = REPO / "tests",
    cwd: Path = REPO,
) -> Iterator[str]:
    """Run ``app`` (``tests/_stores_app.py``) in a uvicorn process on 127.0.0.1; yield its base URL.

    ``env`` adds to this process's environment; a ``None`` value removes the variable.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url + "/", timeout=1)  # any answer, even a 404, means it is up
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start within 30s:\n{log.read_text()}")


def action(kind: str, action_type: str, *, thread: str, item: str | None, payload: Any = None) -> bytes:
    """A request body for ``threads.custom_action`` (kind "stream") or the sync one."""
    body: dict[str, Any] = {
        "type": "threads.custom_action" if kind == "stream" else "threads.sync_custom_action",
        "params": {"thread_id": thread, "action": {"type": action_type, "payload": payload}},
    }
    if item is not None:
        body["params"]["item_id"] = item
    return msgspec.json.encode(body)


def events(sse: bytes) -> list[dict[str, Any]]:
    """The decoded events of an SSE body."""
    return [msgspec.json.decode(chunk[6:]) for chunk in sse.split(b"\n\n") if chunk.startswith(b"data: ")]


def count_of(widget_item: dict[str, Any]) -> int:
    return int(widget_item["widget"]["children"][0]["value"])


Callback = Callable[[], None]


class Unlocked:
    """A store whose locks lock nothing: what concurrency tests compare against."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any) -> AsyncIterator[Any]:  # noqa: ASYNC109
        yield self

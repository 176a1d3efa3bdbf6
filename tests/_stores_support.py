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
from chatkit.store import Store as ChatKitStore

from chatkit_handlers.stores import ChatKitStoreAdapter, MemoryStore, Owner, SQLiteStore, Store
from chatkit_handlers.stores.chatkit_adapter import from_chatkit_item, to_chatkit_item
from chatkit_handlers.types import ThreadItem

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
            await postgres.close()
            await drop_schema(schema)
    elif kind == "chatkit":
        yield ChatKitStoreAdapter(DictChatKitStore(owner=owner))
    else:
        raise ValueError(kind)


def wire(kind: str, item: ThreadItem) -> bytes:
    """The bytes ``item`` should encode to after a round trip through a ``kind`` store."""
    if kind == "chatkit":  # chatkit's models normalize (field order, defaults)
        item = from_chatkit_item(to_chatkit_item(item))
    return msgspec.json.encode(item)


class DictChatKitStore(ChatKitStore[Any]):
    """What a user of openai-chatkit might have written: a dict-backed chatkit ``Store``.

    Scopes threads to ``owner(context)`` when given, raising chatkit's
    ``NotFoundError`` for other users' threads, as a well-behaved store does.
    """

    def __init__(self, owner: Owner | None = None) -> None:
        self.owner = owner
        self.threads: dict[str, tuple[Any, Any]] = {}  # id -> (owner, ThreadMetadata)
        self.items: dict[str, dict[str, Any]] = {}

    def _check(self, thread_id: str, context: Any) -> None:
        entry = self.threads.get(thread_id)
        if entry is None or (self.owner is not None and entry[0] != self.owner(context)):
            raise ChatKitNotFoundError(f"thread {thread_id} not found")

    async def load_thread(self, thread_id: str, context: Any) -> Any:
        self._check(thread_id, context)
        return self.threads[thread_id][1].model_copy(deep=True)

    async def save_thread(self, thread: Any, context: Any) -> None:
        owner = self.owner(context) if self.owner is not None else None
        if thread.id in self.threads:
            self._check(thread.id, context)
            owner = self.threads[thread.id][0]
        self.threads[thread.id] = (owner, thread.model_copy(deep=True))
        self.items.setdefault(thread.id, {})

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Any:
        from chatkit.types import Page

        self._check(thread_id, context)
        ids = list(self.items[thread_id])
        if order == "desc":
            ids.reverse()
        start = ids.index(after) + 1 if after in ids else 0
        chosen = ids[start : start + limit]
        return Page(
            data=[self.items[thread_id][i].model_copy(deep=True) for i in chosen],
            has_more=start + limit < len(ids),
            after=chosen[-1] if chosen else None,
        )

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> Any:
        self._check(thread_id, context)
        try:
            return self.items[thread_id][item_id].model_copy(deep=True)
        except KeyError:
            raise ChatKitNotFoundError(f"item {item_id} not found") from None

    async def add_thread_item(self, thread_id: str, item: Any, context: Any) -> None:
        await self.save_item(thread_id, item, context)

    async def save_item(self, thread_id: str, item: Any, context: Any) -> None:
        self._check(thread_id, context)
        self.items[thread_id][item.id] = item.model_copy(deep=True)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        self._check(thread_id, context)
        self.items[thread_id].pop(item_id, None)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        self._check(thread_id, context)
        del self.threads[thread_id]
        del self.items[thread_id]

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Any:
        raise NotImplementedError

    async def save_attachment(self, attachment: Any, context: Any) -> None:
        raise NotImplementedError

    async def load_attachment(self, attachment_id: str, context: Any) -> Any:
        raise NotImplementedError

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        raise NotImplementedError


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

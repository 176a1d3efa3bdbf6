"""What is particular to each backend: files, schemas, migrations, pools, lazy imports."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from _stores_support import POSTGRES_DSN, REPO, drop_schema, new_schema, open_store, require_postgres

from chatkit_handlers.errors import LockTimeoutError
from chatkit_handlers.stores import ChatKitStoreAdapter, SQLiteStore, item_lock, thread_lock
from chatkit_handlers.stores import _sqlite_checkpoints as checkpoints
from chatkit_handlers.stores.sqlite import SCHEMA_VERSION
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.bridge.store import MemoryChatKitStore
from examples.counter.widgets import counter_card


def widget(n: int = 0) -> WidgetItem:
    return WidgetItem(id="wid_1", thread_id="thr_1", widget=counter_card(n))


# --------------------------------------------------------------------------- SQLite


@pytest.mark.anyio
async def test_sqlite_creates_its_file_and_schema_on_first_use_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "chatkit.sqlite3"
    path.parent.mkdir()
    store = SQLiteStore(path)
    assert not path.exists()  # nothing happens before first use
    async with anyio.create_task_group() as tg:  # concurrent first uses open it once
        for n in range(5):
            tg.start_soon(store.save_thread, ThreadMetadata(id=f"thr_{n}"))
    await store.add_thread_item("thr_1", widget(3), context=None)
    await store.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        (data,) = conn.execute("SELECT data FROM chatkit_items").fetchone()
        assert msgspec.json.decode(data)["widget"] == counter_card(3)  # a JSON column: the wire encoding
    reopened = SQLiteStore(path)  # a restart: everything is still there
    loaded = await reopened.load_item("thr_1", "wid_1", context=None)
    assert msgspec.json.encode(loaded) == msgspec.json.encode(await store.load_item("thr_1", "wid_1"))
    await reopened.close()
    await store.close()


@pytest.mark.anyio
async def test_sqlite_refuses_a_file_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    store = SQLiteStore(path)
    with pytest.raises(RuntimeError, match="schema version 99, newer than the 3 this chatkit-handlers knows"):
        await store.load_thread("thr_1", context=None)


@pytest.mark.anyio
async def test_sqlite_waits_out_another_process_write_without_stalling_the_event_loop(tmp_path: Path) -> None:
    """Statements run on the loop never wait there: a file another process is writing is retried
    after asynchronous pauses, and the write goes through once the file is free."""
    path = tmp_path / "shared.sqlite3"
    store = SQLiteStore(path, busy_timeout=10)
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # another process's long write
    longest, saved = 0.0, anyio.Event()
    try:
        async with anyio.create_task_group() as tg:

            async def tick() -> None:
                nonlocal longest
                last = time.monotonic()
                while not saved.is_set():
                    await anyio.sleep(0.01)
                    now = time.monotonic()
                    longest, last = max(longest, now - last), now

            async def save() -> None:
                await store.save_item("thr_1", widget(7), context=None)
                saved.set()

            tg.start_soon(tick)
            tg.start_soon(save)
            await anyio.sleep(0.3)
            assert not saved.is_set()  # still waiting for the other write
            other.execute("ROLLBACK")
            with anyio.fail_after(10):
                await saved.wait()
        loaded = await store.load_item("thr_1", "wid_1", context=None)
        assert isinstance(loaded, WidgetItem)
        assert loaded.widget == widget(7).widget
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        await store.close()
    assert longest < 0.5  # the loop ran on while the write waited (ticks every 10 ms)


@pytest.mark.anyio
async def test_sqlite_an_open_transaction_is_isolated_from_the_loops_other_statements(tmp_path: Path) -> None:
    """A transaction holds the writer across awaits: reads elsewhere see the last commit, a write
    elsewhere waits for its end, and the transaction reads its own writes, listings included."""
    store = SQLiteStore(tmp_path / "tx.sqlite3")
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    await store.save_item("thr_1", widget(1), context=None)
    opened, done = anyio.Event(), anyio.Event()
    order: list[str] = []

    def count(item: Any) -> Any:
        return item.widget["children"][0]["value"]

    async def in_transaction() -> None:
        async with store.transaction(context=None) as tx:
            await tx.save_item("thr_1", widget(2), context=None)
            page = await tx.load_thread_items("thr_1", None, 10, "asc", context=None)
            assert [count(item) for item in page.data] == ["2"]  # its own write
            opened.set()
            await done.wait()
            order.append("committed")

    async def write_elsewhere() -> None:
        await store.save_item("thr_1", widget(3), context=None)
        order.append("written")

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(in_transaction)
                await opened.wait()
                assert count(await store.load_item("thr_1", "wid_1", context=None)) == "1"  # last commit
                tg.start_soon(write_elsewhere)
                await anyio.sleep(0.1)
                assert order == []  # the write waits for the transaction
                done.set()
        assert order == ["committed", "written"]
        assert count(await store.load_item("thr_1", "wid_1", context=None)) == "3"
    finally:
        await store.close()


@pytest.mark.anyio
async def test_sqlite_checkpoints_its_wal_in_a_thread_and_keeps_it_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits on the event loop only append to the WAL; a thread copies it back into the file,
    and restarts it once it is long, however steady the writes."""
    monkeypatch.setattr(checkpoints, "LONGEST", 200)  # frames (the default is ~16 MB of them)

    def checkpointing() -> bool:
        return any(thread.name == "chatkit-sqlite-checkpoints" for thread in threading.enumerate())

    path = tmp_path / "wal.sqlite3"
    wal = anyio.Path(f"{path}-wal")
    store = SQLiteStore(path)
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    # Batches of commits (a frame or more each), back to back, until the WAL stops growing:
    # restarted, it is written over from its start. A checkpoint that only copies (PASSIVE) finds
    # new frames every time under such steady writes, and the WAL would grow to the last batch.
    sizes: list[int] = []
    commits = 0
    while len(sizes) < 3 or sizes[-1] > sizes[-3]:
        assert len(sizes) < 100, f"the WAL kept growing: {sizes}"
        for _ in range(checkpoints.EVERY):
            await store.save_item(
                "thr_1", msgspec.structs.replace(widget(), widget=counter_card(commits)), context=None
            )
            commits += 1
        sizes.append((await wal.stat()).st_size)
    assert checkpointing()
    assert sizes[-1] < 16 * 1024 * 1024  # ~200 frames, some more while the thread caught up
    await store.close()
    assert not checkpointing()
    with sqlite3.connect(path) as conn:  # everything reached the file
        (data,) = conn.execute("SELECT data FROM chatkit_items WHERE id = 'wid_1'").fetchone()
    assert msgspec.json.decode(data)["widget"] == counter_card(commits - 1)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_naive_thread_time_is_listed_as_utc(kind: str, tmp_path: Path) -> None:
    """PostgreSQL reads a naive time in its session's time zone; these two read it as UTC."""
    async with open_store(kind, tmp_path) as store:
        await store.save_thread(ThreadMetadata(id="thr_naive", created_at=datetime(2025, 1, 1, 12, 0)))
        eleven_utc = datetime(2025, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=2)))
        await store.save_thread(ThreadMetadata(id="thr_aware", created_at=eleven_utc))
        page = await store.load_threads(10, None, "asc", context=None)
        assert [thread.id for thread in page.data] == ["thr_aware", "thr_naive"]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def schema() -> Any:
    require_postgres()
    name = new_schema()
    yield name
    anyio.run(drop_schema, name)


def test_postgres_refuses_a_schema_name_that_is_not_an_identifier() -> None:
    from chatkit_handlers.stores import PostgresStore

    with pytest.raises(ValueError, match="plain SQL identifier"):
        PostgresStore(POSTGRES_DSN, schema='x"; DROP TABLE y; --')


@pytest.mark.anyio
async def test_postgres_stores_starting_together_create_the_schema_once(schema: str) -> None:
    from chatkit_handlers.stores import PostgresStore

    stores = [PostgresStore(POSTGRES_DSN, schema=schema, min_size=1, max_size=2) for _ in range(4)]
    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(store.open)
    await stores[0].save_thread(ThreadMetadata(id="thr_1"), context=None)
    assert (await stores[3].load_thread("thr_1", context=None)).id == "thr_1"
    for store in stores:
        await store.close()


@pytest.mark.anyio
async def test_postgres_refuses_a_schema_from_a_newer_version(schema: str) -> None:
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    conn = await asyncpg.connect(POSTGRES_DSN)
    await conn.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".chatkit_schema (version int)')
    await conn.execute(f'INSERT INTO "{schema}".chatkit_schema VALUES (7)')
    await conn.close()
    store = PostgresStore(POSTGRES_DSN, schema=schema)
    with pytest.raises(RuntimeError, match="has version 7, newer than the 2"):
        await store.open()
    await store.close()


@pytest.mark.anyio
async def test_postgres_over_an_application_pool_releases_locks_and_leaves_the_pool_open(schema: str) -> None:
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=1, reset=_no_reset)
    store = PostgresStore(pool, schema=schema)
    other = PostgresStore(POSTGRES_DSN, schema=schema)
    key = item_lock("thr_1", "wid_1")
    async with store.lock(key, timeout=None, context=None) as locked:
        await locked.save_thread(ThreadMetadata(id="thr_1"), context=None)
        with pytest.raises(LockTimeoutError):
            async with other.lock(key, timeout=0, context=None):
                pass
    # the pool does not reset its connections, yet the lock was released
    async with other.lock(key, timeout=0, context=None):
        pass
    await store.close()
    assert await pool.fetchval("SELECT 1") == 1  # still open: it is the application's
    await pool.close()
    await other.close()


@pytest.mark.anyio
async def test_postgres_lock_waits_for_a_pool_connection_no_longer_than_its_timeout(
    schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A full pool is a wait like a held key: ``timeout=0`` refuses at once, not after a connection frees.

    (A stream tries its locks with ``timeout=0`` before it starts; with every connection held
    by running streams, that try used to wait for one of them to finish.)
    """
    from chatkit_handlers.stores import PostgresStore

    store = PostgresStore(POSTGRES_DSN, schema=schema, min_size=1, max_size=1)
    async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context=None):  # the only connection
        with anyio.fail_after(5):  # a hang guard: it used to wait for the block above to end
            with pytest.raises(LockTimeoutError):
                async with store.lock(item_lock("thr_1", "wid_2"), timeout=0, context=None):
                    pass
            assert "no connection of the PostgreSQL pool" not in caplog.text  # a try is not a wait
            started = anyio.current_time()
            with pytest.raises(LockTimeoutError):
                async with store.lock(item_lock("thr_1", "wid_2"), timeout=0.2, context=None):
                    pass
            assert anyio.current_time() - started >= 0.2
            assert "no connection of the PostgreSQL pool came free within 0.2s (max_size 1)" in caplog.text
    # Free again: taken. (Not with timeout=0: the connection goes back to the pool in a task of
    # its own, which a busy machine may not have run yet; the test once failed so.)
    with anyio.fail_after(10):
        async with store.lock(item_lock("thr_1", "wid_2"), timeout=5, context=None):
            pass
    await store.close()


@pytest.mark.anyio
async def test_postgres_lock_with_timeout_0_still_opens_the_pools_unopened_connections(schema: str) -> None:
    """A wait too short for opening a connection does not throw the connection away.

    The pool opens one connection at first (min_size=1), and opening one takes 50 ms here;
    the lock below holds the open one. Every ``timeout=0`` attempt then finds an unopened
    slot: were the opening cancelled with the attempt, no attempt would ever succeed.
    """
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    async def slow_connect(*args: Any, **kwargs: Any) -> Any:
        await anyio.sleep(0.05)
        return await asyncpg.connect(*args, **kwargs)

    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=2, connect=slow_connect)
    store = PostgresStore(pool, schema=schema)
    attempts = 0
    async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context=None):
        with anyio.fail_after(5):
            while True:
                attempts += 1
                try:
                    async with store.lock(item_lock("thr_1", "wid_2"), timeout=0, context=None):
                        break
                except LockTimeoutError:
                    await anyio.sleep(0.01)  # the connection is being opened meanwhile
    assert attempts > 1  # the first found no open connection, and was refused at once
    await store.close()
    await pool.close()


@pytest.mark.anyio
async def test_postgres_a_late_connections_failed_give_back_is_logged_not_lost(
    schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused ``lock(timeout=0)`` gives its connection back later, in the background; if that
    fails (here an application pool's ``reset``), the error is logged, not left unretrieved."""
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    failing = False

    async def reset(conn: Any) -> None:
        if failing:
            raise RuntimeError("reset failed")

    # min_size=0: nothing reopens the connection the failed reset closes while the test ends
    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=0, max_size=1, reset=reset)
    store = PostgresStore(pool, schema=schema)
    await store.open()

    async def hold_and_try() -> None:
        nonlocal failing
        async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context=None):  # the only one
            failing = True
            with pytest.raises(LockTimeoutError):  # the pool is full: refused; its acquisition goes on
                async with store.lock(item_lock("thr_1", "wid_2"), timeout=0, context=None):
                    pass

    with pytest.raises(RuntimeError, match="reset failed"):  # the holder's own release fails too
        await hold_and_try()
    for _ in range(500):  # the late acquisition gets the freed slot, then fails to give it back
        if "could not give a pool connection back" in caplog.text:
            break
        await anyio.sleep(0.01)
    assert "reset failed" in caplog.text
    assert "could not give a pool connection back" in caplog.text
    pool.terminate()


@pytest.mark.anyio
async def test_postgres_one_timeout_covers_the_wait_for_a_connection_and_for_the_keys(schema: str) -> None:
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=2, max_size=2)
    store = PostgresStore(pool, schema=schema)
    await store.open()
    key = item_lock("thr_1", "wid_1")
    async with store.lock(key, timeout=None, context=None):  # one connection, and the key
        other = await pool.acquire()  # the other connection, for 0.6 s

        async def give_back_later() -> None:
            await anyio.sleep(0.6)
            await pool.release(other)

        async with anyio.create_task_group() as tg:
            tg.start_soon(give_back_later)
            started = anyio.current_time()
            with pytest.raises(LockTimeoutError):
                async with store.lock(key, timeout=0.8, context=None):
                    pass
            waited = anyio.current_time() - started
    # 0.6 s for the connection, then what is left of 0.8 for the key (not 0.8 more: 1.4 s in all);
    # the slack above 0.8 is for a busy machine.
    assert 0.75 <= waited < 1.2
    await store.close()
    await pool.close()


@pytest.mark.anyio
async def test_postgres_lock_takes_an_infinite_timeout_as_no_limit(schema: str) -> None:
    from chatkit_handlers.stores import PostgresStore

    store = PostgresStore(POSTGRES_DSN, schema=schema)
    async with store.lock(item_lock("thr_1", "wid_1"), thread_lock("thr_1"), timeout=math.inf, context=None):
        pass
    await store.close()


@pytest.mark.anyio
async def test_postgres_a_late_connection_that_fails_to_open_is_logged(
    schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncpg

    from chatkit_handlers.stores import PostgresStore

    failing = False

    async def init(conn: Any) -> None:
        await anyio.sleep(0.05)  # opening takes longer than timeout=0 waits
        if failing:
            raise RuntimeError("init failed")

    pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=2, init=init)
    store = PostgresStore(pool, schema=schema)
    await store.open()
    async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context=None):  # the open one
        failing = True
        with pytest.raises(LockTimeoutError):  # the other is still being opened
            async with store.lock(item_lock("thr_1", "wid_2"), timeout=0, context=None):
                pass
        for _ in range(500):
            if "could not be had" in caplog.text:
                break
            await anyio.sleep(0.01)
    assert "a pool connection nobody waited for any more could not be had" in caplog.text
    assert "init failed" in caplog.text
    await store.close()
    await pool.close()


async def _no_reset(conn: Any) -> None:
    pass


def test_postgres_serves_several_event_loops(schema: str) -> None:
    # Test clients run the app in a loop of their own: the store must not care.
    from chatkit_handlers.stores import PostgresStore

    store = PostgresStore(POSTGRES_DSN, schema=schema)

    async def write() -> None:
        await store.save_thread(ThreadMetadata(id="thr_1", title="first loop"), context=None)

    async def read() -> str | None:
        return (await store.load_thread("thr_1", context=None)).title

    anyio.run(write)
    assert anyio.run(read) == "first loop"
    anyio.run(store.close)


# --------------------------------------------------------------------------- chatkit adapter


@pytest.mark.anyio
async def test_the_adapter_keeps_widget_json_exactly_in_the_chatkit_store() -> None:
    wrapped = MemoryChatKitStore()
    store = ChatKitStoreAdapter(wrapped)
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    root = {"type": "Card", "children": [{"type": "Text", "id": "x", "value": "1", "unknownProp": {"k": 1}}]}
    await store.add_thread_item("thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget=root), context=None)
    assert wrapped.items["thr_1"][0].widget.model_dump(exclude_none=True) == root  # what chatkit serves
    loaded = await store.load_item("thr_1", "wid_1", context=None)
    assert isinstance(loaded, WidgetItem)
    assert loaded.widget == root  # every property kept (chatkit's models put "id" before "type")
    assert store.store is wrapped


def test_optional_dependencies_are_imported_only_when_used() -> None:
    code = (
        "import sys, chatkit_handlers, chatkit_handlers.stores, chatkit_handlers.litestar\n"
        "loaded = [m for m in ('chatkit', 'asyncpg', 'pydantic') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "from chatkit_handlers.stores import PostgresStore, ChatKitStoreAdapter\n"
        "assert 'asyncpg' in sys.modules and 'chatkit' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)

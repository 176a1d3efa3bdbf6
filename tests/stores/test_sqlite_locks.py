"""SQLiteStore's locks across processes: leases in the file (issue 19).

Two ``SQLiteStore`` instances on one file share nothing in memory, as two
server processes would not; one test runs a real second process that dies
holding a lock. Waits are bounded by ``fail_after`` guards with wide margins.
"""

from __future__ import annotations

import sqlite3
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from _stores_support import REPO

from chatkit_handlers.errors import LockTimeoutError
from chatkit_handlers.stores import Features, SQLiteStore, item_lock, thread_lock
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio

A, B = item_lock("thr_1", "wid_a"), item_lock("thr_1", "wid_b")
T = thread_lock("thr_1")


@asynccontextmanager
async def two_processes(tmp_path: Path, **options: float) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file, as two server processes would open it."""
    path = tmp_path / "shared.sqlite3"
    first, second = SQLiteStore(path, **options), SQLiteStore(path, **options)  # type: ignore[arg-type]
    try:
        await first.open()
        await second.open()
        yield first, second
    finally:
        await first.close()
        await second.close()


def leases(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, holder FROM chatkit_leases ORDER BY key").fetchall()


async def test_a_key_held_by_one_process_is_busy_for_the_other_until_released(tmp_path: Path) -> None:
    assert not Features.of(SQLiteStore(tmp_path / "x.sqlite3")).locks_in_process  # no try_lock path
    async with two_processes(tmp_path) as (first, second):
        async with first.lock(A, timeout=0, context=None) as held:
            with pytest.raises(LockTimeoutError) as refused:
                async with second.lock(A, timeout=0, context=None):
                    pass
            assert refused.value.key == A
            with pytest.raises(LockTimeoutError):
                async with second.lock(A, timeout=0.05, context=None):
                    pass
            async with second.lock(B, timeout=0, context=None):  # another key is free
                pass
            async with held.lock(A, T, timeout=0, context=None):  # the holder's view: A is not taken again
                pass
        assert leases(tmp_path / "shared.sqlite3") == []
        async with second.lock(A, timeout=0, context=None):  # released: free at once
            pass


async def test_a_refused_lock_holds_none_of_its_keys(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (first, second), first.lock(B, timeout=None, context=None):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as refused:
            async with second.lock(T, A, B, timeout=0.2, context=None):
                pass
        assert refused.value.key == B
        assert time.monotonic() - started >= 0.2  # it waited its timeout
        (only,) = leases(tmp_path / "shared.sqlite3")
        assert only[0] == '["item","thr_1","wid_b"]'
        async with first.lock(T, A, timeout=0, context=None):  # T and A were not kept
            pass


async def test_a_waiter_in_another_process_gets_the_key_once_it_is_released(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (first, second):
        order: list[str] = []

        async def wait_for_it() -> None:
            async with second.lock(A, timeout=None, context=None):
                order.append("second")

        with anyio.fail_after(20):  # a hang guard, not a timing assertion
            async with anyio.create_task_group() as tg, first.lock(A, timeout=None, context=None):
                tg.start_soon(wait_for_it)
                await anyio.sleep(0.1)  # it polls meanwhile
                order.append("first")
        assert order == ["first", "second"]


async def test_read_modify_writes_from_two_processes_are_serialized(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (first, second):
        await first.save_thread(ThreadMetadata(id="thr_1"))
        await first.add_thread_item(
            "thr_1", WidgetItem(id="wid_a", thread_id="thr_1", widget=counter_card(0))
        )

        async def increment(store: SQLiteStore) -> None:
            async with store.lock(A, timeout=None, context=None) as locked:
                item = await locked.load_item("thr_1", "wid_a")
                assert isinstance(item, WidgetItem)
                await anyio.lowlevel.checkpoint()  # let the others run between the read and the write
                n = int(item.widget["children"][0]["value"]) + 1
                await locked.save_item(
                    "thr_1", WidgetItem(id="wid_a", thread_id="thr_1", widget=counter_card(n))
                )

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(increment, first)
                    tg.start_soon(increment, second)
        item = await second.load_item("thr_1", "wid_a")
        assert isinstance(item, WidgetItem)
        assert int(item.widget["children"][0]["value"]) == 40


async def test_keys_asked_for_in_any_order_are_taken_in_lock_order_without_deadlock(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (first, second):
        done: list[int] = []

        async def stream_then_flush(store: SQLiteStore, n: int) -> None:
            # A stream holds its thread and sender, then may take another widget to write it.
            keys = (A, T) if n % 2 else (T, A)
            async with (
                store.lock(*keys, timeout=None, context=None) as held,
                held.lock(B, timeout=None, context=None),
            ):
                done.append(n)

        async def click(store: SQLiteStore, n: int) -> None:
            async with store.lock(B, A, timeout=None, context=None):
                done.append(n)

        with anyio.fail_after(60):  # a hang guard: a deadlock would never end
            async with anyio.create_task_group() as tg:
                for n in range(10):
                    tg.start_soon(stream_then_flush, first if n % 2 else second, n)
                    tg.start_soon(click, second if n % 2 else first, 100 + n)
        assert len(done) == 20
        assert leases(tmp_path / "shared.sqlite3") == []


async def test_a_lock_left_by_a_process_that_died_expires_after_its_lease(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    died = textwrap.dedent(
        f"""
        import os, anyio
        from chatkit_handlers.stores import SQLiteStore, item_lock

        async def main():
            store = SQLiteStore({str(path)!r}, lease=2.0)
            await store.lock(item_lock("thr_1", "wid_a"), timeout=0, context=None).__aenter__()
            os._exit(0)  # dies holding it: nothing released, nothing renewed

        anyio.run(main)
        """
    )
    await anyio.run_process([sys.executable, "-c", died], cwd=REPO)
    ((key, dead),) = leases(path)
    assert key == '["item","thr_1","wid_a"]'
    store = SQLiteStore(path)
    try:
        with pytest.raises(LockTimeoutError):  # its lease runs 2 s from when it took the key
            async with store.lock(A, timeout=0, context=None):
                pass
        with anyio.fail_after(20):
            async with store.lock(A, timeout=None, context=None):  # taken over once expired
                ((_, holder),) = leases(path)
                assert holder != dead
    finally:
        await store.close()


async def test_a_holder_keeps_its_key_past_the_lease_while_it_holds_it(tmp_path: Path) -> None:
    """Renewed every third of the lease: held for over two leases, the key stays busy."""
    async with two_processes(tmp_path, lease=1.5) as (first, second):
        async with first.lock(A, timeout=None, context=None):
            started = time.monotonic()
            while time.monotonic() - started < 4.0:
                with pytest.raises(LockTimeoutError):
                    async with second.lock(A, timeout=0, context=None):
                        pass
                await anyio.sleep(0.25)
        async with second.lock(A, timeout=0, context=None):  # released: renewal stopped with it
            pass


async def test_a_holder_whose_lease_expired_unrenewed_loses_the_key(tmp_path: Path) -> None:
    """What a crashed holder's rows look like: left in the table, never renewed."""
    path = tmp_path / "shared.sqlite3"
    async with two_processes(tmp_path, lease=0.5) as (first, second):
        with sqlite3.connect(path) as conn:
            conn.execute(
                "INSERT INTO chatkit_leases VALUES (?, 'dead', ?)",
                ('["item","thr_1","wid_a"]', time.time() + 0.5),
            )
        with pytest.raises(LockTimeoutError):
            async with first.lock(A, timeout=0, context=None):
                pass
        with anyio.fail_after(20):
            async with second.lock(A, timeout=None, context=None):
                assert leases(path)[0][1] != "dead"


async def test_a_busy_file_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Another process's long write: taking a lock retries it after asynchronous pauses."""
    path = tmp_path / "busy.sqlite3"
    store = SQLiteStore(path, busy_timeout=1.0)
    await store.open()
    longest = 0.0
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        async with anyio.create_task_group() as tg:

            async def tick() -> None:
                nonlocal longest
                last = time.monotonic()
                while True:
                    await anyio.sleep(0.01)
                    now = time.monotonic()
                    longest, last = max(longest, now - last), now

            tg.start_soon(tick)
            with pytest.raises(Exception, match="SQLite: database is locked"):
                async with store.lock(A, timeout=5, context=None):
                    pass
            tg.cancel_scope.cancel()
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()
    assert longest < 0.5  # the attempt waited a second, never on the loop


async def test_a_lock_of_new_keys_inside_a_transaction_is_refused_with_advice(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tx.sqlite3")
    try:
        async with store.lock(A, timeout=0, context=None) as held, held.transaction(context=None) as tx:
            async with tx.lock(A, timeout=0, context=None):  # held already: fine
                pass
            with pytest.raises(RuntimeError, match="take the lock first"):
                async with tx.lock(B, timeout=0, context=None):
                    pass
    finally:
        await store.close()


async def test_leases_are_renewed_by_a_thread_only_while_some_are_held(tmp_path: Path) -> None:
    def renewing() -> bool:
        return any(thread.name == "chatkit-sqlite-leases" for thread in threading.enumerate())

    async with two_processes(tmp_path, lease=0.3) as (first, _):
        async with first.lock(A, timeout=0, context=None):
            assert renewing()
        with anyio.fail_after(10):  # it ends at its next renewal, a tenth of a second later
            while renewing():  # noqa: ASYNC110  (a thread ending: no Event to wait for)
                await anyio.sleep(0.05)

"""``SQLiteStore``'s locks: leases in the file, so that every process opening it is excluded.

A held key is a row of ``chatkit_leases``: the key, its holder (one per
``lock()``) and when its lease expires. Taking keys is one short write
transaction that inserts a row per key, taking over rows whose lease has
expired, all or none; a busy key is polled for, with a growing pause, until the
lock's timeout. Releasing deletes the holder's rows. A process that crashed
holding a key blocks it until its lease expires (``lease`` seconds), never for
good; a holder keeping a key longer (a long stream) has its lease renewed by a
thread of the store's, every third of ``lease``, until it releases it.

Within one process, holders queue on :class:`KeyedLocks` first: only the first
waiter for a key polls the file, the others wait for it in memory.

Expiry compares the clock of the processes sharing the file (``time.time()``):
they run on one machine, as SQLite's WAL mode requires anyway.

(``timeout`` here is a lock wait with its own error and a "do not wait" value
``0``, not a cancel scope: hence the ``noqa: ASYNC109``.)
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import msgspec

from ..errors import LockTimeoutError, StoreUnavailableError
from ._base import LockKey
from ._locks import KeyedLocks

__all__ = ["LEASE_TABLE", "Holding", "Leases"]

logger = logging.getLogger("chatkit_handlers")

LEASE_TABLE = """CREATE TABLE chatkit_leases (
    key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID"""
"""The table of held keys (migration 3 of the SQLite schema)."""

_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.025
"""Seconds between two tries for a key another process holds: doubling from the first to the longest."""

_TAKE = (
    "INSERT INTO chatkit_leases (key, holder, expires) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
    "WHERE chatkit_leases.expires <= ?"
)
_RELEASE = "DELETE FROM chatkit_leases WHERE holder = ?"
_RENEW = "UPDATE chatkit_leases SET expires = ? WHERE holder = ?"

_encode = msgspec.json.Encoder().encode

Run = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]
"""Runs a function on the store's writer connection as one commit (on the event loop, retried while
another process writes) and returns its result."""


class Holding:
    """The keys one ``lock()`` holds, and the name its rows carry in the table (``keys`` empties on release)."""

    __slots__ = ("holder", "keys")

    def __init__(self, holder: str, keys: tuple[LockKey, ...]) -> None:
        self.holder = holder
        self.keys = keys


class Leases:
    """What every view of one ``SQLiteStore`` shares to lock: the in-process queue, the renewer.

    Args:
        connect: opens a connection to the file (for the renewing thread).
        lease: seconds a lease lasts unless renewed.
    """

    __slots__ = ("_local", "_renewer", "lease")

    def __init__(self, connect: Callable[[], sqlite3.Connection], lease: float) -> None:
        if lease <= 0:
            raise ValueError(f"lease must be a positive number of seconds, got {lease!r}")
        self.lease = lease
        self._local = KeyedLocks()
        self._renewer = _Renewer(connect, lease)

    async def take(self, keys: Sequence[LockKey], timeout: float | None, run: Run) -> Holding:  # noqa: ASYNC109
        """Hold ``keys`` (distinct, in ``lock_order``) in this process and in the file, or raise
        ``LockTimeoutError`` holding none; ``run`` reaches the file."""
        deadline = None if timeout is None else time.monotonic() + timeout
        await self._local.take(keys, timeout)
        holding = Holding(_holder_name(), tuple(keys))
        rows = [(_encode(key).decode(), key) for key in keys]
        pause = _FIRST_PAUSE
        try:
            while True:
                # (No shield needed: ``run`` awaits only before its statement succeeds, so a
                # cancellation never strikes between a lease taken and this frame knowing it.)
                busy = await run(lambda conn: _try_take(conn, holding.holder, rows, self.lease))
                if busy is None:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise LockTimeoutError(busy, timeout)
                await anyio.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE)
        except BaseException:
            self._local.release(keys)
            raise
        self._renewer.add(holding.holder)
        return holding

    async def release(self, holding: Holding, run: Run) -> None:
        """Give the keys back, in the file and in this process (idempotent; shielded from cancellation).

        A release the file refuses (locked by another process past ``busy_timeout``)
        is logged: the lease then ends when it expires.
        """
        keys, holding.keys = holding.keys, ()
        if not keys:
            return
        self._renewer.discard(holding.holder)
        try:
            with anyio.CancelScope(shield=True):
                await run(lambda conn: conn.execute(_RELEASE, (holding.holder,)))
        except StoreUnavailableError:
            logger.warning(
                "could not release the SQLite locks %r; other processes wait until their lease expires (%ss)",
                keys,
                self.lease,
                exc_info=True,
            )
        finally:
            self._local.release(keys)

    def close(self) -> None:
        """Stop renewing (the renewing thread ends); renewal starts again with the next lock."""
        self._renewer.stop()


_serial = itertools.count()
_process: tuple[int, str] = (0, "")


def _holder_name() -> str:
    """A name no other holder, in any process opening the file, has: the pid, a random token
    drawn once per process (a pid may be reused), a serial number."""
    global _process
    if _process[0] != os.getpid():  # first use, or a forked child
        _process = (os.getpid(), secrets.token_hex(8))
    pid, token = _process
    return f"{pid}:{token}:{next(_serial)}"


def _try_take(
    conn: sqlite3.Connection, holder: str, rows: list[tuple[str, LockKey]], lease: float
) -> LockKey | None:
    """Insert a lease per key, taking over expired ones, all or none: ``None``, else the busy key."""
    now = time.time()
    if len(rows) == 1:  # one statement: atomic by itself, no BEGIN and COMMIT around it
        ((name, key),) = rows
        return None if conn.execute(_TAKE, (name, holder, now + lease, now)).rowcount else key
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, key in rows:
            if conn.execute(_TAKE, (name, holder, now + lease, now)).rowcount == 0:
                conn.execute("ROLLBACK")
                return key
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # (a failed COMMIT leaves it open)
            conn.execute("ROLLBACK")
        raise
    return None


class _Renewer:
    """Renews the leases of one store's holders from a thread, every third of a lease.

    The thread starts with the first holder and ends at a renewal that finds
    none (or on ``stop()``), so an idle store has no thread.
    """

    __slots__ = ("_connect", "_guard", "_holders", "_interval", "_lease", "_thread", "_wake")

    def __init__(self, connect: Callable[[], sqlite3.Connection], lease: float) -> None:
        self._connect = connect
        self._lease = lease
        self._interval = lease / 3
        self._holders: set[str] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, holder: str) -> None:
        with self._guard:
            self._holders.add(holder)
            if self._thread is None or not self._thread.is_alive():  # (none survives a fork)
                self._thread = threading.Thread(target=self._run, name="chatkit-sqlite-leases", daemon=True)
                self._thread.start()

    def discard(self, holder: str) -> None:
        with self._guard:
            self._holders.discard(holder)

    def stop(self) -> None:
        with self._guard:
            self._holders.clear()
        self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait(self._interval)
                with self._guard:
                    self._wake.clear()
                    holders = list(self._holders)
                    if not holders:  # (stop() empties them)
                        self._thread = None
                        return
                try:
                    if conn is None:
                        conn = self._connect()
                    self._renew(conn, holders)
                except sqlite3.Error:  # the next renewal may succeed: a lease outlives two misses
                    logger.warning("could not renew SQLite lock leases", exc_info=True)
        finally:
            if conn is not None:
                conn.close()

    def _renew(self, conn: sqlite3.Connection, holders: list[str]) -> None:
        expires = time.time() + self._lease
        for holder in holders:
            renewed = conn.execute(_RENEW, (expires, holder)).rowcount
            with self._guard:
                lost = renewed == 0 and holder in self._holders  # (a released holder's rows are gone)
            if lost:
                logger.warning(
                    "the SQLite lock lease of %s had expired before it was renewed (the process "
                    "was paused longer than the lease?): another process may hold its keys",
                    holder,
                )

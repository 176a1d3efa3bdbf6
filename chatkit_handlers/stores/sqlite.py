"""``SQLiteStore``: the embedded default, one file, no server.

Runs the standard library's ``sqlite3`` where each statement costs least
without ever stalling the event loop: the short statements of an action (load
a thread and its widget, take and release a lease, save an item) run on the
loop itself, on connections that never wait for a lock (``busy_timeout=0``,
retried after an asynchronous pause when another process writes) nor for the
disk (WAL mode, ``synchronous=NORMAL``: a commit only appends to the WAL; the
checkpoints that fsync run in a thread of their own, ``_sqlite_checkpoints``).
Listings whose length the caller picks, opening the file and lease renewal run
in worker threads. One writer connection (SQLite allows one writer at a time
anyway); readers see the last commit while a write is under way. Items and threads are JSON text columns holding exactly
the wire encoding, so what is read back encodes to the very same bytes.

Locks are leases in the file (``_sqlite_leases``): they exclude holders in
every process that opens it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal, Self, TypeVar

import anyio
import anyio.to_thread
import msgspec

from ..errors import NotFoundError, StoreUnavailableError
from ..types import Page, ThreadItem, ThreadMetadata
from ._base import ItemsAsJSON, LockKey, Owner, lock_order
from ._sqlite_checkpoints import Checkpoints
from ._sqlite_leases import LEASE_TABLE, Holding, Leases

__all__ = ["SQLiteStore"]

T = TypeVar("T")
_Conn = sqlite3.Connection

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_decode_item = _item_decoder.decode

_FIRST_PAUSE = 0.0002
_LONGEST_PAUSE = 0.002
"""Seconds between two tries of a statement that found the file busy: doubling from the first to the longest."""

SCHEMA_VERSION = 3
"""The schema this version creates; older files are migrated when opened."""

# Migration n brings a database at user_version n-1 to n. Append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE chatkit_threads (
            id TEXT PRIMARY KEY,
            owner TEXT,
            created_at TEXT NOT NULL,
            data TEXT NOT NULL CHECK (json_valid(data))
        )""",
        """CREATE TABLE chatkit_items (
            seq INTEGER PRIMARY KEY,
            thread_id TEXT NOT NULL REFERENCES chatkit_threads (id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            data TEXT NOT NULL CHECK (json_valid(data)),
            UNIQUE (thread_id, id)
        )""",
        "CREATE INDEX chatkit_items_by_thread ON chatkit_items (thread_id, seq)",
    ),
    (  # 2: widget actions consumed by on_action(once=True) routes
        """CREATE TABLE chatkit_consumed (
            thread_id TEXT NOT NULL REFERENCES chatkit_threads (id) ON DELETE CASCADE,
            item_id TEXT NOT NULL,
            action TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (thread_id, item_id, action)
        ) WITHOUT ROWID""",
    ),
    (LEASE_TABLE,),  # 3: locks shared by every process opening the file
)


def _queries(scoped: bool) -> dict[str, str]:
    """The SQL of every operation; with ``scoped``, threads must belong to ``:owner``."""
    own = " AND owner IS :owner" if scoped else ""
    visible = f"SELECT 1 FROM chatkit_threads WHERE id = :thread{own}"
    page = (
        "SELECT id, data FROM chatkit_items WHERE thread_id = :thread AND seq {cmp} coalesce("
        "(SELECT seq FROM chatkit_items WHERE thread_id = :thread AND id = :after), {edge}) "
        "ORDER BY seq {direction} LIMIT :limit"
    )
    # Threads by created_at (julianday() reads any UTC offset; the text breaks ties within its
    # millisecond), then id; the page starts after the cursor thread, if the caller may see it.
    threads_page = (
        "SELECT t.id, t.data FROM chatkit_threads t LEFT JOIN ("
        f"SELECT julianday(created_at) AS day, created_at, id FROM chatkit_threads WHERE id = :after{own}"
        ") c ON 1 WHERE (c.id IS NULL OR (julianday(t.created_at), t.created_at, t.id) {cmp} (c.day, c.created_at, c.id))"
        + (" AND t.owner IS :owner" if scoped else "")
        + " ORDER BY julianday(t.created_at) {direction}, t.created_at {direction}, t.id {direction} LIMIT :limit"
    )
    return {
        "visible": visible,
        "threads_asc": threads_page.format(cmp=">", direction="ASC"),
        "threads_desc": threads_page.format(cmp="<", direction="DESC"),
        "load_thread": f"SELECT data FROM chatkit_threads WHERE id = :thread{own}",
        "load_thread_and_item": (
            "SELECT t.data, i.data FROM chatkit_threads t LEFT JOIN chatkit_items i "
            "ON i.thread_id = t.id AND i.id = :item WHERE t.id = :thread"
            + (" AND t.owner IS :owner" if scoped else "")
        ),
        "save_thread": (
            "INSERT INTO chatkit_threads (id, owner, created_at, data) VALUES (:thread, :owner, :at, :data) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data"
            + (" WHERE chatkit_threads.owner IS excluded.owner" if scoped else "")
        ),
        "page_asc": page.format(cmp=">", edge=-1, direction="ASC"),
        "page_desc": page.format(cmp="<", edge=2**63 - 1, direction="DESC"),
        "load_item": (
            "SELECT i.data FROM chatkit_items i JOIN chatkit_threads t ON t.id = i.thread_id "
            "WHERE i.thread_id = :thread AND i.id = :item AND t.owner IS :owner"
            if scoped
            else "SELECT data FROM chatkit_items WHERE thread_id = :thread AND id = :item"
        ),
        "save_item": (
            "INSERT INTO chatkit_items (thread_id, id, type, created_at, data) "
            f"SELECT :thread, :item, :type, :at, :data WHERE EXISTS ({visible}) "
            "ON CONFLICT (thread_id, id) DO UPDATE SET type = excluded.type, data = excluded.data"
        ),
        "delete_item": (
            f"DELETE FROM chatkit_items WHERE thread_id = :thread AND id = :item AND EXISTS ({visible})"
        ),
        "consumed": (
            "SELECT 1 FROM chatkit_consumed WHERE thread_id = :thread AND item_id = :item "
            f"AND action = :action AND EXISTS ({visible})"
        ),
        "consume": (
            "INSERT INTO chatkit_consumed (thread_id, item_id, action, at) "
            f"SELECT :thread, :item, :action, :at WHERE EXISTS ({visible}) ON CONFLICT DO NOTHING"
        ),
    }


_SQL = {False: _queries(False), True: _queries(True)}


def _migrate(conn: _Conn) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > len(_MIGRATIONS):
            raise RuntimeError(
                f"the SQLite database has schema version {version}, newer than the {len(_MIGRATIONS)} "
                "this chatkit-handlers knows; upgrade chatkit-handlers"
            )
        for target in range(version + 1, len(_MIGRATIONS) + 1):
            for statement in _MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Shared:
    """What every view of one store shares: the connections, the locks, the checkpoints."""

    __slots__ = (
        "checkpoints",
        "free_readers",
        "leases",
        "opening",
        "reader",
        "readers",
        "writer",
        "writer_gate",
    )

    def __init__(self, leases: Leases, checkpoints: Checkpoints) -> None:
        self.leases = leases
        self.checkpoints = checkpoints
        self.opening = anyio.Lock()
        self.writer: _Conn | None = None  # on the event loop: every write, and reads in a transaction
        self.writer_gate = anyio.Semaphore(1, max_value=1, fast_acquire=True)
        self.reader: _Conn | None = None  # on the event loop: point reads outside a transaction
        self.readers: list[_Conn] = []  # in worker threads: listings outside a transaction
        self.free_readers = anyio.Semaphore(1)


class _Tx:
    """A transaction in progress: it holds the writer from its first statement (``BEGIN IMMEDIATE``) on."""

    __slots__ = ("began", "gate")

    def __init__(self) -> None:
        self.began = False
        self.gate = anyio.Lock()  # one BEGIN, even if several tasks share the transaction


class SQLiteStore(ItemsAsJSON):
    """Threads and items in a SQLite file (created, with its schema, on first use).

    >>> store = SQLiteStore("chatkit.sqlite3")

    Locks span processes: any number of server processes on one machine may
    share the file, and actions on a widget (or streams in a thread) are
    serialized across all of them. A lock is a lease in the file, renewed while
    it is held; one left by a crashed process expires after ``lease`` seconds.

    Transactions are real SQLite transactions (``BEGIN IMMEDIATE``), so they are
    atomic and isolated; WAL mode with ``synchronous=NORMAL`` makes a commit
    survive an application crash (a power loss may drop the last commits).
    An action's statements run on the event loop and take microseconds; they
    never wait there for another process's write (see the module docstring).

    Call :meth:`close` on shutdown (e.g. ``Litestar(on_shutdown=[store.close])``).

    Args:
        path: the database file; created on first use.
        owner: derives the owning user's id from the request context (see
            :class:`~chatkit_handlers.stores.MemoryStore`).
        readers: how many reader connections to keep for listings (in worker threads).
        busy_timeout: seconds a statement keeps retrying while another process
            writes (then ``StoreUnavailableError``: 503).
        lease: seconds a lock outlives a process that crashed holding it
            (renewed every third of it while held).
    """

    loads_thread_and_item = True
    records_consumed = True

    @property
    def owner_scoped(self) -> bool:
        """Whether threads belong to owners (``owner=`` given): see ``StoreFeatures``."""
        return self._owner is not None

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        owner: Owner | None = None,
        readers: int = 2,
        busy_timeout: float = 5.0,
        lease: float = 30.0,
    ) -> None:
        self._path = os.fspath(path)
        self._owner = owner
        self._sql = _SQL[owner is not None]
        self._readers = max(1, readers)
        self._busy_timeout = busy_timeout
        self._shared = _Shared(Leases(self._new_connection, lease), Checkpoints(self._new_connection))
        self._holding: tuple[Holding, ...] = ()  # what a lock's view holds (its keys empty once released)
        self._tx: _Tx | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    # ----------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Open the file, creating or migrating its schema (done by first use otherwise)."""
        shared = self._shared
        async with shared.opening:
            if shared.writer is None:
                writer, reader, readers = await _in_thread(self._connect)
                shared.reader, shared.readers = reader, readers
                shared.free_readers = anyio.Semaphore(len(readers), fast_acquire=True)
                shared.writer_gate = anyio.Semaphore(1, max_value=1, fast_acquire=True)
                shared.writer = writer

    async def close(self) -> None:
        """Close the connections; the store reopens them if used again."""
        shared = self._shared
        shared.leases.close()
        async with shared.opening:
            await _in_thread(shared.checkpoints.stop)
            conns = [c for c in (shared.writer, shared.reader, *shared.readers) if c is not None]
            shared.writer, shared.reader, shared.readers = None, None, []
            for conn in conns:
                await _in_thread(conn.close)

    def _connect(self) -> tuple[_Conn, _Conn, list[_Conn]]:
        writer = self._new_connection(on_loop=True)
        conns = [writer]
        try:
            writer.execute("PRAGMA journal_mode = WAL")
            _migrate(writer)
            for _ in range(self._readers + 1):
                conns.append(self._new_connection(on_loop=len(conns) == 1))
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        for reader in conns[1:]:
            reader.execute("PRAGMA query_only = ON")
        return writer, conns[1], conns[2:]

    def _new_connection(self, *, on_loop: bool = False) -> _Conn:
        """A connection to the file; one used on the event loop never waits for a lock nor checkpoints.

        (It fails at once on a lock another process holds, and ``_on_loop``
        retries after an asynchronous pause; its commits leave the WAL to
        ``Checkpoints``.) A thread's connection waits up to ``busy_timeout``.
        """
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False: the
        # event loop's connections are opened (and closed) in a worker thread.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {0 if on_loop else int(self._busy_timeout * 1000)}")
        if on_loop:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def _ready(self) -> _Shared:
        if self._shared.writer is None:
            await self.open()
        return self._shared

    # ----------------------------------------------------------------- running SQL
    #
    # Where each statement runs: the short ones (a thread, an item, a lease, a write) on the
    # event loop, where they take tens of microseconds and never wait (busy_timeout=0: a file
    # another process is writing is retried after an asynchronous pause; no checkpoint);
    # listings (pages of items or threads, whose length the caller chooses) in worker threads,
    # as are opening the file, checkpoints and lease renewal.

    async def _on_loop(self, fn: Callable[[_Conn], T], conn: _Conn) -> T:
        """``fn(conn)`` on the event loop, run again while the file is busy (up to ``busy_timeout``).

        ``fn`` is run again only when it left no transaction open: it either
        changed nothing or rolled back what it did.
        """
        deadline: float | None = None
        pause = _FIRST_PAUSE
        while True:
            try:
                return fn(conn)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or conn.in_transaction:
                    raise StoreUnavailableError(f"SQLite: {exc}") from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._busy_timeout
                elif now >= deadline:
                    raise StoreUnavailableError(f"SQLite: {exc} (for {self._busy_timeout}s)") from exc
                await anyio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, _LONGEST_PAUSE)

    async def _read(self, fn: Callable[[_Conn], T]) -> T:
        """A point read: in the transaction if one is open (it sees its writes), else on the writer when
        no transaction holds it, else on the loop's reader."""
        if self._tx is not None:
            return _in_tx(fn, await self._tx_writer(self._tx))
        shared = self._shared if self._shared.writer is not None else await self._ready()
        assert shared.writer is not None
        assert shared.reader is not None
        gate = shared.writer_gate
        try:
            gate.acquire_nowait()
        except anyio.WouldBlock:  # a transaction holds the writer: the last commit, on the loop's reader
            return await self._on_loop(fn, shared.reader)
        try:  # on the writer, whose page cache its own commits keep (they reset every other connection's)
            return await self._on_loop(fn, shared.writer)
        finally:
            gate.release()

    async def _list(self, fn: Callable[[_Conn], T]) -> T:
        """A listing: in the transaction if one is open, else on a reader in a worker thread."""
        if self._tx is not None:
            return _in_tx(fn, await self._tx_writer(self._tx))
        shared = await self._ready()
        async with shared.free_readers:
            conn = shared.readers.pop()
            try:
                return await _in_thread(fn, conn)
            finally:
                shared.readers.append(conn)

    async def _write(self, fn: Callable[[_Conn], T], *, one_statement: bool = False) -> T:
        """A write: in the transaction if one is open, else in one of its own.

        ``one_statement``: ``fn`` runs a single statement, atomic by itself
        (SQLite's autocommit): no ``BEGIN`` and ``COMMIT`` around it.
        """
        if self._tx is not None:
            return _in_tx(fn, await self._tx_writer(self._tx))
        return await self._on_writer(fn if one_statement else lambda conn: _atomically(conn, fn))

    async def _on_writer(self, fn: Callable[[_Conn], T]) -> T:
        """``fn`` on the writer, outside any transaction, as one commit (what locks are taken with)."""
        shared = self._shared if self._shared.writer is not None else await self._ready()
        gate = shared.writer_gate
        try:  # (free unless a transaction holds the writer: then wait for its end)
            gate.acquire_nowait()
        except anyio.WouldBlock:
            await gate.acquire()
        try:
            assert shared.writer is not None
            result = await self._on_loop(fn, shared.writer)
        finally:
            gate.release()
        shared.checkpoints.committed()
        return result

    async def _tx_writer(self, tx: _Tx) -> _Conn:
        """The writer, in ``tx``'s ``BEGIN IMMEDIATE`` (begun by its first statement)."""
        shared = self._shared
        if not tx.began:
            async with tx.gate:
                if not tx.began:
                    await self._ready()
                    await shared.writer_gate.acquire()
                    try:
                        assert shared.writer is not None
                        await self._on_loop(_begin, shared.writer)
                    except BaseException:
                        shared.writer_gate.release()
                        raise
                    tx.began = True
        assert shared.writer is not None
        return shared.writer

    # ----------------------------------------------------------------- locks and transactions

    def _view(self) -> Self:
        """A copy of this store sharing its connections: what a lock or a transaction yields."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        return view

    def held_keys(self) -> frozenset[LockKey]:
        """The keys this store (a lock's view) holds: locking them again through it does not wait."""
        return frozenset(key for holding in self._holding for key in holding.keys)

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> AsyncIterator[Self]:  # noqa: ASYNC109
        """Hold ``keys`` in every process opening the file (see ``Store.lock`` and the class docstring)."""
        held = self.held_keys() if self._holding else frozenset()
        new = sorted((key for key in dict.fromkeys(keys) if key not in held), key=lock_order)
        if not new:
            yield self
            return
        if self._tx is not None:
            # Its transaction may hold the writer, which taking and releasing leases need.
            raise RuntimeError(
                "SQLiteStore.lock() of keys not held yet, inside a transaction: take the lock "
                "first, then open the transaction through the store it yields"
            )
        leases = self._shared.leases
        holding = await leases.take(new, timeout, self._on_writer)
        view = self._view()
        view._holding = (*self._holding, holding)
        try:
            yield view
        finally:
            await leases.release(holding, self._on_writer)

    @asynccontextmanager
    async def transaction(self, *, context: Any = None) -> AsyncIterator[Self]:
        """A SQLite transaction (``BEGIN IMMEDIATE`` at its first statement): atomic and isolated."""
        if self._tx is not None:
            yield self
            return
        shared = self._shared
        view = self._view()
        view._tx = tx = _Tx()
        try:
            yield view
            if tx.began:
                assert shared.writer is not None
                _in_tx(_commit, shared.writer)
                shared.checkpoints.committed()
        except BaseException:
            if tx.began and shared.writer is not None and shared.writer.in_transaction:
                shared.writer.execute("ROLLBACK")
            raise
        finally:
            if tx.began:
                shared.writer_gate.release()

    # ----------------------------------------------------------------- the Store methods

    def _params(self, context: Any, **params: Any) -> dict[str, Any]:
        params["owner"] = self._owner(context) if self._owner is not None else None
        return params

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        sql = self._sql["load_thread"]
        params = self._params(context, thread=thread_id)
        row = await self._read(lambda c: c.execute(sql, params).fetchone())
        if row is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        return _decode_thread(row[0])

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        sql = self._sql["save_thread"]
        params = self._params(
            context, thread=thread.id, at=thread.created_at.isoformat(), data=_encode(thread).decode()
        )
        await self._write(_changes_one(sql, params, f"thread {thread.id!r} not found"), one_statement=True)

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        visible, sql = self._sql["visible"], self._sql["page_asc" if order == "asc" else "page_desc"]
        limit = max(limit, 0)
        params = self._params(context, thread=thread_id, after=after, limit=limit + 1)

        def page(conn: _Conn) -> list[Any] | None:
            if conn.execute(visible, params).fetchone() is None:
                return None
            return conn.execute(sql, params).fetchall()

        rows = await self._list(page)
        if rows is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        chosen = rows[:limit]
        return Page(
            data=[_decode_item(data) for _, data in chosen],
            has_more=len(rows) > limit,
            after=chosen[-1][0] if chosen else None,
        )

    async def load_threads(
        self,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page[ThreadMetadata]:
        """A page of the threads ``context`` may see, by ``created_at`` then id (see ``Store``)."""
        sql = self._sql["threads_asc" if order == "asc" else "threads_desc"]
        limit = max(limit, 0)
        params = self._params(context, after=after, limit=limit + 1)
        rows = await self._list(lambda c: c.execute(sql, params).fetchall())
        chosen = rows[:limit]
        return Page(
            data=[_decode_thread(data) for _, data in chosen],
            has_more=len(rows) > limit,
            after=chosen[-1][0] if chosen else None,
        )

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any = None
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        """The thread and one of its items (``None`` if missing) in one query."""
        sql = self._sql["load_thread_and_item"]
        params = self._params(context, thread=thread_id, item=item_id)
        row = await self._read(lambda c: c.execute(sql, params).fetchone())
        if row is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        thread, item = row
        return _decode_thread(thread), None if item is None else _decode_item(item)

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        sql = self._sql["load_item"]
        params = self._params(context, thread=thread_id, item=item_id)
        row = await self._read(lambda c: c.execute(sql, params).fetchone())
        if row is None:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}")
        return _decode_item(row[0])

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        await self.save_item(thread_id, item, context=context)

    async def _save_data(self, thread_id: str, item: ThreadItem, data: bytes, context: Any) -> None:
        """``save_item`` and ``save_item_json`` (``ItemsAsJSON``): ``data`` is the item's JSON."""
        sql = self._sql["save_item"]
        params = self._params(
            context,
            thread=thread_id,
            item=item.id,
            type=item.__struct_config__.tag,
            at=item.created_at.isoformat(),
            data=data.decode(),
        )
        await self._write(_changes_one(sql, params, f"thread {thread_id!r} not found"), one_statement=True)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        sql, visible = self._sql["delete_item"], self._sql["visible"]
        params = self._params(context, thread=thread_id, item=item_id)

        def delete(conn: _Conn) -> None:
            if conn.execute(sql, params).rowcount == 0 and conn.execute(visible, params).fetchone() is None:
                raise NotFoundError(f"thread {thread_id!r} not found")

        await self._write(delete)

    async def consumed(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Whether ``action`` from widget ``item_id`` took effect already (see ``StoreFeatures``)."""
        sql = self._sql["consumed"]
        params = self._params(context, thread=thread_id, item=item_id, action=action)
        return await self._read(lambda c: c.execute(sql, params).fetchone() is not None)

    async def consume(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Record that ``action`` from widget ``item_id`` took effect; ``False`` if it already had.

        In a transaction, the record is part of it (the primary key refuses a
        second one, whichever process writes it).
        """
        if self._tx is None:
            async with self.transaction(context=context) as tx:
                return await tx.consume(thread_id, item_id, action, context=context)
        sql, visible = self._sql["consume"], self._sql["visible"]
        at = datetime.now(UTC).isoformat()
        params = self._params(context, thread=thread_id, item=item_id, action=action, at=at)

        def insert(conn: _Conn) -> bool:
            if conn.execute(sql, params).rowcount == 1:
                return True
            if conn.execute(visible, params).fetchone() is None:
                raise NotFoundError(f"thread {thread_id!r} not found")
            return False

        return await self._write(insert)  # in the transaction


def _changes_one(sql: str, params: dict[str, Any], missing: str) -> Callable[[_Conn], None]:
    """A write that must change a row (else the thread is missing, or not the caller's)."""

    def write(conn: _Conn) -> None:
        if conn.execute(sql, params).rowcount == 0:
            raise NotFoundError(missing)

    return write


def _begin(conn: _Conn) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: _Conn) -> None:
    conn.execute("COMMIT")


def _atomically(conn: _Conn, fn: Callable[[_Conn], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # (a failed COMMIT leaves it open)
            conn.execute("ROLLBACK")
        raise
    return result


def _in_tx(fn: Callable[[_Conn], T], conn: _Conn) -> T:
    """``fn(conn)`` inside a transaction that holds the writer: it cannot find the file busy."""
    try:
        return fn(conn)
    except sqlite3.OperationalError as exc:  # unreadable, a disk error
        raise StoreUnavailableError(f"SQLite: {exc}") from exc


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock ``exc`` met (SQLITE_BUSY or SQLITE_LOCKED, any extended code)."""
    return exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread; SQLite's operational errors (the file locked by another
    process past ``busy_timeout``, unreadable, a disk error) as ``StoreUnavailableError``."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except sqlite3.OperationalError as exc:
        raise StoreUnavailableError(f"SQLite: {exc}") from exc

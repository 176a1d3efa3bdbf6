"""``PostgresStore``: the scale-out backend, shared by several server processes.

Needs ``asyncpg`` (``pip install chatkit-handlers[postgres]``).

Actions are serialized across processes with PostgreSQL session advisory locks
(``pg_advisory_lock``) on a 64-bit hash of the lock key and the schema. A lock
is held on one pooled connection for the whole action, and every read and
write of that action goes through that connection, so an action never waits
for a second connection while holding a lock (no pool deadlock). A lock dies
with its session, so a crashed process never leaves a thread locked. No
transaction stays open while a handler runs: the writes are one short
transaction at the end.

Threads and items are ``json`` columns (not ``jsonb``, which reorders keys)
holding exactly the wire encoding.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias

import anyio
import asyncpg
import msgspec

from ..errors import LockTimeoutError, NotFoundError, StoreUnavailableError
from ..types import Page, ThreadItem, ThreadMetadata
from ._base import ItemsAsJSON, LockKey, Owner, lock_order

__all__ = ["PostgresStore"]

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    _Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_decode_item = _item_decoder.decode

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# Migration n brings a schema at version n-1 to n. Append, never edit. {s} is the schema.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {s}.chatkit_threads (
            id text PRIMARY KEY,
            owner text,
            created_at timestamptz NOT NULL,
            data json NOT NULL
        )""",
        """CREATE TABLE {s}.chatkit_items (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thread_id text NOT NULL REFERENCES {s}.chatkit_threads (id) ON DELETE CASCADE,
            id text NOT NULL,
            type text NOT NULL,
            created_at timestamptz NOT NULL,
            data json NOT NULL,
            UNIQUE (thread_id, id)
        )""",
        "CREATE INDEX chatkit_items_by_thread ON {s}.chatkit_items (thread_id, seq)",
    ),
    (  # 2: widget actions consumed by on_action(once=True) routes
        """CREATE TABLE {s}.chatkit_consumed (
            thread_id text NOT NULL REFERENCES {s}.chatkit_threads (id) ON DELETE CASCADE,
            item_id text NOT NULL,
            action text NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (thread_id, item_id, action)
        )""",
    ),
)

_MAX_WAIT = 2_147_483.0
"""The longest ``lock_timeout`` PostgreSQL takes (its int of milliseconds, ~24.8 days)."""

_NO_WAIT = 0.005
"""Seconds ``lock(timeout=0)`` gives the pool to hand over a free connection."""

_BACKGROUND: set[asyncio.Task[Any]] = set()
"""Acquisitions nobody waits for any more, and the tasks giving their connections back."""

logger = logging.getLogger("chatkit_handlers")

# lock_timeout local to the statement: bounds this wait only, and never leaks into the session.
_LOCK = "SELECT pg_advisory_lock($2) FROM (SELECT set_config('lock_timeout', $1, true)) AS _cfg"
_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
_UNLOCK = "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k"
_UNLOCK_ALL = "SELECT pg_advisory_unlock_all()"


def _queries(s: str, scoped: bool) -> dict[str, str]:
    """The SQL of every operation in schema ``s``; with ``scoped``, the owner is the last argument."""
    threads, items = f"{s}.chatkit_threads", f"{s}.chatkit_items"

    def own(n: int) -> str:
        return f" AND owner IS NOT DISTINCT FROM ${n}" if scoped else ""

    page = (
        f"SELECT id, data FROM {items} WHERE thread_id = $1 "
        f"AND EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(4)}) "
        f"AND seq {{cmp}} coalesce((SELECT seq FROM {items} WHERE thread_id = $1 AND id = $2), {{edge}}) "
        "ORDER BY seq {direction} LIMIT $3"
    )
    # Threads by created_at, then id (bytewise, as the other stores compare them); the page
    # starts after the cursor thread, if the caller may see it.
    threads_page = (
        f"SELECT t.id, t.data FROM {threads} t LEFT JOIN ("
        f"SELECT created_at, id FROM {threads} WHERE id = $1{own(3)}"
        ') c ON true WHERE (c.id IS NULL OR (t.created_at, t.id COLLATE "C") {cmp} (c.created_at, c.id))'
        + (" AND t.owner IS NOT DISTINCT FROM $3" if scoped else "")
        + ' ORDER BY t.created_at {direction}, t.id COLLATE "C" {direction} LIMIT $2'
    )
    return {
        "visible": f"SELECT 1 FROM {threads} WHERE id = $1{own(2)}",
        "threads_asc": threads_page.format(cmp=">", direction="ASC"),
        "threads_desc": threads_page.format(cmp="<", direction="DESC"),
        "load_thread": f"SELECT data FROM {threads} WHERE id = $1{own(2)}",
        "load_thread_and_item": (
            f"SELECT t.data, i.data FROM {threads} t "
            f"LEFT JOIN {items} i ON i.thread_id = t.id AND i.id = $2 WHERE t.id = $1{own(3)}"
        ),
        "save_thread": (
            f"INSERT INTO {threads} (id, owner, created_at, data) "
            "VALUES ($1, $2, $3::text::timestamptz, $4::json) "
            "ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data"
            + (f" WHERE {threads}.owner IS NOT DISTINCT FROM EXCLUDED.owner" if scoped else "")
        ),
        "page_asc": page.format(cmp=">", edge=-1, direction="ASC"),
        "page_desc": page.format(cmp="<", edge=2**63 - 1, direction="DESC"),
        "load_item": (
            f"SELECT data FROM {items} WHERE thread_id = $1 AND id = $2"
            + (f" AND EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(3)})" if scoped else "")
        ),
        "save_item": (
            f"INSERT INTO {items} (thread_id, id, type, created_at, data) "
            "SELECT $1::text, $2::text, $3::text, $4::text::timestamptz, $5::json "
            f"WHERE EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(6)}) "
            "ON CONFLICT (thread_id, id) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data"
        ),
        "delete_item": (
            f"DELETE FROM {items} WHERE thread_id = $1 AND id = $2"
            + (f" AND EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(3)})" if scoped else "")
        ),
        "consumed": (
            f"SELECT 1 FROM {s}.chatkit_consumed WHERE thread_id = $1 AND item_id = $2 AND action = $3"
            + (f" AND EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(4)})" if scoped else "")
        ),
        "consume": (
            f"INSERT INTO {s}.chatkit_consumed (thread_id, item_id, action) "
            "SELECT $1::text, $2::text, $3::text "
            f"WHERE EXISTS (SELECT 1 FROM {threads} WHERE id = $1{own(4)}) ON CONFLICT DO NOTHING"
        ),
    }


class _Shared:
    """What every view of one store shares: its pools, and whether the tables are ready."""

    __slots__ = ("given", "opening", "pools", "ready", "schema")

    def __init__(self, pool: _Pool | None, schema: str) -> None:
        self.opening = anyio.Lock()
        self.given = pool
        # asyncpg connections belong to the event loop that opened them; a store used from
        # several loops (test clients run apps in loops of their own) gets a pool per loop.
        self.pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
        self.ready = False
        self.schema = schema

    def pool(self) -> _Pool | None:
        if self.given is not None:
            return self.given
        return self.pools.get(asyncio.get_running_loop())


class PostgresStore(ItemsAsJSON):
    """Threads and items in PostgreSQL; tables are created (or migrated) on first use.

    >>> store = PostgresStore("postgresql://app@db/app")  # doctest: +SKIP

    Locks span processes (advisory locks, see the module docstring), so any
    number of server processes may share one database. Transactions are
    PostgreSQL transactions (READ COMMITTED).

    Size the pool for the concurrency you expect: a running stream keeps one
    connection for its lock, a sync action keeps one while its handler runs.

    Call :meth:`close` on shutdown (e.g. ``Litestar(on_shutdown=[store.close])``).

    Args:
        dsn: a ``postgresql://`` URL, or an ``asyncpg.Pool`` the store uses (and
            does not close).
        schema: the schema holding the tables (created if missing); one schema
            per application (or per test run).
        owner: derives the owning user's id from the request context (see
            :class:`~chatkit_handlers.stores.MemoryStore`).
        min_size: the pool's minimum size (when the store creates it).
        max_size: the pool's maximum size (when the store creates it).
    """

    __slots__ = ("_conn", "_dsn", "_held", "_in_tx", "_lock_salt", "_owner", "_shared", "_sizes", "_sql")

    loads_thread_and_item = True
    records_consumed = True

    @property
    def owner_scoped(self) -> bool:
        """Whether threads belong to owners (``owner=`` given): see ``StoreFeatures``."""
        return self._owner is not None

    def __init__(
        self,
        dsn: str | _Pool,
        *,
        schema: str = "public",
        owner: Owner | None = None,
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"schema must be a plain SQL identifier (letters, digits, _), got {schema!r}")
        self._dsn = dsn if isinstance(dsn, str) else None
        self._shared = _Shared(None if isinstance(dsn, str) else dsn, f'"{schema}"')
        self._sizes = (min_size, max_size)
        self._owner = owner
        self._sql = _queries(f'"{schema}"', owner is not None)
        self._lock_salt = f"chatkit-handlers\x1f{schema}\x1f"
        self._conn: _Conn | None = None
        self._held: frozenset[LockKey] = frozenset()
        self._in_tx = False

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._shared.schema})"

    # ----------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Create the pool and the tables (done by first use otherwise)."""
        await self._ready()

    async def close(self) -> None:
        """Close the pools the store created; they are created again if the store is used again."""
        shared = self._shared
        async with shared.opening:
            current = asyncio.get_running_loop()
            pools = list(shared.pools.items())
            shared.pools.clear()
            for loop, pool in pools:
                if loop is current:
                    await pool.close()
                elif not loop.is_closed():  # a loop running in another thread
                    loop.call_soon_threadsafe(pool.terminate)
                # a closed loop's connections were cut when it closed

    async def _ready(self) -> _Pool:
        shared = self._shared
        pool = shared.pool()
        if pool is not None and shared.ready:
            return pool
        async with shared.opening:
            pool = shared.pool()
            if pool is None:
                assert self._dsn is not None
                min_size, max_size = self._sizes
                pool = await asyncpg.create_pool(self._dsn, min_size=min_size, max_size=max_size)
                shared.pools[asyncio.get_running_loop()] = pool
            if not shared.ready:
                async with pool.acquire() as conn:
                    await _migrate(conn, shared.schema)
                shared.ready = True
            return pool

    # ----------------------------------------------------------------- locks and transactions

    def _bound(self, conn: _Conn, *, held: frozenset[LockKey] | None = None, in_tx: bool = False) -> Self:
        view = copy.copy(self)
        view._conn = conn
        view._held = self._held if held is None else held
        view._in_tx = self._in_tx or in_tx
        return view

    def _lock_id(self, key: LockKey) -> int:
        digest = hashlib.blake2b((self._lock_salt + "\x1f".join(key)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> AsyncIterator[Self]:  # noqa: ASYNC109
        """Hold ``keys`` as session advisory locks (see the module docstring)."""
        new = sorted((key for key in dict.fromkeys(keys) if key not in self._held), key=lock_order)
        if not new:
            yield self
            return
        held = self._held.union(new)
        if self._conn is not None:
            await self._take(self._conn, new, timeout)
            try:
                yield self._bound(self._conn, held=held)
            finally:
                await _release(self._conn, [self._lock_id(k) for k in new])
            return
        try:
            pool = await self._ready()
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc
        started = time.monotonic()
        try:
            proxy = await _acquire(pool, timeout)
        except TimeoutError:
            if timeout:  # a real wait, not a try: say what the client's "busy" really was
                logger.warning(
                    "no connection of the PostgreSQL pool came free within %ss (max_size %s), "
                    "so the action is refused as busy: running actions hold them (a stream keeps "
                    "one for its whole run) or opening one took that long. Size the pool for the "
                    "concurrency you expect.",
                    timeout,
                    pool.get_max_size(),
                )
            raise LockTimeoutError(new[0], timeout) from None
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc
        try:
            await self._take(proxy, new, timeout, started)  # one timeout for the connection and the keys
            try:
                yield self._bound(proxy, held=held)
            finally:
                if self._shared.given is not None:
                    # Our own pools reset a connection they get back with pg_advisory_unlock_all();
                    # an application's pool may reset its connections its own way.
                    await _release(proxy, None)
        finally:
            with anyio.CancelScope(shield=True):
                await pool.release(proxy)

    async def _take(
        self,
        conn: _Conn,
        keys: Sequence[LockKey],
        timeout: float | None,  # noqa: ASYNC109
        started: float | None = None,
    ) -> None:
        """Take ``keys`` on ``conn`` within ``timeout`` seconds of ``started`` (``time.monotonic()``, now)."""
        deadline = None if timeout is None else (time.monotonic() if started is None else started) + timeout
        taken: list[int] = []
        try:
            for key in keys:
                lock_id = self._lock_id(key)
                if deadline is not None and timeout is not None and timeout <= 0:
                    if not await conn.fetchval(_TRY_LOCK, lock_id):
                        raise LockTimeoutError(key, timeout)
                else:
                    left = (
                        0
                        if deadline is None
                        else max(1, int(min(deadline - time.monotonic(), _MAX_WAIT) * 1000))
                    )
                    try:
                        await conn.execute(_LOCK, f"{left}ms", lock_id)
                    except asyncpg.LockNotAvailableError:
                        raise LockTimeoutError(key, timeout) from None
                taken.append(lock_id)
        except _TRANSLATED as exc:  # the connection lost, say
            await _release(conn, taken)
            raise self._translated(exc) from exc
        except BaseException:
            await _release(conn, taken)
            raise

    @asynccontextmanager
    async def transaction(self, *, context: Any = None) -> AsyncIterator[Self]:
        """A PostgreSQL transaction on one connection (the lock's, when locked)."""
        if self._in_tx:
            yield self
            return
        if self._conn is not None:
            async with self._conn.transaction():
                yield self._bound(self._conn, in_tx=True)
            return
        pool = await self._ready()
        async with pool.acquire() as conn, conn.transaction():
            yield self._bound(conn, in_tx=True)

    # ----------------------------------------------------------------- the Store methods

    def _target(self) -> _Conn | _Pool:
        conn = self._conn
        if conn is not None:
            return conn
        pool = self._shared.pool()
        if pool is None or not self._shared.ready:
            raise _NotOpen
        return pool

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        try:
            try:
                target = self._target()
            except _NotOpen:
                target = await self._ready()
            return await target.fetchval(sql, *args)
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            try:
                target = self._target()
            except _NotOpen:
                target = await self._ready()
            return await target.fetch(sql, *args)
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc

    async def _execute(self, sql: str, *args: Any) -> str:
        try:
            try:
                target = self._target()
            except _NotOpen:
                target = await self._ready()
            result: str = await target.execute(sql, *args)
            return result
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc

    def _translated(self, exc: BaseException) -> Exception:
        """asyncpg's error as the store's own.

        A NUL in a text parameter (an id nobody can have stored): not found. A
        database that cannot be reached or used right now: unavailable. Its
        tables gone (the database dropped and created again under a running
        server): unavailable too, and the next call creates them again, so the
        store recovers without a restart.
        """
        if isinstance(exc, asyncpg.CharacterNotInRepertoireError):
            return NotFoundError(f"no thread or item has that id ({exc})")
        if isinstance(exc, asyncpg.UndefinedTableError | asyncpg.InvalidSchemaNameError):
            self._shared.ready = False
        return StoreUnavailableError(f"PostgreSQL: {type(exc).__name__}: {exc}")

    def _own(self, context: Any) -> tuple[str | None, ...]:
        return (self._owner(context),) if self._owner is not None else ()

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        data = await self._fetchval(self._sql["load_thread"], thread_id, *self._own(context))
        if data is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        return _decode_thread(data)

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        owner = self._owner(context) if self._owner is not None else None
        status = await self._execute(
            self._sql["save_thread"],
            thread.id,
            owner,
            thread.created_at.isoformat(),
            _encode(thread).decode(),
        )
        if status.endswith(" 0"):
            raise NotFoundError(f"thread {thread.id!r} not found")

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        limit = max(limit, 0)
        sql = self._sql["page_asc" if order == "asc" else "page_desc"]
        rows = await self._fetch(sql, thread_id, after, limit + 1, *self._own(context))
        if not rows and await self._fetchval(self._sql["visible"], thread_id, *self._own(context)) is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        chosen = rows[:limit]
        return Page(
            data=[_decode_item(row[1]) for row in chosen],
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
        limit = max(limit, 0)
        rows = await self._fetch(
            self._sql["threads_asc" if order == "asc" else "threads_desc"],
            after,
            limit + 1,
            *self._own(context),
        )
        chosen = rows[:limit]
        return Page(
            data=[_decode_thread(row[1]) for row in chosen],
            has_more=len(rows) > limit,
            after=chosen[-1][0] if chosen else None,
        )

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any = None
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        """The thread and one of its items (``None`` if missing) in one round trip."""
        try:
            try:
                target = self._target()
            except _NotOpen:
                target = await self._ready()
            row = await target.fetchrow(
                self._sql["load_thread_and_item"], thread_id, item_id, *self._own(context)
            )
        except _TRANSLATED as exc:
            raise self._translated(exc) from exc
        if row is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        thread, item = row
        return _decode_thread(thread), None if item is None else _decode_item(item)

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        data = await self._fetchval(self._sql["load_item"], thread_id, item_id, *self._own(context))
        if data is None:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}")
        return _decode_item(data)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        await self.save_item(thread_id, item, context=context)

    async def _save_data(self, thread_id: str, item: ThreadItem, data: bytes, context: Any) -> None:
        """``save_item`` and ``save_item_json`` (``ItemsAsJSON``): ``data`` is the item's JSON."""
        status = await self._execute(
            self._sql["save_item"],
            thread_id,
            item.id,
            item.__struct_config__.tag,
            item.created_at.isoformat(),
            data.decode(),
            *self._own(context),
        )
        if status.endswith(" 0"):
            raise NotFoundError(f"thread {thread_id!r} not found")

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        own = self._own(context)
        status = await self._execute(self._sql["delete_item"], thread_id, item_id, *own)
        if status.endswith(" 0") and await self._fetchval(self._sql["visible"], thread_id, *own) is None:
            raise NotFoundError(f"thread {thread_id!r} not found")

    async def consumed(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Whether ``action`` from widget ``item_id`` took effect already (see ``StoreFeatures``)."""
        found = await self._fetchval(self._sql["consumed"], thread_id, item_id, action, *self._own(context))
        return found is not None

    async def consume(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Record that ``action`` from widget ``item_id`` took effect; ``False`` if it already had.

        The primary key refuses a second record: in a transaction, a concurrent
        one (another process's) waits for the first to commit, then records nothing.
        """
        own = self._own(context)
        status = await self._execute(self._sql["consume"], thread_id, item_id, action, *own)
        if status.endswith(" 1"):
            return True
        if await self._fetchval(self._sql["visible"], thread_id, *own) is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        return False


class _NotOpen(Exception):
    pass


_TRANSLATED = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UndefinedTableError,
    asyncpg.InvalidSchemaNameError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    OSError,
)
"""What asyncpg raises that the store reports as its own errors (``PostgresStore._translated``)."""


async def _migrate(conn: _Conn, schema: str) -> None:
    """Create or upgrade the tables; an advisory lock keeps concurrent starts from racing."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"chatkit-handlers migrate {schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.chatkit_schema (version int NOT NULL)")
        version = await conn.fetchval(f"SELECT max(version) FROM {schema}.chatkit_schema") or 0
        if version > len(_MIGRATIONS):
            raise RuntimeError(
                f"the PostgreSQL schema {schema} has version {version}, newer than the {len(_MIGRATIONS)} "
                "this chatkit-handlers knows; upgrade chatkit-handlers"
            )
        for target in range(version + 1, len(_MIGRATIONS) + 1):
            for statement in _MIGRATIONS[target - 1]:
                await conn.execute(statement.format(s=schema))
            await conn.execute(f"INSERT INTO {schema}.chatkit_schema (version) VALUES ($1)", target)


async def _acquire(pool: _Pool, timeout: float | None) -> _Conn:  # noqa: ASYNC109
    """A pool connection, waited for at most ``timeout`` seconds (``None``: without limit).

    A full pool is a wait like a held key's: ``timeout=0`` refuses at once (after
    ``_NO_WAIT``, the turn of the loop asyncpg needs to hand over a free one).
    A connection the pool is still opening when the wait ends is not thrown
    away: it is opened and put back for the next action. (Cancelling asyncpg's
    acquire mid-connect discards it, so with waits as short as ``timeout=0``
    gives, a pool with unopened slots would never open one.) So ``timeout=0``
    may also refuse while the pool opens a connection (a stream then waits for
    its locks inside the stream; a sync action is answered 409, retryable).
    """
    if timeout is None or timeout >= _MAX_WAIT:  # (math.inf too)
        return await pool.acquire()
    acquiring: asyncio.Task[_Conn] = asyncio.ensure_future(pool.acquire())
    try:
        done, _ = await asyncio.wait((acquiring,), timeout=max(timeout, _NO_WAIT))
    except BaseException:
        _give_back_when_acquired(pool, acquiring)
        raise
    if not done:
        _give_back_when_acquired(pool, acquiring)
        raise TimeoutError
    return acquiring.result()


def _give_back_when_acquired(pool: _Pool, acquiring: asyncio.Task[_Conn]) -> None:
    """Release the connection ``acquiring`` gets, once it does (nobody waits for it any more)."""
    _keep(acquiring)

    def give_back(task: asyncio.Task[_Conn]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # nobody awaits it any more: say so instead of losing it
            logger.warning("a pool connection nobody waited for any more could not be had", exc_info=error)
        else:
            _keep(task.get_loop().create_task(_give_back(pool, task.result())))

    acquiring.add_done_callback(give_back)


async def _give_back(pool: _Pool, conn: _Conn) -> None:
    try:
        await pool.release(conn)
    except Exception:  # nobody awaits this task: say what went wrong instead of losing it
        logger.exception("could not give a pool connection back")


def _keep(task: asyncio.Task[Any]) -> None:
    """Hold a strong reference to ``task`` until it is done (asyncio keeps only weak ones)."""
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _release(conn: _Conn, lock_ids: list[int] | None) -> None:
    """Release advisory locks (``None``: all of the session's); kill the session if that fails."""
    with anyio.CancelScope(shield=True):
        try:
            if lock_ids is None:
                await conn.execute(_UNLOCK_ALL)
            elif lock_ids:
                await conn.execute(_UNLOCK, lock_ids)
        except Exception:
            # A session's locks die with it: better a lost connection than a thread locked forever.
            conn.terminate()

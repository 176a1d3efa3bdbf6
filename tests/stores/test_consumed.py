"""Consumed widget actions (``on_action(once=True)``): what every store records, and how.

``consumed`` says whether an action from a widget took effect; ``consume``
records it once (``False`` the second time) and, in a transaction, is kept or
rolled back with the transaction's writes. The SQL stores migrate files and
schemas made before the record existed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _stores_support import BACKENDS, POSTGRES_DSN, drop_schema, new_schema, open_store, require_postgres

from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.stores import Features, SQLiteStore, Store
from chatkit_handlers.stores.sqlite import SCHEMA_VERSION
from chatkit_handlers.types import ThreadMetadata, WidgetItem

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with open_store(str(request.param), tmp_path, owner=lambda user: user) as opened:
        await opened.save_thread(ThreadMetadata(id="thr_1"), context="ada")
        yield opened


def card(n: int) -> WidgetItem:
    return WidgetItem(id="wid_1", thread_id="thr_1", widget={"type": "Card", "children": [], "key": str(n)})


async def test_every_store_declares_it(store: Store) -> None:
    assert Features.of(store).records_consumed


async def test_an_action_is_consumed_once_per_widget_and_route(store: Any) -> None:
    assert not await store.consumed("thr_1", "wid_1", "order.place", context="ada")
    assert await store.consume("thr_1", "wid_1", "order.place", context="ada") is True
    assert await store.consumed("thr_1", "wid_1", "order.place", context="ada")
    assert await store.consume("thr_1", "wid_1", "order.place", context="ada") is False  # a replay
    # another route, another widget: not consumed
    assert not await store.consumed("thr_1", "wid_1", "order.cancel", context="ada")
    assert not await store.consumed("thr_1", "wid_2", "order.place", context="ada")


async def test_the_record_is_kept_or_rolled_back_with_the_transaction(store: Any) -> None:
    async def consume_then_fail() -> None:
        async with store.transaction(context="ada") as tx:
            assert await tx.consume("thr_1", "wid_1", "order.place", context="ada")
            await tx.save_item("thr_1", card(1), context="ada")
            raise Boom

    with pytest.raises(Boom):
        await consume_then_fail()
    assert not await store.consumed("thr_1", "wid_1", "order.place", context="ada")
    async with store.transaction(context="ada") as tx:
        assert await tx.consume("thr_1", "wid_1", "order.place", context="ada")
        await tx.save_item("thr_1", card(2), context="ada")
    assert await store.consumed("thr_1", "wid_1", "order.place", context="ada")
    stored = await store.load_item("thr_1", "wid_1", context="ada")
    assert stored.widget["key"] == "2"


@pytest.mark.parametrize("kind", [k for k in BACKENDS if k != "chatkit"])  # (the adapter: see its docstring)
async def test_another_users_thread_records_nothing(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        await store.save_thread(ThreadMetadata(id="thr_1"), context="ada")
        records: Any = store
        with pytest.raises(NotFoundError):
            await records.consume("thr_1", "wid_1", "order.place", context="eve")
        assert not await records.consumed("thr_1", "wid_1", "order.place", context="eve")
        assert not await records.consumed("thr_1", "wid_1", "order.place", context="ada")
        with pytest.raises(NotFoundError):
            await records.consume("thr_missing", "wid_1", "order.place", context="ada")


# ------------------------------------------------------------------------------ migrations


_V1_SQLITE = (
    "CREATE TABLE chatkit_threads (id TEXT PRIMARY KEY, owner TEXT, created_at TEXT NOT NULL, "
    "data TEXT NOT NULL CHECK (json_valid(data)))",
    "CREATE TABLE chatkit_items (seq INTEGER PRIMARY KEY, thread_id TEXT NOT NULL REFERENCES "
    "chatkit_threads (id) ON DELETE CASCADE, id TEXT NOT NULL, type TEXT NOT NULL, created_at TEXT NOT NULL, "
    "data TEXT NOT NULL CHECK (json_valid(data)), UNIQUE (thread_id, id))",
    "CREATE INDEX chatkit_items_by_thread ON chatkit_items (thread_id, seq)",
)


async def test_sqlite_migrates_a_file_made_before_consumed_actions(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    thread = ThreadMetadata(id="thr_old")
    with sqlite3.connect(path) as conn:  # a file as version 1 of the store left it, with a thread
        for statement in _V1_SQLITE:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO chatkit_threads VALUES (?, NULL, ?, ?)",
            ("thr_old", thread.created_at.isoformat(), msgspec.json.encode(thread).decode()),
        )
        conn.execute("PRAGMA user_version = 1")
    store = SQLiteStore(path)
    try:
        assert (await store.load_thread("thr_old")).id == "thr_old"  # the data is still there
        assert await store.consume("thr_old", "wid_1", "order.place")
        assert await store.consumed("thr_old", "wid_1", "order.place")
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_postgres_migrates_a_schema_made_before_consumed_actions() -> None:
    import asyncpg

    from chatkit_handlers.stores import PostgresStore
    from chatkit_handlers.stores.postgres import _MIGRATIONS

    require_postgres()
    schema = new_schema()
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:  # the schema as version 1 of the store left it, with a thread
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        for statement in _MIGRATIONS[0]:
            await conn.execute(statement.format(s=f'"{schema}"'))
        await conn.execute(f'CREATE TABLE "{schema}".chatkit_schema (version int NOT NULL)')
        await conn.execute(f'INSERT INTO "{schema}".chatkit_schema VALUES (1)')
        await conn.execute(
            f"INSERT INTO \"{schema}\".chatkit_threads VALUES ('thr_old', NULL, now(), $1::json)",
            msgspec.json.encode(ThreadMetadata(id="thr_old")).decode(),
        )
    finally:
        await conn.close()
    store = PostgresStore(POSTGRES_DSN, schema=schema)
    try:
        assert (await store.load_thread("thr_old")).id == "thr_old"
        assert await store.consume("thr_old", "wid_1", "order.place")
        assert await store.consumed("thr_old", "wid_1", "order.place")
    finally:
        await store.close()
        await drop_schema(schema)

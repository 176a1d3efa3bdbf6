"""Sync-action throughput per store backend (printed, not asserted).

    .venv/bin/python bench/stores.py            # a few seconds per backend
    .venv/bin/python bench/stores.py --smoke    # a couple of seconds in all

Runs ``counter.increment`` through the dispatch core (no HTTP: the store is what
is measured) with concurrent clients, in two shapes: every client clicking the
same widget (contended: the widget's lock serializes them) and each client on
its own widget (independent). PostgreSQL is measured when a server answers at
``CHATKIT_TEST_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from chatkit_handlers import ActionRouter  # noqa: E402
from chatkit_handlers.dispatch import Dispatcher  # noqa: E402
from chatkit_handlers.stores import ChatKitStoreAdapter, MemoryStore, SQLiteStore, Store  # noqa: E402
from chatkit_handlers.types import ThreadMetadata, WidgetItem  # noqa: E402
from examples.bridge.store import MemoryChatKitStore  # noqa: E402
from examples.counter import handlers  # noqa: E402
from examples.counter.widgets import counter_card  # noqa: E402

DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def backend(name: str, workdir: Path) -> AsyncIterator[Store | None]:
    if name == "memory":
        yield MemoryStore()
    elif name == "sqlite":
        sqlite = SQLiteStore(workdir / f"{uuid.uuid4().hex}.sqlite3")
        try:
            yield sqlite
        finally:
            await sqlite.close()
    elif name == "chatkit adapter":
        yield ChatKitStoreAdapter(MemoryChatKitStore())
    else:
        import asyncpg

        from chatkit_handlers.stores import PostgresStore

        try:
            await (await asyncpg.connect(DSN, timeout=3)).close()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            yield None
            return
        schema = f"ckh_bench_{uuid.uuid4().hex[:12]}"
        postgres = PostgresStore(DSN, schema=schema, max_size=20)
        try:
            yield postgres
        finally:
            await postgres.close()
            conn = await asyncpg.connect(DSN)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()


async def measure(store: Store, clients: int, actions: int, *, shared_widget: bool) -> tuple[float, float]:
    """Run ``actions`` clicks from ``clients`` concurrent clients; (actions/s, mean latency in ms)."""
    thread = f"thr_{uuid.uuid4().hex[:8]}"
    await store.save_thread(ThreadMetadata(id=thread), context=None)
    widgets = ["wid_shared"] if shared_widget else [f"wid_{i}" for i in range(clients)]
    for widget in widgets:
        await store.add_thread_item(
            thread, WidgetItem(id=widget, thread_id=thread, widget=counter_card(0)), context=None
        )
    router = ActionRouter()
    router.include(handlers)
    dispatcher = Dispatcher(router, store, lock_timeout=None)
    bodies = [
        msgspec.json.encode(
            {
                "type": "threads.sync_custom_action",
                "params": {
                    "thread_id": thread,
                    "item_id": widgets[i % len(widgets)],
                    "action": {"type": "counter.increment", "payload": {"by": 1}},
                },
            }
        )
        for i in range(clients)
    ]
    per_client = max(1, actions // clients)
    latency = 0.0

    async def client(body: bytes) -> None:
        nonlocal latency
        for _ in range(per_client):
            started = time.perf_counter()
            result = await dispatcher.dispatch(body)
            latency += time.perf_counter() - started
            assert result.status_code == 200, result.body

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for body in bodies:
            tg.start_soon(client, body)
    elapsed = time.perf_counter() - started
    done = per_client * clients
    return done / elapsed, latency / done * 1000


async def main(smoke: bool) -> None:
    names = ["memory", "sqlite", "postgres", "chatkit adapter"]
    shapes: list[tuple[str, int, bool]] = [
        ("one client", 1, True),
        ("one widget", 16, True),
        ("own widgets", 16, False),
    ]
    actions = 60 if smoke else 2000
    print(f"sync actions (counter.increment) through Dispatcher.dispatch, {actions} per row\n")
    print(f"{'backend':<16} {'shape':<12} {'clients':>7} {'actions/s':>10} {'mean ms':>8}")
    row: Callable[..., str] = "{:<16} {:<12} {:>7} {:>10.0f} {:>8.2f}".format
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            async with backend(name, Path(workdir)) as store:
                if store is None:
                    print(f"{name:<16} (skipped: no PostgreSQL at {DSN})")
                    continue
                for shape, clients, shared in shapes:
                    rate, mean = await measure(store, clients, actions, shared_widget=shared)
                    print(row(name, shape, clients, rate, mean))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run that only checks the benchmark works"
    )
    anyio.run(main, parser.parse_args().smoke)

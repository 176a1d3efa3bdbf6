"""The app ``bench.default_store`` serves: the counter three ways, in one uvicorn process.

- ``/chatkit``: ours on ``MemoryStore``;
- ``/chatkit-sqlite``: ours on ``SQLiteStore`` (the file ``BENCH_SQLITE`` names);
- ``/peer/sqlite``: openai-chatkit's server on a SQLite store of its own
  (``BENCH_PEER_SQLITE``; ``bench/_peer_sqlite.py``);
- ``/bare/asgi``: what the harness probes to know the server is up.

uvicorn bench._stores_app:app   (with both variables set)
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar

from bench._apps import bare_asgi, make_router, peer_handler, seed_ours
from bench._peer_sqlite import peer_sqlite_server
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore, SQLiteStore

memory = MemoryStore()
sqlite = SQLiteStore(os.environ["BENCH_SQLITE"])


async def _seed() -> None:
    await seed_ours(memory)
    await seed_ours(sqlite)


def _build() -> Any:
    return Litestar(
        route_handlers=[
            bare_asgi,
            peer_handler(peer_sqlite_server(os.environ["BENCH_PEER_SQLITE"]), "/peer/sqlite"),
        ],
        plugins=[
            ChatKitPlugin(make_router(), store=memory, path="/chatkit"),
            ChatKitPlugin(make_router(), store=sqlite, path="/chatkit-sqlite"),
        ],
        on_startup=[_seed],
        on_shutdown=[sqlite.close],
        debug=False,
        logging_config=None,
    )


app = _build()

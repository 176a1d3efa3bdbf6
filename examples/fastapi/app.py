"""The counter example in FastAPI: ``uvicorn examples.fastapi.app:app``.

The same handlers as ``examples/counter``, mounted with the plain ASGI app
``ChatKitApp`` at ``/chatkit``, over the same SQLite file and demo thread. The
per-request context comes from a header here (``X-User``); in a real app it is
the user your authentication put in ``scope["user"]`` (``request.user``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatkit_handlers import ActionRouter, RequestView
from chatkit_handlers.asgi import ChatKitApp
from chatkit_handlers.stores import SQLiteStore
from examples.counter import handlers
from examples.counter.app import seed

router = ActionRouter()
router.include(handlers)
store = SQLiteStore(os.environ.get("CHATKIT_SQLITE_PATH") or "chatkit.sqlite3")


def user(request: RequestView) -> str | None:
    """Who is asking (what ``ctx.context`` holds in the handlers)."""
    return request.headers.get("x-user")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await seed(store)
    yield
    await store.close()


app = FastAPI(lifespan=lifespan)
# A route of its own answers exactly /chatkit; app.mount("/chatkit", ...) would answer /chatkit/
# and redirect /chatkit there.
# (Starlette types a route's endpoint as a request function; an ASGI app is served as one too.)
app.add_route("/chatkit", ChatKitApp(router, store=store, context=user))  # type: ignore[arg-type]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}

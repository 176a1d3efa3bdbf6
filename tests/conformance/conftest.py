"""Fixtures of the conformance suite: a seeded chatkit store, the server, both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conformance_app import CONTEXT, BridgeMode, ConformanceServer, HTTPMode, make_app, router, seeded_store
from litestar.testing import AsyncTestClient

from examples.bridge.store import MemoryChatKitStore


@pytest.fixture
async def chatkit_store() -> MemoryChatKitStore:
    """The server's chatkit store: ``THREAD`` holding the counter widget ``ITEM`` at 0."""
    return await seeded_store()


@pytest.fixture
def server(chatkit_store: MemoryChatKitStore) -> ConformanceServer:
    """A ChatKitServer whose actions go through the router (``RoutedActions``)."""
    return ConformanceServer(chatkit_store)


@pytest.fixture
async def client(server: ConformanceServer) -> AsyncIterator[AsyncTestClient[Any]]:
    """An HTTP client of the Litestar app in one-endpoint mode over ``server``."""
    async with AsyncTestClient(make_app(server)) as http:
        yield http


@pytest.fixture
async def asgi_clients(chatkit_store: MemoryChatKitStore) -> AsyncIterator[dict[str, Any]]:
    """HTTP clients of ``ChatKitApp`` at ``/chatkit`` in FastAPI and in Starlette, over the same store."""
    import httpx
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Route

    from chatkit_handlers.asgi import ChatKitApp
    from chatkit_handlers.stores.chatkit import ChatKitStoreAdapter

    def chatkit_app() -> ChatKitApp:
        return ChatKitApp(router, store=ChatKitStoreAdapter(chatkit_store), context=lambda request: CONTEXT)

    fastapi = FastAPI()
    fastapi.add_route("/chatkit", chatkit_app())
    apps = {"fastapi": fastapi, "starlette": Starlette(routes=[Route("/chatkit", chatkit_app())])}
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for name, app in apps.items()
    }
    try:
        yield clients
    finally:
        for http in clients.values():
            await http.aclose()


@pytest.fixture(params=["http", "bridge", "fastapi", "starlette"])
def mode(
    request: pytest.FixtureRequest,
    server: ConformanceServer,
    client: AsyncTestClient[Any],
    asgi_clients: dict[str, Any],
) -> Any:
    """Each action test runs once per mode; all share ``server``'s store."""
    if request.param == "http":
        return HTTPMode(client)
    if request.param == "bridge":
        return BridgeMode(server)
    return HTTPMode(asgi_clients[request.param])

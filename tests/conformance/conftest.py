"""Fixtures of the conformance suite: a seeded chatkit store, the server, both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conformance_app import BridgeMode, ConformanceServer, HTTPMode, make_app, seeded_store
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


@pytest.fixture(params=["http", "bridge"])
def mode(request: pytest.FixtureRequest, server: ConformanceServer, client: AsyncTestClient[Any]) -> Any:
    """Each action test runs once per mode; both share ``server`` and its store."""
    return HTTPMode(client) if request.param == "http" else BridgeMode(server)

"""chatkit-handlers' pytest plugin (entry point ``pytest11``): fixtures for testing handlers.

Loaded by pytest automatically once chatkit-handlers is installed. It imports
``chatkit_handlers`` only inside its fixtures, so installing the package costs
other projects' test runs nothing, and ``pytest --cov=chatkit_handlers``
measures the package from its first import. Fixtures:

- ``action_client``: an ``ActionTestClient`` for your ``action_router``
  fixture (which you define: an ``ActionRouter``, or a Litestar app with a
  ``ChatKitPlugin``), using ``memory_store`` (for a router) and
  ``action_context`` (the per-request context, ``None`` unless you override
  it). For an app the client is entered, so the app's lifespan runs.
- ``memory_store``: a fresh ``MemoryStore`` per test.

The client is async: mark tests ``@pytest.mark.anyio`` (anyio's own pytest
plugin runs them; pytest-asyncio is not needed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chatkit_handlers.stores import MemoryStore
    from chatkit_handlers.testing import ActionTestClient

__all__ = ["action_client", "action_context", "action_router", "memory_store"]


@pytest.fixture
def memory_store() -> MemoryStore:
    """A fresh, empty ``MemoryStore``."""
    from chatkit_handlers.stores import MemoryStore

    return MemoryStore()


@pytest.fixture
def action_router() -> Any:
    """Override in your conftest.py: return the ``ActionRouter`` (or Litestar app) under test."""
    raise pytest.UsageError(
        "the action_client fixture needs your handlers: define a fixture named `action_router` "
        "in conftest.py returning your ActionRouter (or a Litestar app with ChatKitPlugin)"
    )


@pytest.fixture
def action_context() -> Any:
    """The per-request context handlers receive (``None``); override it to act as a user."""
    return None


@pytest.fixture
async def action_client(
    action_router: Any, memory_store: MemoryStore, action_context: Any
) -> AsyncIterator[ActionTestClient]:
    """An ``ActionTestClient`` for ``action_router``, entered for the test's duration."""
    from chatkit_handlers import ActionRouter
    from chatkit_handlers.testing import ActionTestClient

    store = memory_store if isinstance(action_router, ActionRouter) else None
    async with ActionTestClient(action_router, store, action_context) as client:
        yield client

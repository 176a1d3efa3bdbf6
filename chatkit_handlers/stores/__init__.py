"""Stores: where threads and widget items are persisted.

``Store`` is the protocol the dispatcher talks to. ``SQLiteStore`` is the
embedded default, ``PostgresStore`` the backend for several server processes
(``chatkit-handlers[postgres]``), ``ChatKitStoreAdapter`` reuses an existing
openai-chatkit store (``chatkit-handlers[chatkit]``), and ``MemoryStore`` keeps
everything in the process (tests, demos). ``PostgresStore`` and
``ChatKitStoreAdapter`` import their optional dependencies only when first
accessed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import LockTimeoutError, NotFoundError
from ._base import (
    Features,
    ItemsAsJSON,
    LockKey,
    Owner,
    Store,
    StoreFeatures,
    item_lock,
    lock_order,
    thread_lock,
)
from ._locks import Lease, LocalLocks
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .chatkit import ChatKitStoreAdapter
    from .postgres import PostgresStore

__all__ = [
    "ChatKitStoreAdapter",
    "Features",
    "ItemsAsJSON",
    "Lease",
    "LocalLocks",
    "LockKey",
    "LockTimeoutError",
    "MemoryStore",
    "NotFoundError",
    "Owner",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreFeatures",
    "item_lock",
    "lock_order",
    "thread_lock",
]

_LAZY = {"PostgresStore": ".postgres", "ChatKitStoreAdapter": ".chatkit"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)

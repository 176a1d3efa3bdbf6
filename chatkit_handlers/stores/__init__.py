"""Stores: where threads and widget items are persisted.

``Store`` is the protocol the dispatcher talks to; ``MemoryStore`` keeps
everything in the process.
"""

from __future__ import annotations

from ..errors import NotFoundError
from ._base import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "NotFoundError", "Store"]

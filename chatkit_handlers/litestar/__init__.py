"""Mount chatkit-handlers in a Litestar app: ``ChatKitPlugin``.

>>> app = Litestar(plugins=[ChatKitPlugin(router, store=MemoryStore(), path="/chatkit")])  # doctest: +SKIP
"""

from __future__ import annotations

from .plugin import ChatKitPlugin, ContextFactory

__all__ = ["ChatKitPlugin", "ContextFactory"]

"""The widget playground: a development page served by ``ChatKitPlugin(..., playground=True)``.

The page (``index.html`` and the files beside it: plain HTML, CSS and ES
modules, no build step) lists the store's threads, renders their widgets as
ChatKit does and sends their actions to the real endpoint as ChatKit.js sends
them. ``Playground`` answers everything under the playground's path: the page,
its files and the small JSON API the page reads.
"""

from __future__ import annotations

from .app import Playground, TemplateSource, load_templates, playground_path

__all__ = ["Playground", "TemplateSource", "load_templates", "playground_path"]

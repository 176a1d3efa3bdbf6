"""The app the HTTP bench serves (every variant of bench/_apps.py on one app).

uvicorn bench._http_app:app --port 8000
granian --interface asgi bench._http_app:app
"""

from __future__ import annotations

from bench._apps import build_app
from chatkit_handlers.stores import MemoryStore

app = build_app(MemoryStore(), seed=True)

"""Shared fixtures: the anyio backend, a seeded MemoryStore, request bodies, SSE parsing.

Other test areas append fixtures here; keep each one small and documented.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import anyio
import msgspec
import pytest
from routing_support import parse_sse

from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata, WidgetItem
from examples.counter.widgets import counter_card

with warnings.catch_warnings():
    # openai-chatkit (a dev dependency) warns about its own deprecated widget classes
    # while defining them; import it once, quietly, before any test module does.
    warnings.filterwarnings("ignore", "Direct usage of named widget classes", DeprecationWarning)
    import chatkit.types  # noqa: F401

# The counter example keeps its SQLite file in the working directory; tests must not.
os.environ.setdefault(
    "CHATKIT_SQLITE_PATH", os.path.join(tempfile.mkdtemp(prefix="chatkit-tests-"), "example.sqlite3")
)

THREAD_ID = "thr_test"
"""The thread the ``store`` fixture holds."""
ITEM_ID = "wid_counter"
"""The counter widget item (count 0) in ``THREAD_ID``."""
OTHER_ITEM_ID = "msg_hello"
"""An assistant message (not a widget) in ``THREAD_ID``."""

BodyBuilder = Callable[..., bytes]
SSEParser = Callable[[bytes], list[dict[str, Any]]]


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


async def seed_store(store: MemoryStore) -> None:
    """Put ``THREAD_ID`` (with server-only metadata) holding a counter widget (0) and an
    assistant message in ``store``."""
    thread = ThreadMetadata(id=THREAD_ID, title="Test thread", metadata={"owner": "private-owner"})
    await store.save_thread(thread, context=None)
    await store.add_thread_item(
        THREAD_ID, WidgetItem(id=ITEM_ID, thread_id=THREAD_ID, widget=counter_card(0)), context=None
    )
    await store.add_thread_item(
        THREAD_ID,
        AssistantMessageItem(
            id=OTHER_ITEM_ID, thread_id=THREAD_ID, content=[AssistantMessageContent(text="hello")]
        ),
        context=None,
    )


class SeedIds(NamedTuple):
    """The ids the ``store`` fixture seeds."""

    thread: str = THREAD_ID
    item: str = ITEM_ID
    message: str = OTHER_ITEM_ID


@pytest.fixture
def ids() -> SeedIds:
    """``ids.thread``, ``ids.item`` (the counter widget), ``ids.message`` (not a widget)."""
    return SeedIds()


@pytest.fixture
def store() -> MemoryStore:
    """A MemoryStore holding ``THREAD_ID`` with the counter widget ``ITEM_ID`` at 0."""
    memory = MemoryStore()
    anyio.run(seed_store, memory)
    return memory


def build_body(
    action_type: str,
    payload: Any = None,
    *,
    streaming: bool = True,
    thread_id: str = THREAD_ID,
    item_id: str | None = ITEM_ID,
    omit_payload: bool = False,
    **action_extra: Any,
) -> bytes:
    """A ``threads.custom_action`` (or ``threads.sync_custom_action``) request body."""
    action: dict[str, Any] = {"type": action_type, **action_extra}
    if not omit_payload:
        action["payload"] = payload
    params: dict[str, Any] = {"thread_id": thread_id, "action": action}
    if item_id is not None:
        params["item_id"] = item_id
    kind = "threads.custom_action" if streaming else "threads.sync_custom_action"
    return msgspec.json.encode({"type": kind, "params": params})


@pytest.fixture
def action_body() -> BodyBuilder:
    """``action_body("counter.reset")`` / ``action_body("x", {"by": 2}, streaming=False)``."""
    return build_body


@pytest.fixture
def sse_events() -> SSEParser:
    """``sse_events(response.content)``: the decoded events of an SSE body (framing checked)."""
    return parse_sse

"""Thread changes are found by comparing the thread with how it was when first handed out.

``ctx.thread`` notes the thread's state on first access (property read, ``thread``
parameter, assignment), so a handler that never looks at it costs no check and
no write (bench/README.md); these pin that every way of changing it is still seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing import ActionTestClient
from chatkit_handlers.types import ThreadMetadata, ThreadUpdatedEvent

pytestmark = pytest.mark.anyio


class CountingStore(MemoryStore):
    """A MemoryStore noting the titles of the threads written (its lock views share the list)."""

    __slots__ = ("thread_writes",)

    def __init__(self) -> None:
        super().__init__()
        self.thread_writes: list[str | None] = []

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        self.thread_writes.append(thread.title)
        await super().save_thread(thread, context=context)


def title_router() -> ActionRouter:
    router = ActionRouter()

    @router.on_action("untouched", streaming=False)
    async def untouched(ctx: ActionContext[Any]) -> None:
        assert ctx.sender is not None

    @router.on_action("read_only", streaming=False)
    async def read_only(thread: ThreadMetadata) -> None:
        assert thread.title == "Start"

    @router.on_action("rename_param", streaming=False)
    async def rename_param(thread: ThreadMetadata) -> None:
        thread.title = "by parameter"

    @router.on_action("replace", streaming=False)
    async def replace(ctx: ActionContext[Any]) -> None:
        ctx.thread = msgspec.structs.replace(ctx.thread, title="replaced")

    @router.on_action("replace_blind", streaming=False)
    async def replace_blind(ctx: ActionContext[Any]) -> None:
        # Assigned without ever reading it first: still a change.
        ctx.thread = ThreadMetadata(id="thr_t", title="replaced blind")

    def look(ctx: ActionContext[Any]) -> None:  # a guard reading the thread before the handler
        assert ctx.thread.id == "thr_t"

    @router.on_action("rename_after_guard", streaming=False, guards=[look])
    async def rename_after_guard(ctx: ActionContext[Any]) -> None:
        ctx.thread.title = "after guard"

    @router.on_action("stream_replace")
    async def stream_replace(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("one")
        ctx.thread = msgspec.structs.replace(ctx.thread, title="streamed")
        yield ctx.progress("two")
        ctx.thread.title = "streamed twice"  # the replacement, changed in place at the end

    @router.on_action("stream_untouched")
    async def stream_untouched(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("nothing to save")

    return router


async def client_with_thread() -> tuple[ActionTestClient, CountingStore, Any]:
    store = CountingStore()
    client = ActionTestClient(title_router(), store, thread_id="thr_t")
    await store.save_thread(ThreadMetadata(id="thr_t", title="Start"), context=None)
    item = await client.add_widget({"type": "Card", "children": []})
    store.thread_writes.clear()
    return client, store, item


async def test_a_handler_that_never_looks_at_the_thread_writes_no_thread() -> None:
    client, store, item = await client_with_thread()
    await client.sync("untouched", sender=item)
    await client.sync("read_only", sender=item)
    await client.stream("stream_untouched", sender=item)
    assert store.thread_writes == []
    assert (await store.load_thread("thr_t")).title == "Start"


@pytest.mark.parametrize(
    ("action", "title"),
    [
        ("rename_param", "by parameter"),
        ("replace", "replaced"),
        ("replace_blind", "replaced blind"),
        ("rename_after_guard", "after guard"),
    ],
)
async def test_every_way_of_changing_the_thread_in_a_sync_handler_is_saved(action: str, title: str) -> None:
    client, store, item = await client_with_thread()
    await client.sync(action, sender=item)
    assert (await store.load_thread("thr_t")).title == title
    assert store.thread_writes == [title]


async def test_a_stream_that_replaces_the_thread_announces_and_saves_each_change() -> None:
    client, store, item = await client_with_thread()
    events = await client.stream("stream_replace", sender=item)
    titles = [e.thread.title for e in events if isinstance(e, ThreadUpdatedEvent)]
    assert titles == ["streamed", "streamed twice"]
    assert (await store.load_thread("thr_t")).title == "streamed twice"
    assert store.thread_writes == ["streamed twice"]  # the latest state, once, when the stream ends


def test_a_context_built_by_hand_still_reads_and_sets_its_thread() -> None:
    ctx: ActionContext[Any] = ActionContext(thread=ThreadMetadata(id="thr_1"))
    assert ctx.thread.id == "thr_1"
    ctx.thread = ThreadMetadata(id="thr_2")
    assert ctx.thread.id == "thr_2"
    assert "thr_2" in repr(ctx)

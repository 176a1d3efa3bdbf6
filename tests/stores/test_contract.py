"""The contract every store passes: Memory, SQLite, PostgreSQL, and a chatkit Store behind the adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from _stores_support import BACKENDS, open_store, wire

from chatkit_handlers._wire.chatkit import chatkit_time
from chatkit_handlers.errors import LockTimeoutError, NotFoundError
from chatkit_handlers.stores import Features, Store, item_lock, thread_lock
from chatkit_handlers.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    EndOfTurnItem,
    HiddenContextItem,
    LockedStatus,
    SDKHiddenContextItem,
    TaskItem,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    WidgetItem,
)
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio

_encode = msgspec.json.encode


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(kind, tmp_path) as opened:
        yield opened


def widget(item_id: str, n: int = 0, thread: str = "thr_1") -> WidgetItem:
    return WidgetItem(id=item_id, thread_id=thread, widget=counter_card(n), copy_text=f"count {n}")


def every_item_type(thread: str = "thr_1") -> list[ThreadItem]:
    return [
        widget("wid_1", 7, thread),
        AssistantMessageItem(
            id="msg_1",
            thread_id=thread,
            content=[AssistantMessageContent(text="héllo ✓")],
        ),
        UserMessageItem(
            id="usr_1",
            thread_id=thread,
            content=[{"type": "input_text", "text": "hi"}],
            inference_options={"model": "gpt-test"},
        ),
        HiddenContextItem(id="hcx_1", thread_id=thread, content={"nested": [1, 2.5, None, "x"]}),
        SDKHiddenContextItem(id="shcx_1", thread_id=thread, content="note"),
        EndOfTurnItem(id="eot_1", thread_id=thread),
        ClientToolCallItem(id="ctc_1", thread_id=thread, call_id="call_1", name="f", arguments={"a": [1]}),
        TaskItem(id="tsk_1", thread_id=thread, task={"type": "custom", "title": "Step", "content": "done"}),
    ]


def count(item: ThreadItem) -> int:
    assert isinstance(item, WidgetItem)
    return int(item.widget["children"][0]["value"])


async def new_thread(store: Store, thread_id: str = "thr_1", context: Any = None) -> ThreadMetadata:
    thread = ThreadMetadata(id=thread_id, title="Title", metadata={"k": [1, {"a": None}]})
    await store.save_thread(thread, context=context)
    return thread


async def ids(store: Store, thread: str = "thr_1", **page: Any) -> list[str]:
    args = {"after": None, "limit": 100, "order": "asc"} | page
    result = await store.load_thread_items(thread, args["after"], args["limit"], args["order"], context=None)
    return [item.id for item in result.data]


# --------------------------------------------------------------------------- data


async def test_thread_round_trips_byte_for_byte(store: Store, kind: str) -> None:
    thread = ThreadMetadata(
        id="thr_1",
        title="Ünïcode",
        status=LockedStatus(reason="busy"),
        allowed_image_domains=["example.com"],
        metadata={"k": [1, {"a": None}], "z": 1.5},
    )
    await store.save_thread(thread, context=None)
    expected = thread
    if kind == "chatkit":  # times enter a chatkit store as chatkit's own are: naive, local
        expected = msgspec.structs.replace(thread, created_at=chatkit_time(thread.created_at))
    assert _encode(await store.load_thread("thr_1", context=None)) == _encode(expected)


async def test_save_thread_updates_and_keeps_items(store: Store) -> None:
    thread = await new_thread(store)
    await store.add_thread_item("thr_1", widget("wid_1"), context=None)
    thread.title = "Renamed"
    await store.save_thread(thread, context=None)
    assert (await store.load_thread("thr_1", context=None)).title == "Renamed"
    assert await ids(store) == ["wid_1"]


async def test_every_item_type_round_trips_equal_on_the_wire(store: Store, kind: str) -> None:
    await new_thread(store)
    items = every_item_type()
    for item in items:
        await store.add_thread_item("thr_1", item, context=None)
    for item in items:
        loaded = await store.load_item("thr_1", item.id, context=None)
        assert _encode(loaded) == wire(kind, item)
        # a second trip is stable on every backend
        await store.save_item("thr_1", loaded, context=None)
        assert _encode(await store.load_item("thr_1", item.id, context=None)) == _encode(loaded)
    page = await store.load_thread_items("thr_1", None, 100, "asc", context=None)
    assert [_encode(i) for i in page.data] == [wire(kind, i) for i in items]


async def test_what_json_allows_comes_back_as_json_would_give_it(store: Store, kind: str) -> None:
    """Every store keeps the wire encoding: an int dict key comes back a string, a big int and a
    time zone as they were (a binary encoding in MemoryStore once broke all three); a chatkit
    store keeps the time as chatkit's own times are, naive and local."""
    aware = datetime(2026, 11, 25, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    thread = ThreadMetadata(id="thr_1", created_at=aware, metadata={"big": 2**70, 7: "int key"})  # type: ignore[dict-item]
    await store.save_thread(thread, context=None)
    item = widget("wid_1")
    item.widget["children"][0]["n"] = {3: 2**70}
    await store.add_thread_item("thr_1", item, context=None)
    loaded = await store.load_thread("thr_1", context=None)
    assert loaded.metadata == {"big": 2**70, "7": "int key"}
    if kind == "chatkit":
        assert loaded.created_at == chatkit_time(aware)
    else:
        assert loaded.created_at == aware
        assert loaded.created_at.utcoffset() == timedelta(hours=2)
    reloaded = await store.load_item("thr_1", "wid_1", context=None)
    assert isinstance(reloaded, WidgetItem)
    assert reloaded.widget["children"][0]["n"] == {"3": 2**70}


async def test_unknown_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_missing", context=None)
    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_missing", None, 10, "asc", context=None)
    with pytest.raises(NotFoundError):
        await store.load_item("thr_missing", "wid_1", context=None)
    with pytest.raises(NotFoundError):
        await store.add_thread_item("thr_missing", widget("wid_1", thread="thr_missing"), context=None)
    with pytest.raises(NotFoundError):
        await store.save_item("thr_missing", widget("wid_1", thread="thr_missing"), context=None)
    with pytest.raises(NotFoundError):
        await store.delete_thread_item("thr_missing", "wid_1", context=None)
    await new_thread(store)
    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "wid_missing", context=None)
    await store.delete_thread_item("thr_1", "wid_missing", context=None)  # already gone: no error


async def test_save_item_keeps_its_place_and_delete_removes(store: Store) -> None:
    await new_thread(store)
    for n in range(4):
        await store.add_thread_item("thr_1", widget(f"wid_{n}", n), context=None)
    await store.save_item("thr_1", widget("wid_1", 42), context=None)
    await store.save_item("thr_1", widget("wid_9", 9), context=None)  # save of a new id appends
    assert await ids(store) == ["wid_0", "wid_1", "wid_2", "wid_3", "wid_9"]
    assert count(await store.load_item("thr_1", "wid_1", context=None)) == 42
    await store.delete_thread_item("thr_1", "wid_2", context=None)
    assert await ids(store) == ["wid_0", "wid_1", "wid_3", "wid_9"]
    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "wid_2", context=None)


@pytest.mark.parametrize(
    ("after", "limit", "order"),
    [
        (None, 2, "asc"),
        ("wid_1", 2, "asc"),
        ("wid_3", 2, "asc"),
        ("wid_4", 2, "asc"),
        (None, 2, "desc"),
        ("wid_3", 10, "desc"),
        ("wid_0", 3, "desc"),
        ("wid_unknown", 3, "asc"),
        (None, 0, "asc"),
    ],
)
async def test_pages_follow_the_reference(store: Store, after: str | None, limit: int, order: Any) -> None:
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    await store.save_thread(ThreadMetadata(id="thr_2"), context=None)
    every = [f"wid_{n}" for n in range(5)]
    for item_id in every:
        await store.add_thread_item("thr_1", widget(item_id), context=None)
        await store.add_thread_item("thr_2", widget(item_id + "_other", thread="thr_2"), context=None)
    ordered = every if order == "asc" else every[::-1]
    start = ordered.index(after) + 1 if after in ordered else 0
    expected = ordered[start : start + limit]
    page = await store.load_thread_items("thr_1", after, limit, order, context=None)
    assert [i.id for i in page.data] == expected
    assert page.has_more == (start + limit < len(ordered))
    assert page.after == (expected[-1] if expected else None)


# created_at of thr_0 .. thr_5: ties (broken by id), another UTC offset, microseconds apart
_T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
THREAD_TIMES = {
    "thr_3": _T0,
    "thr_0": _T0 + timedelta(minutes=1),
    "thr_5": _T0 + timedelta(minutes=1),
    "thr_1": _T0 + timedelta(minutes=1, microseconds=1),
    "thr_4": (_T0 + timedelta(minutes=2)).astimezone(timezone(timedelta(hours=-5))),  # 07:02-05:00
    "thr_2": (_T0 + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=2))),
}
THREADS_ASC = ["thr_3", "thr_0", "thr_5", "thr_1", "thr_4", "thr_2"]


@pytest.mark.parametrize(
    ("after", "limit", "order"),
    [
        (None, 100, "asc"),
        (None, 100, "desc"),
        (None, 2, "asc"),
        ("thr_0", 2, "asc"),
        ("thr_5", 3, "asc"),
        ("thr_2", 2, "asc"),
        (None, 4, "desc"),
        ("thr_5", 10, "desc"),
        ("thr_3", 3, "desc"),
        ("thr_unknown", 3, "asc"),
        (None, 0, "asc"),
    ],
)
async def test_thread_pages_follow_the_reference(
    store: Store, after: str | None, limit: int, order: Any
) -> None:
    for thread_id in sorted(THREAD_TIMES, reverse=True):  # saved in neither order
        await store.save_thread(
            ThreadMetadata(id=thread_id, created_at=THREAD_TIMES[thread_id]), context=None
        )
    ordered = THREADS_ASC if order == "asc" else THREADS_ASC[::-1]
    start = ordered.index(after) + 1 if after in ordered else 0
    expected = ordered[start : start + limit]
    page = await store.load_threads(limit, after, order, context=None)
    assert [thread.id for thread in page.data] == expected
    assert page.has_more == (start + limit < len(ordered))
    assert page.after == (expected[-1] if expected else None)


async def test_a_listed_thread_is_the_loaded_thread(store: Store) -> None:
    thread = await new_thread(store)
    await store.add_thread_item("thr_1", widget("wid_1"), context=None)
    (listed,) = (await store.load_threads(10, None, "asc", context=None)).data
    assert _encode(listed) == _encode(await store.load_thread("thr_1", context=None))
    assert (listed.title, listed.metadata) == (thread.title, thread.metadata)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])  # the backends with the optional method
async def test_load_thread_and_item_agrees_with_the_two_loads(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        assert Features.of(store).loads_thread_and_item
        thread = await new_thread(store, "thr_a", context="alice")
        await store.add_thread_item("thr_a", widget("wid_1", 3, thread="thr_a"), context="alice")
        loaded, item = await store.load_thread_and_item("thr_a", "wid_1", context="alice")
        assert _encode(loaded) == _encode(thread)
        assert _encode(item) == _encode(await store.load_item("thr_a", "wid_1", context="alice"))
        assert (await store.load_thread_and_item("thr_a", "wid_missing", context="alice"))[1] is None
        for thread_id, user in (("thr_missing", "alice"), ("thr_a", "bob")):  # missing, or not bob's
            with pytest.raises(NotFoundError):
                await store.load_thread_and_item(thread_id, "wid_1", context=user)
        async with store.transaction(context="alice") as tx:  # reads a transaction's own writes
            await tx.save_item("thr_a", widget("wid_1", 8, thread="thr_a"), context="alice")
            assert Features.of(tx).loads_thread_and_item
            _, item = await tx.load_thread_and_item("thr_a", "wid_1", context="alice")
            assert item is not None
            assert count(item) == 8


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])  # the backends with the optional method
async def test_save_item_json_saves_what_save_item_does(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        assert Features.of(store).saves_item_json
        await new_thread(store, "thr_a", context="alice")
        items = every_item_type("thr_a")
        for item in items:
            await store.save_item_json("thr_a", item, _encode(item), context="alice")
        for item in items:
            assert _encode(await store.load_item("thr_a", item.id, context="alice")) == wire(kind, item)
        page = await store.load_thread_items("thr_a", None, 100, "asc", context="alice")
        assert [i.id for i in page.data] == [i.id for i in items]  # in the order saved
        updated = widget("wid_1", 9, thread="thr_a")
        await store.save_item_json("thr_a", updated, _encode(updated), context="alice")
        assert count(await store.load_item("thr_a", "wid_1", context="alice")) == 9
        for thread_id, user in (("thr_missing", "alice"), ("thr_a", "bob")):  # missing, or not bob's
            with pytest.raises(NotFoundError):
                await store.save_item_json(thread_id, updated, _encode(updated), context=user)
        rolled_back = widget("wid_1", 10, thread="thr_a")

        async def write_then_fail() -> None:
            async with store.transaction(context="alice") as tx:  # a transaction's view has it too
                assert Features.of(tx).saves_item_json
                await tx.save_item_json("thr_a", rolled_back, _encode(rolled_back), context="alice")
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await write_then_fail()
        assert count(await store.load_item("thr_a", "wid_1", context="alice")) == 9


# --------------------------------------------------------------------------- per-user scoping


async def test_threads_are_scoped_to_their_owner(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        await new_thread(store, "thr_a", context="alice")
        await store.add_thread_item("thr_a", widget("wid_1", thread="thr_a"), context="alice")
        assert (await store.load_thread("thr_a", context="alice")).id == "thr_a"
        assert (await store.load_item("thr_a", "wid_1", context="alice")).id == "wid_1"
        for attempt in (
            store.load_thread("thr_a", context="bob"),
            store.load_item("thr_a", "wid_1", context="bob"),
            store.load_thread_items("thr_a", None, 10, "asc", context="bob"),
            store.save_item("thr_a", widget("wid_1", 99, "thr_a"), context="bob"),
            store.add_thread_item("thr_a", widget("wid_2", thread="thr_a"), context="bob"),
            store.delete_thread_item("thr_a", "wid_1", context="bob"),
            store.save_thread(ThreadMetadata(id="thr_a", title="stolen"), context="bob"),
        ):
            with pytest.raises(NotFoundError):
                await attempt
        # bob changed nothing
        assert (await store.load_thread("thr_a", context="alice")).title == "Title"
        assert (await store.load_threads(10, None, "asc", context="bob")).data == []
        assert count(await store.load_item("thr_a", "wid_1", context="alice")) == 0
        page = await store.load_thread_items("thr_a", None, 10, "asc", context="alice")
        assert [i.id for i in page.data] == ["wid_1"]


async def test_a_store_says_whether_its_threads_have_owners(kind: str, tmp_path: Path) -> None:
    """What the dispatcher asks before waiting for a busy lock: may the caller not see the thread?"""
    async with (
        open_store(kind, tmp_path) as shared,
        open_store(kind, tmp_path, owner=lambda user: user) as scoped,
    ):
        assert Features.of(scoped).owner_scoped
        # (chatkit's stores scope by context as they like: the adapter cannot tell, so it says yes)
        assert Features.of(shared).owner_scoped is (kind == "chatkit")


async def test_each_owner_lists_only_their_threads(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as store:
        for n, user in enumerate(["alice", "bob", "alice", "bob", "alice"]):
            thread = ThreadMetadata(id=f"thr_{user}_{n}", created_at=_T0 + timedelta(seconds=n))
            await store.save_thread(thread, context=user)

        async def listed(
            user: str, after: str | None = None, order: Any = "asc", limit: int = 10
        ) -> list[str]:
            page = await store.load_threads(limit, after, order, context=user)
            return [thread.id for thread in page.data]

        assert await listed("alice") == ["thr_alice_0", "thr_alice_2", "thr_alice_4"]
        assert await listed("bob") == ["thr_bob_1", "thr_bob_3"]
        assert await listed("bob", order="desc") == ["thr_bob_3", "thr_bob_1"]
        assert await listed("carol") == []
        # paging through one's own threads only
        first = await store.load_threads(1, None, "asc", context="bob")
        assert ([t.id for t in first.data], first.has_more) == (["thr_bob_1"], True)
        last = await store.load_threads(1, first.after, "asc", context="bob")
        assert ([t.id for t in last.data], last.has_more) == (["thr_bob_3"], False)
        # another owner's thread as the cursor tells nothing: the page starts from the first
        assert await listed("bob", after="thr_alice_2") == ["thr_bob_1", "thr_bob_3"]


# --------------------------------------------------------------------------- transactions


async def test_transaction_commits_every_write(store: Store) -> None:
    thread = await new_thread(store)
    await store.add_thread_item("thr_1", widget("wid_1"), context=None)
    async with store.transaction(context=None) as tx:
        thread.title = "In tx"
        await tx.save_thread(thread, context=None)
        await tx.save_item("thr_1", widget("wid_1", 5), context=None)
        await tx.add_thread_item("thr_1", widget("wid_2"), context=None)
        # reads inside the transaction see its own writes
        assert count(await tx.load_item("thr_1", "wid_1", context=None)) == 5
    assert (await store.load_thread("thr_1", context=None)).title == "In tx"
    assert await ids(store) == ["wid_1", "wid_2"]


async def test_transaction_that_raises_leaves_the_store_as_it_was(store: Store, kind: str) -> None:
    thread = await new_thread(store)
    for n in range(3):
        await store.add_thread_item("thr_1", widget(f"wid_{n}", n), context=None)
    before = [
        _encode(i) for i in (await store.load_thread_items("thr_1", None, 10, "asc", context=None)).data
    ]

    class Boom(Exception):
        pass

    async def half_done() -> None:
        async with store.transaction(context=None) as tx:
            thread.title = "Half done"
            await tx.save_thread(thread, context=None)
            await tx.save_item("thr_1", widget("wid_0", 100), context=None)
            await tx.add_thread_item("thr_1", widget("wid_new"), context=None)
            await tx.delete_thread_item("thr_1", "wid_1", context=None)
            async with tx.transaction(context=None) as inner:  # joins the outer one
                await inner.save_item("thr_1", widget("wid_2", 200), context=None)
            await new_thread(tx, "thr_new")
            raise Boom

    with pytest.raises(Boom):
        await half_done()

    assert (await store.load_thread("thr_1", context=None)).title == "Title"
    after = [_encode(i) for i in (await store.load_thread_items("thr_1", None, 10, "asc", context=None)).data]
    if kind == "chatkit":  # a chatkit Store cannot put a deleted item back in its place (documented)
        after, before = sorted(after), sorted(before)
    assert after == before
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_new", context=None)


# --------------------------------------------------------------------------- locks


async def test_a_held_lock_refuses_others_and_is_released_on_exit(store: Store) -> None:
    key = item_lock("thr_1", "wid_1")
    async with store.lock(key, timeout=None, context=None) as held:
        with pytest.raises(LockTimeoutError) as refused:
            async with store.lock(key, timeout=0, context=None):
                pass
        assert refused.value.key == key
        with pytest.raises(LockTimeoutError):
            async with store.lock(key, timeout=0.05, context=None):
                pass
        async with held.lock(key, thread_lock("thr_1"), timeout=0, context=None):
            pass  # already held by this holder: taken without waiting
        async with store.lock(item_lock("thr_1", "wid_2"), timeout=0, context=None):
            pass  # other keys are free
    async with store.lock(key, timeout=0, context=None):
        pass


async def test_a_lock_is_released_when_its_block_raises_or_is_cancelled(store: Store) -> None:
    key = thread_lock("thr_1")
    with pytest.raises(RuntimeError):
        async with store.lock(key, timeout=None, context=None):
            raise RuntimeError
    entered = anyio.Event()

    async def hold_forever() -> None:
        async with store.lock(key, timeout=None, context=None):
            entered.set()
            await anyio.sleep_forever()

    async def wait_for_it() -> None:
        async with store.lock(key, timeout=None, context=None):
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold_forever)
        await entered.wait()
        tg.start_soon(wait_for_it)  # a waiter, cancelled while waiting
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    with anyio.fail_after(5):
        async with store.lock(key, timeout=0, context=None):
            pass


async def test_locks_serialize_read_modify_write(store: Store) -> None:
    await new_thread(store)
    await store.add_thread_item("thr_1", widget("wid_1", 0), context=None)
    key = item_lock("thr_1", "wid_1")

    async def increment() -> None:
        async with store.lock(key, timeout=30, context=None) as locked:
            n = count(await locked.load_item("thr_1", "wid_1", context=None)) + 1
            await anyio.lowlevel.checkpoint()  # let the others run between the read and the write
            async with locked.transaction(context=None) as tx:
                await tx.save_item("thr_1", widget("wid_1", n), context=None)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(increment)
    assert count(await store.load_item("thr_1", "wid_1", context=None)) == 20


async def test_every_store_closes(store: Store) -> None:
    """``on_shutdown=[store.close]`` fits every store, so swapping one for another keeps working."""
    close = getattr(store, "close", None)
    assert callable(close)
    await close()

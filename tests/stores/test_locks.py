"""Per-process locks (``KeyedLocks``, ``LocalLocks``): all or nothing, first come first served.

A waiter that gives up or is cancelled leaves nothing behind, a key may be
released from another task than its holder's, and a holder's view of the
store (a shallow copy) does not wait for the keys it holds.
"""

from __future__ import annotations

import anyio
import pytest

from chatkit_handlers.errors import LockTimeoutError
from chatkit_handlers.stores._locks import KeyedLocks

pytestmark = pytest.mark.anyio

A = ("item", "thr", "a")
B = ("item", "thr", "b")


async def test_uncontended_keys_are_held_all_or_none() -> None:
    locks = KeyedLocks()
    await locks.take([A, B], None)
    assert locks.held() == 2
    with pytest.raises(LockTimeoutError):
        await locks.take([("item", "thr", "c"), B], 0)  # c is free, b is not: neither is kept
    assert locks.held() == 2
    locks.release([A, B])
    assert locks.held() == 0
    await locks.take([B], 0)
    locks.release([B])
    assert locks.held() == 0


async def test_waiters_are_served_in_arrival_order_and_leave_nothing_behind() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    await locks.take([A], None)

    async def waiter(name: str) -> None:
        await locks.take([A], None)
        order.append(name)
        locks.release([A])

    with anyio.fail_after(10):  # a hang guard, not a timing assertion
        async with anyio.create_task_group() as tg:
            for name in ("first", "second", "third"):
                tg.start_soon(waiter, name)
                await anyio.wait_all_tasks_blocked()
            assert order == []
            locks.release([A])
    assert order == ["first", "second", "third"]
    assert locks.held() == 0


async def test_a_waiter_that_times_out_or_is_cancelled_leaves_no_trace() -> None:
    locks = KeyedLocks()
    await locks.take([A], None)
    with pytest.raises(LockTimeoutError):
        await locks.take([A], 0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(locks.take, [A], None)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert locks.held() == 1  # only the holder
    locks.release([A])
    assert locks.held() == 0
    await locks.take([A], 0)  # free again, without waiting
    locks.release([A])


async def test_a_key_released_by_another_task_wakes_its_waiter() -> None:
    locks = KeyedLocks()
    got: list[bool] = []
    await locks.take([A], None)

    async def wait_for_it() -> None:
        await locks.take([A], None)
        got.append(True)

    async def release_it() -> None:
        locks.release([A])

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_it)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(release_it)
    assert got == [True]
    locks.release([A])
    assert locks.held() == 0


def test_copies_of_stores_are_what_copy_copy_always_made() -> None:
    import copy

    from chatkit_handlers.stores import LocalLocks, MemoryStore

    class Custom(LocalLocks):
        __slots__ = ("__private", "never_set", "value")

        def __init__(self) -> None:
            LocalLocks.__init__(self)
            self.value = [1]
            self.__private = "mine"

        def private(self) -> str:
            return self.__private

    class WithDict(LocalLocks):
        def __init__(self) -> None:
            LocalLocks.__init__(self)
            self.rows = {"a": 1}

    memory = MemoryStore()
    clone = copy.copy(memory)
    assert type(clone) is MemoryStore
    for name in ("_threads", "_items", "_journal", "_locks", "_held"):
        assert getattr(clone, name) is getattr(memory, name)  # shallow, like copy.copy
    custom = copy.copy(Custom())
    assert custom.value == [1]
    assert not hasattr(custom, "never_set")
    assert custom.private() == "mine"  # a name-mangled slot is copied too
    with_dict = WithDict()
    assert copy.copy(with_dict).rows is with_dict.rows


def test_copies_keep_slots_whose_names_code_cannot_spell() -> None:
    import copy

    from chatkit_handlers.stores import LocalLocks

    def make() -> type[LocalLocks]:
        class Store(LocalLocks):
            __slots__ = ("__secret", "class")  # a private name, and a keyword as a slot name

            def __init__(self) -> None:
                LocalLocks.__init__(self)
                self.__secret = "s"
                setattr(self, "class", "k")

            def secret(self) -> str:
                return self.__secret

        return Store

    renamed = make()
    renamed.__name__ = renamed.__qualname__ = "Renamed"  # as class factories and decorators do
    for cls in (make(), renamed):
        clone = copy.copy(cls())
        assert clone.secret() == "s"  # type: ignore[attr-defined]
        assert getattr(clone, "class") == "k"


async def test_try_lock_takes_free_keys_at_once_and_never_jumps_the_queue() -> None:
    from chatkit_handlers.stores import MemoryStore

    store = MemoryStore()
    first = store.try_lock((A,))
    assert first is not None
    view = first.store
    assert view is not store
    assert store.try_lock((A,)) is None  # held: no waiting here
    again = view.try_lock((A,))  # the holder's own view takes nothing more
    assert again is not None
    assert again.keys == ()

    # Someone waits for A: once released, A is theirs, not a newcomer's that asks without waiting.
    served: list[str] = []

    async def waiter() -> None:
        async with store.lock(A, timeout=None):
            served.append("waiter")
            assert store.try_lock((A,)) is None

    with anyio.fail_after(10):  # a hang guard, not a timing assertion
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            first.release()
            assert store.try_lock((A,)) is None  # handed over to the waiter
    assert served == ["waiter"]
    assert store._locks.held() == 0
    both = store.try_lock((A, B))
    assert both is not None
    both.release()
    both.release()  # idempotent
    assert store._locks.held() == 0


def test_a_streams_keys_are_its_threads_and_its_senders() -> None:
    from chatkit_handlers._execution.locks import stream_keys
    from chatkit_handlers.stores import item_lock, thread_lock

    assert stream_keys("thr", "wid") == (thread_lock("thr"), item_lock("thr", "wid"))
    assert stream_keys("thr", None) == (thread_lock("thr"),)


async def test_a_view_of_a_view_claims_nothing_once_the_outer_lease_is_given_back() -> None:
    """A view kept past its action (by a background task) waits for keys like anyone else."""
    from chatkit_handlers.stores import MemoryStore

    store = MemoryStore()
    outer = store.try_lock((A,))
    assert outer is not None
    inner = outer.store.try_lock((B,))  # taken through the holder's view
    assert inner is not None
    nested = inner.store
    assert nested.held_keys() == {A, B}
    outer.release()
    assert nested.held_keys() == {B}  # A is free, and the nested view no longer claims it
    other = store.try_lock((A,))  # someone else takes A...
    assert other is not None
    assert nested.try_lock((A,)) is None  # ...and the kept view must wait for it
    inner.release()
    other.release()
    assert nested.held_keys() == frozenset()
    assert store._locks.held() == 0

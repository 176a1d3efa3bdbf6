"""Builders for realistic test fixtures: threads, widget items, handler contexts.

Each builds exactly what the dispatcher would hand a handler, with fresh
chatkit-style ids unless you pass your own.
"""

from __future__ import annotations

from typing import Any

from .._action.context import ActionContext
from .._wire.coerce import as_widget_root
from ..stores import Store
from ..types import ThreadMetadata, WidgetItem, new_id

__all__ = ["DEFAULT_THREAD_ID", "make_action_context", "make_thread", "make_widget_item"]

DEFAULT_THREAD_ID = "thr_test"
"""The thread builders and ``ActionTestClient`` use when none is given."""


def make_thread(
    id: str = DEFAULT_THREAD_ID, *, title: str | None = None, metadata: dict[str, Any] | None = None
) -> ThreadMetadata:
    """A thread, as a store would load it.

    >>> make_thread("thr_1", title="Orders").title
    'Orders'
    """
    return ThreadMetadata(id=id, title=title, metadata=dict(metadata or {}))


def make_widget_item(
    widget: Any,
    *,
    thread: ThreadMetadata | str = DEFAULT_THREAD_ID,
    id: str | None = None,
    copy_text: str | None = None,
) -> WidgetItem:
    """A widget item holding ``widget``.

    ``widget`` is a widget root as a dict (``{"type": "Card", ...}``), a chatkit
    widget object, or what ``chatkit.widgets.WidgetTemplate(...).build(data)``
    returns; it is stored as the same JSON chatkit would send.

    >>> make_widget_item({"type": "Card", "children": []}, id="wid_1").id
    'wid_1'
    """
    thread_id = thread.id if isinstance(thread, ThreadMetadata) else thread
    return WidgetItem(
        id=id if id is not None else new_id("wid"),
        thread_id=thread_id,
        widget=as_widget_root(widget),
        copy_text=copy_text,
    )


def make_action_context(
    *,
    thread: ThreadMetadata | None = None,
    sender: WidgetItem | None = None,
    action_type: str = "",
    store: Store | None = None,
    context: Any = None,
) -> ActionContext[Any]:
    """The ``ActionContext`` a handler receives, to call a handler directly.

    ``context`` is the per-request context your app derives (say, the signed-in
    user). Without ``thread`` the sender's thread (or ``thr_test``) is used.

    >>> ctx = make_action_context(sender=make_widget_item({"type": "Card"}, thread="thr_9"))
    >>> ctx.thread.id
    'thr_9'
    """
    if thread is None:
        thread = make_thread(sender.thread_id if sender is not None else DEFAULT_THREAD_ID)
    elif sender is not None and sender.thread_id != thread.id:
        raise ValueError(f"sender {sender.id!r} belongs to thread {sender.thread_id!r}, not {thread.id!r}")
    return ActionContext(thread=thread, sender=sender, action_type=action_type, store=store, context=context)

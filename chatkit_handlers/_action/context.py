"""``ActionContext``: what a handler knows about the action, and its event helpers."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, Literal

import msgspec
from typing_extensions import TypeVar

from .._wire.coerce import as_widget_root, to_item
from .._wire.widget_diff import diff_widget
from ..stores import Lease
from ..types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientEffectEvent,
    HiddenContextItem,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRoot,
    WidgetRootUpdated,
    new_id,
)

if TYPE_CHECKING:
    from ..stores import Store

__all__ = ["ActionContext", "thread_change"]

_encode = msgspec.json.Encoder().encode

# Defaults to Any, so that a handler annotated with a bare ``ActionContext`` passes ``mypy --strict``.
TContext = TypeVar("TContext", default=Any)


def thread_change(ctx: ActionContext[Any]) -> ThreadMetadata | None:
    """The thread if the handler changed it since it was handed out (or since the last call that said so).

    What the dispatcher asks after each event and once the handler has
    finished. A handler that never looked at ``ctx.thread`` changed nothing.
    """
    seen = ctx._seen
    if seen is None:  # nobody looked at it: unchanged
        return None
    now = _encode(ctx._thread)
    if now == seen:
        return None
    ctx._seen = now
    return ctx._thread


def _snapshot(root: Any) -> WidgetRoot:
    """A deep copy of ``root`` as plain JSON, immune to later in-place changes."""
    copy: WidgetRoot = msgspec.json.decode(msgspec.json.encode(as_widget_root(root)))
    return copy


class ActionContext(Generic[TContext]):
    """Everything a handler may need about the action being handled.

    Attributes:
        action_type: the action's ``type`` (``"counter.increment"``).
        thread: the thread's metadata. Change ``thread.title`` and the
            dispatcher persists the thread and emits ``thread.updated``.
        sender: the widget item whose action fired, or ``None`` when the client
            called ``chatkit.sendCustomAction(action)`` without an item id.
        store: the store, as the action's holder of its locks sees it (a sync
            action's sender widget; a stream's thread and sender): locking
            those keys again through it does not wait. Given a ``Lease`` (the
            keys an action holds), it is the lease's view, made when first
            asked for. A view kept past the action (by a background task)
            claims nothing any more: it waits for the keys like anyone else.
        context: the per-request context the app derived from the request
            (typically the authenticated user).

    The helpers below build the events a streaming handler yields::

        @on_action("counter.reset")
        async def reset(ctx: ActionContext):
            yield ctx.progress("Resetting…")
            yield ctx.update_widget(counter_card(0))

    Build one yourself to unit-test a handler without a router::

        ctx = ActionContext(thread=ThreadMetadata(id="thr_1"), sender=item)
    """

    __slots__ = ("_seen", "_store", "_thread", "action_type", "context", "sender")

    def __init__(
        self,
        *,
        thread: ThreadMetadata,
        sender: WidgetItem | None = None,
        action_type: str = "",
        store: Store | Lease[Any] | None = None,
        context: Any = None,
    ) -> None:
        self._thread = thread
        self._seen: bytes | None = None  # the thread as first handed out (see thread_change)
        self.sender = sender
        self.action_type = action_type
        self._store = store
        self.context: TContext = context

    @property
    def store(self) -> Store | None:
        """The store (see the class docstring)."""
        store = self._store
        if isinstance(store, Lease):
            view: Store = store.store
            return view
        return store

    @store.setter
    def store(self, store: Store | None) -> None:
        self._store = store

    @property
    def thread_id(self) -> str:
        """The thread's id (reading it does not count as looking at the thread)."""
        return self._thread.id

    @property
    def thread(self) -> ThreadMetadata:
        """The thread's metadata; change it (or assign another) and the dispatcher saves it.

        The first access notes the thread as it was, to tell afterwards whether
        it changed: a handler that never looks at the thread costs no check.
        """
        if self._seen is None:
            self._seen = _encode(self._thread)
        return self._thread

    @thread.setter
    def thread(self, thread: ThreadMetadata) -> None:
        if self._seen is None:
            self._seen = _encode(self._thread)
        self._thread = thread

    def __repr__(self) -> str:
        sender = self.sender.id if self.sender is not None else None
        return (
            f"ActionContext(action_type={self.action_type!r}, thread={self._thread.id!r}, sender={sender!r})"
        )

    # ----------------------------------------------------------------- events

    def progress(self, text: str, icon: str | None = None) -> ProgressUpdateEvent:
        """A transient progress line (``progress_update``)."""
        return ProgressUpdateEvent(text=text, icon=icon)

    def update_widget(self, root: Any, *, item_id: str | None = None) -> ThreadItemUpdatedEvent:
        """Replace the sender's widget (or item ``item_id``'s) with ``root``.

        Emits ``thread.item.updated`` with ``widget.root.updated``; the new root is
        saved on the item when the stream ends.
        """
        sender = self.sender
        if item_id is None and sender is not None:
            item_id = sender.id
        return ThreadItemUpdatedEvent(
            item_id=item_id if item_id is not None else self._target(None, "update_widget"),
            update=WidgetRootUpdated(widget=root if isinstance(root, dict) else as_widget_root(root)),
        )

    def update_component(
        self, component_id: str, component: Any, *, item_id: str | None = None
    ) -> ThreadItemUpdatedEvent:
        """Replace one component (found by its ``id``) of the sender's widget."""
        return ThreadItemUpdatedEvent(
            item_id=self._target(item_id, "update_component"),
            update=WidgetComponentUpdated(component_id=component_id, component=as_widget_root(component)),
        )

    def replace_item(self, item: ThreadItem | Any) -> ThreadItemReplacedEvent:
        """Replace a whole item (``thread.item.replaced``); it is saved.

        ``item`` is an item Struct, a dict shaped like one, or a chatkit item.
        """

        return ThreadItemReplacedEvent(item=to_item(item))

    def remove_item(self, item_id: str) -> ThreadItemRemovedEvent:
        """Remove an item from the thread (``thread.item.removed``); it is deleted."""
        return ThreadItemRemovedEvent(item_id=item_id)

    def add_widget(self, root: Any, *, copy_text: str | None = None) -> ThreadItemDoneEvent:
        """Add a new widget item to the thread (``thread.item.done``); it is stored."""
        return ThreadItemDoneEvent(
            item=WidgetItem(
                id=new_id("wid"),
                thread_id=self._thread.id,
                widget=as_widget_root(root),
                copy_text=copy_text,
            )
        )

    async def stream_widget(
        self, widget: Any | AsyncIterable[Any], *, copy_text: str | None = None
    ) -> AsyncIterator[ThreadItemAddedEvent | ThreadItemUpdatedEvent | ThreadItemDoneEvent]:
        """Add a new widget to the thread, streaming it while it is built.

        A widget root (dict or chatkit widget) gives one ``thread.item.done``, as
        :meth:`add_widget`. An async iterable of roots gives ``thread.item.added``
        with the first root, then for each next root the updates that change
        the previous one into it (text appended to a ``Text``/``Markdown`` with an
        ``id`` streams as ``widget.streaming_text.value_delta``, any other change
        as ``widget.root.updated``), then ``thread.item.done`` with the last root,
        which is what is stored. Semantics follow chatkit's ``stream_widget``::

            async def cards():
                for text in ("Thinking", "Thinking about it", "Thinking about it: done"):
                    yield {"type": "Card", "children": [{"type": "Text", "id": "t", "value": text}]}

            @on_action("explain")
            async def explain(ctx: ActionContext):
                async for event in ctx.stream_widget(cards()):
                    yield event

        Each root is copied as it arrives, so yielding the same dict again after
        changing it works.
        """
        if not isinstance(widget, AsyncIterable):
            yield self.add_widget(widget, copy_text=copy_text)
            return
        roots = aiter(widget)
        try:
            try:
                last = _snapshot(await anext(roots))
            except StopAsyncIteration:
                raise ValueError(
                    "ctx.stream_widget() got an async iterable that yielded no widget root"
                ) from None
            item = WidgetItem(id=new_id("wid"), thread_id=self._thread.id, widget=last, copy_text=copy_text)
            yield ThreadItemAddedEvent(item=item)
            async for root in roots:
                current = _snapshot(root)
                for update in diff_widget(last, current):
                    yield ThreadItemUpdatedEvent(item_id=item.id, update=update)
                last = current
        finally:
            close = getattr(roots, "aclose", None)
            if close is not None:
                await close()
        yield ThreadItemDoneEvent(item=msgspec.structs.replace(item, widget=last))

    def message(self, text: str) -> ThreadItemDoneEvent:
        """Add an assistant message to the thread (``thread.item.done``); it is stored."""
        return ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=new_id("msg"),
                thread_id=self._thread.id,
                content=[AssistantMessageContent(text=text)],
            )
        )

    def client_effect(self, name: str, data: dict[str, Any] | None = None) -> ClientEffectEvent:
        """Ask the client to run its ``onEffect`` handler (``client_effect``)."""
        return ClientEffectEvent(name=name, data=data if data is not None else {})

    def notice(
        self,
        message: str,
        *,
        level: Literal["info", "warning", "danger"] = "info",
        title: str | None = None,
    ) -> NoticeEvent:
        """A user-facing notice (``notice``); ``message`` supports markdown."""
        return NoticeEvent(level=level, message=message, title=title)

    def hidden_context(self, content: Any) -> ThreadItemDoneEvent:
        """Record context for the model's next turn: stored, never sent to the client."""
        return ThreadItemDoneEvent(
            item=HiddenContextItem(id=new_id("hcx"), thread_id=self._thread.id, content=content)
        )

    def _target(self, item_id: str | None, helper: str) -> str:
        if item_id is not None:
            return item_id
        if self.sender is None:
            raise RuntimeError(
                f"ctx.{helper}() needs a sender widget, but action {self.action_type!r} arrived "
                "without an item (chatkit.sendCustomAction(action) with no itemId); pass "
                "item_id=... or use ctx.add_widget()"
            )
        return self.sender.id

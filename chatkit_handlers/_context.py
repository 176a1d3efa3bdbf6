"""``ActionContext``: what a handler knows about the action, and its event helpers."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import msgspec

from ._widget_diff import diff_widget
from .types import (
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
    from .stores import LockKey, Store

__all__ = ["ActionContext", "as_widget_root", "new_context", "thread_change"]

_encode = msgspec.json.Encoder().encode
_new = object.__new__

TContext = TypeVar("TContext")


def as_widget_root(root: Any) -> WidgetRoot:
    """A widget root as plain JSON, from a dict or a chatkit (pydantic) widget."""
    if isinstance(root, dict):
        return root
    dump = getattr(root, "model_dump", None)
    if dump is not None:
        # chatkit widgets are pydantic models; serialize them the way chatkit does.
        dumped = dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(dumped, dict):
            return dumped
    raise TypeError(
        f"expected a widget root (a dict like {{'type': 'Card', ...}} or a chatkit widget), "
        f"got {type(root).__name__}"
    )


def new_context(
    thread: ThreadMetadata,
    sender: WidgetItem | None,
    action_type: str,
    store: Store | None,
    context: Any,
) -> ActionContext[Any]:
    """``ActionContext(thread=..., ...)`` as the dispatcher makes one per action.

    The dispatcher sets ``ctx._holds`` to the keys the action holds on
    ``store`` itself (a ``LocalLocks`` store, whose ``take_keys_now`` took
    them): ``ctx.store`` is then the view holding them, made only if something
    asks for it (see ``ActionContext.store``).

    Calling a ``Generic`` subclass with keyword arguments costs ~0.7 µs on
    CPython 3.11 (``typing.Generic`` keeps ``type.__call__`` off its fast
    path); making the instance and setting its slots here, ~0.25 µs.
    """
    ctx: ActionContext[Any] = _new(ActionContext)
    ctx._thread = thread
    ctx._seen = None
    ctx.sender = sender
    ctx.action_type = action_type
    ctx._store = store
    ctx._holds = ()
    ctx.context = context
    return ctx


def thread_change(ctx: ActionContext[Any]) -> ThreadMetadata | None:
    """The thread if it changed since it was handed out (or since the last call that said so).

    The dispatcher itself reads ``ctx._thread``, not ``ctx.thread``: its own
    reads are not a reason to take the snapshot.
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
        store: the store the dispatcher persists to.
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

    __slots__ = ("_holds", "_seen", "_store", "_thread", "action_type", "context", "sender")

    def __init__(
        self,
        *,
        thread: ThreadMetadata,
        sender: WidgetItem | None = None,
        action_type: str = "",
        store: Store | None = None,
        context: Any = None,
    ) -> None:
        self._thread = thread
        self._seen: bytes | None = None
        self.sender = sender
        self.action_type = action_type
        self._store = store
        self._holds: tuple[LockKey, ...] = ()
        self.context: TContext = context

    @property
    def store(self) -> Store | None:
        """The store, as seen holding the action's locks (a sync action's sender, a stream's thread too).

        Taking a lock of ``ctx.store`` that the action holds already does not wait
        for itself. For a ``LocalLocks`` store the dispatcher takes the locks on
        the store itself, and the view that remembers them (a copy of the store)
        is made here, on first use: most handlers never ask for it.

        The view is for the action's own use: one kept past it (by a background
        task) still names the keys the action held, and would not wait for them
        once others hold them. A context kept past its action whose handler never
        asked hands out the store itself.
        """
        holds = self._holds
        if holds:
            store: Any = self._store  # a LocalLocks store (see new_context)
            self._store, self._holds = store.view_holding(holds), ()
        return self._store

    @store.setter
    def store(self, store: Store | None) -> None:
        self._store = store
        self._holds = ()

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
        return ThreadItemUpdatedEvent(  # (the usual call, the sender and a dict, calls nothing more)
            item_id=sender.id
            if item_id is None and sender is not None
            else self._target(item_id, "update_widget"),
            update=WidgetRootUpdated(widget=root if type(root) is dict else as_widget_root(root)),
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
        from ._coerce import to_item  # _coerce builds on this module

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

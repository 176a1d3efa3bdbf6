"""Assertions that read like the behaviour they check.

They take what ``ActionTestClient`` returns (a ``SyncCustomActionResponse``,
the list of stream events, the stored items) or what a handler yields when
called directly, and fail with a message that shows what was there instead.
Each returns what it found, for further checks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from .._wire.coerce import as_widget_root
from .._wire.widget_tree import apply_widget_update
from ..types import (
    WIDGET_UPDATE_TYPES,
    ClientEffectEvent,
    ErrorEvent,
    HiddenContextItem,
    NoticeEvent,
    SyncCustomActionResponse,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    WidgetItem,
    WidgetRoot,
    WidgetRootUpdated,
)
from ._tree import dump

__all__ = [
    "assert_client_effect",
    "assert_error_event",
    "assert_hidden_context",
    "assert_notice",
    "assert_widget_added",
    "assert_widget_updated",
    "event_types",
    "find_events",
]

E = TypeVar("E", bound=msgspec.Struct)


def event_types(events: Iterable[Any]) -> list[str]:
    """The wire ``type`` of each event: ``["stream_options", "progress_update", ...]``."""
    return [_tag(event) for event in events]


def find_events(events: Iterable[Any], kind: type[E]) -> list[E]:
    """The events of one kind, in order: ``find_events(events, ProgressUpdateEvent)``."""
    return [event for event in events if isinstance(event, kind)]


def assert_widget_updated(
    result: SyncCustomActionResponse | Sequence[Any], expected: Any, *, item: WidgetItem | str | None = None
) -> WidgetRoot:
    """Assert the action left the widget showing ``expected``; return the new root.

    For a sync answer, ``updated_item`` must be a widget item with that widget.
    For a stream, the widget updates of ``item`` (the sender; or the one item
    that was updated) are applied in order, as the client and the store apply
    them. Component and text updates need the starting widget: pass the item.
    """
    want = as_widget_root(expected)
    if isinstance(result, SyncCustomActionResponse):
        updated = result.updated_item
        if not isinstance(updated, WidgetItem):
            raise AssertionError(f"expected an updated widget item, got updated_item={dump(updated)}")
        if isinstance(item, WidgetItem | str) and updated.id != _id_of(item):
            raise AssertionError(f"expected item {_id_of(item)!r} to be updated, got {updated.id!r}")
        got = updated.widget
    else:
        got = _widget_after(result, item)
    if got != want:
        raise AssertionError("the widget is not the expected one:\n" + _diff(want, got))
    return got


def assert_widget_added(events: Sequence[Any], expected: Any = None) -> WidgetItem:
    """Assert a new widget item was added (``thread.item.done``); return it.

    With ``expected``, one added widget must equal it.
    """
    added = [e.item for e in events if isinstance(e, ThreadItemDoneEvent) and isinstance(e.item, WidgetItem)]
    if not added:
        raise AssertionError(f"no widget was added; events: {_summary(events)}")
    if expected is None:
        return added[-1]
    want = as_widget_root(expected)
    for item in reversed(added):
        if item.widget == want:
            return item
    raise AssertionError("no added widget is the expected one:\n" + _diff(want, added[-1].widget))


def assert_hidden_context(events_or_items: Iterable[Any], expected: Any) -> HiddenContextItem:
    """Assert hidden context ``expected`` was recorded; return its item.

    Pass the stored items (``await client.items()``: the stream never shows
    hidden context to the client) or the events a handler yielded when called
    directly.
    """
    found: list[HiddenContextItem] = []
    for obj in events_or_items:
        item = obj.item if isinstance(obj, ThreadItemDoneEvent) else obj
        if isinstance(item, HiddenContextItem):
            found.append(item)
            if item.content == expected:
                return item
    recorded = [item.content for item in found]
    raise AssertionError(f"hidden context {expected!r} was not recorded; recorded: {recorded!r}")


def assert_client_effect(
    events: Iterable[Any], name: str, data: dict[str, Any] | None = None
) -> ClientEffectEvent:
    """Assert the client effect ``name`` was emitted (with ``data``, if given); return it."""
    effects = find_events(events, ClientEffectEvent)
    for effect in effects:
        if effect.name == name and (data is None or effect.data == data):
            return effect
    seen = [(e.name, e.data) for e in effects]
    wanted = name if data is None else (name, data)
    raise AssertionError(f"client effect {wanted!r} was not emitted; emitted: {seen!r}")


def assert_notice(
    events: Iterable[Any], message: str | None = None, *, level: str | None = None
) -> NoticeEvent:
    """Assert a notice (with that message and level, if given) was shown; return it."""
    notices = find_events(events, NoticeEvent)
    for notice in notices:
        if (message is None or notice.message == message) and (level is None or notice.level == level):
            return notice
    seen = [(n.level, n.message) for n in notices]
    raise AssertionError(f"no notice {message!r} (level {level!r}); notices: {seen!r}")


def assert_error_event(
    events: Iterable[Any],
    code: str | None = None,
    *,
    message: str | None = None,
    allow_retry: bool | None = None,
) -> ErrorEvent:
    """Assert the stream carried an ``error`` event (with that code...); return it.

    ``code="custom"`` is an ``ActionError`` raised by the handler,
    ``"stream.error"`` an unexpected exception.
    """
    errors = find_events(events, ErrorEvent)
    for error in errors:
        if (
            (code is None or error.code == code)
            and (message is None or error.message == message)
            and (allow_retry is None or error.allow_retry == allow_retry)
        ):
            return error
    seen = [(e.code, e.message) for e in errors]
    raise AssertionError(f"no error event with code {code!r} and message {message!r}; errors: {seen!r}")


# --------------------------------------------------------------------------- helpers


def _id_of(item: WidgetItem | str) -> str:
    return item.id if isinstance(item, WidgetItem) else item


def _widget_after(events: Sequence[Any], item: WidgetItem | str | None) -> WidgetRoot:
    if item is None:
        ids = {
            e.item_id
            for e in events
            if isinstance(e, ThreadItemUpdatedEvent) and isinstance(e.update, WIDGET_UPDATE_TYPES)
        }
        ids |= {e.item.id for e in events if isinstance(e, ThreadItemReplacedEvent)}
        if len(ids) != 1:
            raise AssertionError(
                f"expected widget updates of exactly one item, got {sorted(ids)!r}; pass item=...; "
                f"events: {_summary(events)}"
            )
        item = ids.pop()
    item_id = _id_of(item)
    root: WidgetRoot | None = item.widget if isinstance(item, WidgetItem) else None
    changed = False
    for event in events:
        if (
            isinstance(event, ThreadItemUpdatedEvent)
            and event.item_id == item_id
            and isinstance(event.update, WIDGET_UPDATE_TYPES)
        ):
            if root is None and not isinstance(event.update, WidgetRootUpdated):
                raise AssertionError(
                    f"item {item_id!r} got a {event.update.__struct_config__.tag!r} update; pass the "
                    "WidgetItem itself as item=... so it can be applied to the starting widget"
                )
            root = apply_widget_update(root or {}, event.update)
            changed = True
        elif isinstance(event, ThreadItemReplacedEvent) and event.item.id == item_id:
            if not isinstance(event.item, WidgetItem):
                raise AssertionError(f"item {item_id!r} was replaced by a {type(event.item).__name__}")
            root, changed = event.item.widget, True
    if not changed or root is None:
        raise AssertionError(f"the stream did not update widget {item_id!r}; events: {_summary(events)}")
    return root


def _summary(events: Iterable[Any]) -> str:
    parts = []
    for event in events:
        tag = _tag(event)
        item_id = getattr(event, "item_id", None) or getattr(getattr(event, "item", None), "id", None)
        parts.append(f"{tag}({item_id})" if item_id else str(tag))
    return ", ".join(parts) or "(none)"


def _diff(want: Any, got: Any) -> str:
    lines = difflib.unified_diff(
        dump(want).splitlines(), dump(got).splitlines(), "expected", "actual", lineterm="", n=2
    )
    return "\n".join(lines)


def _tag(event: Any) -> str:
    tag = getattr(getattr(event, "__struct_config__", None), "tag", None)
    return str(tag) if tag is not None else type(event).__name__

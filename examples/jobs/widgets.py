"""The import job's widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any

from chatkit_handlers import action_config


def progress_text(done: int, total: int) -> dict[str, Any]:
    """The progress line (component ``progress``)."""
    return {"type": "Text", "id": "progress", "value": f"{done} of {total} batches"}


def job_card(status: str, done: int, total: int, *, log: str = "") -> dict[str, Any]:
    """The job: its status, progress and log, and the button for what can be done next.

    While it runs there is no button: ChatKit's own stop button cancels the stream.
    The button's ActionConfig is built from its handler (``action_config``), payload checked.
    """
    from . import handlers  # (they draw this card too: imported when it is first drawn)

    children: list[dict[str, Any]] = [
        {"type": "Title", "value": "Import contacts"},
        {"type": "Badge", "id": "status", "label": status},
        progress_text(done, total),
        {"type": "Markdown", "id": "log", "value": log},
    ]
    if status == "running":
        children.append({"type": "Caption", "value": "Press stop to cancel; you can resume later."})
    elif status == "stopped":
        resume = action_config(handlers.start, handlers.Start(batches=total, start_at=done + 1))
        children.append({"type": "Button", "id": "resume", "label": "Resume", "onClickAction": resume})
    else:
        label = "Start import" if status == "idle" else "Run again"
        start = action_config(handlers.start, handlers.Start(batches=total))
        children.append({"type": "Button", "id": "start", "label": label, "onClickAction": start})
    return {"type": "Card", "children": children}

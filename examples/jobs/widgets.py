"""The import job's widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any


def progress_text(done: int, total: int) -> dict[str, Any]:
    """The progress line (component ``progress``)."""
    return {"type": "Text", "id": "progress", "value": f"{done} of {total} batches"}


def job_card(
    status: str, done: int, total: int, *, run_id: str | None = None, log: str = ""
) -> dict[str, Any]:
    """The job: its status, progress and log; Cancel while it runs, Start otherwise."""
    if run_id is not None:
        button = {
            "type": "Button",
            "id": "cancel",
            "label": "Cancel",
            "variant": "outline",
            "onClickAction": {"type": "jobs.cancel", "payload": {"run_id": run_id}, "streaming": False},
        }
    else:
        button = {
            "type": "Button",
            "id": "start",
            "label": "Start import" if status == "idle" else "Run again",
            "onClickAction": {"type": "jobs.start", "payload": {"batches": total}},
        }
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Import contacts"},
            {"type": "Badge", "id": "status", "label": status},
            progress_text(done, total),
            {"type": "Markdown", "id": "log", "value": log},
            button,
        ],
    }

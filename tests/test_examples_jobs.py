"""The long-running job example, tested with the testing toolkit."""

from __future__ import annotations

from typing import Any

import pytest

from chatkit_handlers import ActionRouter
from chatkit_handlers.testing import (
    ActionTestClient,
    assert_client_effect,
    assert_hidden_context,
    assert_widget_updated,
    component,
    find_events,
    make_widget_item,
)
from chatkit_handlers.types import (
    ProgressUpdateEvent,
    ThreadItemUpdatedEvent,
    WidgetItem,
    WidgetStreamingTextValueDelta,
)
from examples.jobs import handlers
from examples.jobs.app import DEMO_ITEM, DEMO_THREAD, app
from examples.jobs.widgets import job_card

pytestmark = pytest.mark.anyio

LOG3 = "batch 1 imported\nbatch 2 imported\nbatch 3 imported\n"


@pytest.fixture(autouse=True)
def instant_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "STEP_SECONDS", 0)


@pytest.fixture
def action_router() -> ActionRouter:
    router = ActionRouter()
    router.include(handlers)
    return router


@pytest.fixture
def job() -> WidgetItem:
    return make_widget_item(job_card("idle", 0, 3))


async def test_job_runs_to_the_end_reporting_progress(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    events = await action_client.click(job, "start")
    assert isinstance(events, list)
    assert [e.text for e in find_events(events, ProgressUpdateEvent)] == [
        "Importing batch 1 of 3…",
        "Importing batch 2 of 3…",
        "Importing batch 3 of 3…",
    ]
    first_batch = [type(e.update).__name__ for e in find_events(events, ThreadItemUpdatedEvent)][1:3]
    assert first_batch == ["WidgetComponentUpdated", "WidgetStreamingTextValueDelta"]
    assert_widget_updated(events, job_card("done", 3, 3, log=LOG3), item=job)
    run_id = assert_client_effect(events, "job_finished").data["run_id"]
    assert run_id.startswith("run_")
    assert_hidden_context(await action_client.items(), "the import of 3 batches finished")
    assert await action_client.widget(job) == job_card("done", 3, 3, log=LOG3)


async def test_progress_and_log_updates_apply_to_the_running_widget(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    events = await action_client.stream("jobs.start", {"batches": 3}, sender=job)
    last_delta = max(i for i, e in enumerate(events) if _is_delta(e))
    # Up to the last log line, the widget changes by component and text updates only.
    running = assert_widget_updated(
        events[: last_delta + 1], job_card("running", 3, 3, run_id=_run_id(events), log=LOG3), item=job
    )
    assert component(running, "log")["value"] == LOG3


async def test_cancel_button_stops_the_run_at_the_next_batch(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    async with action_client.open_stream("jobs.start", {"batches": 3}, sender=job) as events:
        seen = []
        async for event in events:
            seen.append(event)
            if isinstance(event, ProgressUpdateEvent) and event.text.startswith("Importing batch 2"):
                # The user clicks Cancel on the running job's widget, while the stream runs.
                answer = await action_client.sync("jobs.cancel", {"run_id": _run_id(seen)}, sender=job)
                assert answer.updated_item is None
    log = "batch 1 imported\nbatch 2 imported\n"
    assert_widget_updated(seen, job_card("cancelled", 2, 3, log=log), item=job)
    assert await action_client.hidden_context() == ["the user cancelled the import after 2 of 3 batches"]


async def test_hanging_up_stops_the_run_and_records_it(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    async with action_client.open_stream("jobs.start", {"batches": 3}, sender=job) as events:
        async for event in events:
            if isinstance(event, ProgressUpdateEvent) and event.text.startswith("Importing batch 2"):
                break  # leaving the block hangs up, as ChatKit's stop button does
    assert await action_client.widget(job) == job_card("stopped", 1, 3, log="batch 1 imported\n")
    assert await action_client.hidden_context() == ["the user stopped the import after 1 of 3 batches"]


async def test_through_the_app_hanging_up_cancels_the_handler() -> None:
    async with ActionTestClient(app, thread_id=DEMO_THREAD) as client:
        async with client.open_stream("jobs.start", {"batches": 50}, sender=DEMO_ITEM) as events:
            async for event in events:
                if isinstance(event, ProgressUpdateEvent):
                    break
        assert component(await client.widget(DEMO_ITEM), "status")["label"] == "stopped"
        assert (await client.hidden_context())[-1].startswith("the user stopped the import after")


def _is_delta(event: object) -> bool:
    return isinstance(event, ThreadItemUpdatedEvent) and isinstance(
        event.update, WidgetStreamingTextValueDelta
    )


def _run_id(events: list[Any]) -> str:
    """The run id on the Cancel button of the running job's widget (the stream's first update)."""
    first = next(e for e in events if isinstance(e, ThreadItemUpdatedEvent))
    return str(component(first.update.widget, "cancel")["onClickAction"]["payload"]["run_id"])  # type: ignore[union-attr]

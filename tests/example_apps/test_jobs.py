"""The long-running job example, tested with the testing toolkit."""

from __future__ import annotations

import pytest

from chatkit_handlers import ActionRouter
from chatkit_handlers.testing import (
    ActionFailed,
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
    assert_client_effect(events, "job_finished", {"batches": 3})
    assert_hidden_context(await action_client.items(), "the import of 3 batches finished")
    assert await action_client.widget(job) == job_card("done", 3, 3, log=LOG3)


async def test_progress_and_log_updates_apply_to_the_running_widget(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    events = await action_client.stream("jobs.start", {"batches": 3}, sender=job)
    last_delta = max(
        i
        for i, e in enumerate(events)
        if isinstance(e, ThreadItemUpdatedEvent) and isinstance(e.update, WidgetStreamingTextValueDelta)
    )
    # Up to the last log line, the running widget changes by component and text updates only.
    running = assert_widget_updated(events[: last_delta + 1], job_card("running", 3, 3, log=LOG3), item=job)
    assert component(running, "log")["value"] == LOG3


async def test_stopping_records_the_state_and_the_job_resumes(
    action_client: ActionTestClient, job: WidgetItem
) -> None:
    async with action_client.open_stream("jobs.start", {"batches": 3}, sender=job) as events:
        async for event in events:
            if isinstance(event, ProgressUpdateEvent) and event.text.startswith("Importing batch 2"):
                break  # leaving the block hangs up, as ChatKit's stop button does
    one = "batch 1 imported\n"
    assert await action_client.widget(job) == job_card("stopped", 1, 3, log=one)
    assert await action_client.hidden_context() == ["the user stopped the import after 1 of 3 batches"]

    events = await action_client.click(job, "resume")  # {"batches": 3, "start_at": 2}
    assert isinstance(events, list)
    assert [e.text for e in find_events(events, ProgressUpdateEvent)] == [
        "Importing batch 2 of 3…",
        "Importing batch 3 of 3…",
    ]
    assert await action_client.widget(job) == job_card("done", 3, 3, log=LOG3)
    assert_hidden_context(await action_client.items(), "the import of 3 batches finished")


async def test_start_at_is_validated(action_client: ActionTestClient, job: WidgetItem) -> None:
    with pytest.raises(ActionFailed) as refused:
        await action_client.stream("jobs.start", {"batches": 3, "start_at": 0}, sender=job)
    assert (refused.value.status_code, refused.value.code) == (422, "payload.invalid")
    assert refused.value.message.endswith("Expected `int` >= 1 - at `$.start_at`")


async def test_through_the_app_hanging_up_cancels_the_handler() -> None:
    async with ActionTestClient(app, thread_id=DEMO_THREAD) as client:
        async with client.open_stream("jobs.start", {"batches": 50}, sender=DEMO_ITEM) as events:
            async for event in events:
                if isinstance(event, ProgressUpdateEvent):
                    break
        assert component(await client.widget(DEMO_ITEM), "status")["label"] == "stopped"
        assert (await client.hidden_context())[-1].startswith("the user stopped the import after")

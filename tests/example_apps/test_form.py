"""The booking form example, tested with the testing toolkit."""

from __future__ import annotations

from typing import Any

import pytest

from chatkit_handlers import ActionRouter
from chatkit_handlers.testing import (
    ActionFailed,
    ActionTestClient,
    assert_widget_updated,
    component,
    make_widget_item,
)
from chatkit_handlers.types import WidgetItem
from examples.form import handlers
from examples.form.app import DEMO_ITEM, DEMO_THREAD, app
from examples.form.widgets import booking_confirmed, booking_form

pytestmark = pytest.mark.anyio

VALID = {"name": "Ada", "email": "ada@example.com", "guests": "4", "date": "2099-05-01"}


@pytest.fixture
def action_router() -> ActionRouter:
    router = ActionRouter()
    router.include(handlers)
    return router


@pytest.fixture
def form() -> WidgetItem:
    return make_widget_item(booking_form())


async def test_valid_submission_books_the_table(action_client: ActionTestClient, form: WidgetItem) -> None:
    response = await action_client.sync("booking.submit", VALID, sender=form)
    assert_widget_updated(response, booking_confirmed("Ada", 4, "2099-05-01"), item=form)
    booking = (await action_client.load_thread()).metadata["booking"]
    assert booking == {"name": "Ada", "email": "ada@example.com", "guests": 4, "date": "2099-05-01"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"guests": "9"}, "guests", "We seat 1 to 8 guests."),
        ({"guests": "four"}, "guests", "We seat 1 to 8 guests."),
        ({"email": "ada-at-example"}, "email", "Enter an email address like ada@example.com."),
        ({"name": ""}, "name", "Tell us your name."),
        ({"date": "next friday"}, "date", "Pick a date."),
        ({"date": "2000-01-01"}, "date", "Pick a date from today on."),
    ],
)
async def test_invalid_submission_shows_the_form_again_with_the_error(
    action_client: ActionTestClient, form: WidgetItem, change: dict[str, Any], field: str, message: str
) -> None:
    values = {**VALID, **change}
    response = await action_client.sync("booking.submit", values, sender=form)
    entered = {k: v for k, v in values.items() if v != ""}
    assert_widget_updated(response, booking_form(entered, {field: message}))
    assert component(response, f"error-{field}")["value"] == message
    assert "booking" not in (await action_client.load_thread()).metadata


async def test_a_payload_that_is_not_a_form_is_refused(
    action_client: ActionTestClient, form: WidgetItem
) -> None:
    with pytest.raises(ActionFailed) as refused:
        await action_client.sync("booking.submit", ["not", "a", "form"], sender=form)
    assert (refused.value.status_code, refused.value.code) == (422, "payload.invalid")


async def test_form_values_survive_a_round_trip_through_the_app() -> None:
    async with ActionTestClient(app, thread_id=DEMO_THREAD) as client:
        response = await client.sync("booking.submit", {**VALID, "guests": "0"}, sender=DEMO_ITEM)
        widget = assert_widget_updated(
            response, booking_form({**VALID, "guests": "0"}, {"guests": "We seat 1 to 8 guests."})
        )
        assert component(widget, "error-guests")["color"] == "danger"
        assert await client.widget(DEMO_ITEM) == widget
        response = await client.sync("booking.submit", VALID, sender=DEMO_ITEM)
        assert component(response, "summary")["value"] == "Ada, 4 guests, on 2099-05-01."

"""A booking form: ``Form.onSubmitAction`` payload validated into a Struct.

A form's values arrive as strings keyed by input name. The handler converts
them into ``Booking`` with ``msgspec.convert(..., strict=False)`` (so ``"4"``
becomes ``4`` and ``"2030-05-01"`` a ``date``), and instead of answering a
422 meant for developers, shows what is wrong to the user: the form comes back
with their values and a message under the offending field.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any

import msgspec

from chatkit_handlers import on_action
from chatkit_handlers.types import ThreadMetadata

from .widgets import FIELDS, booking_confirmed, booking_form

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Booking(msgspec.Struct):
    """A valid booking."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    email: Email
    guests: Annotated[int, msgspec.Meta(ge=1, le=8)]
    date: datetime.date


HINTS = {
    "name": "Tell us your name.",
    "email": "Enter an email address like ada@example.com.",
    "guests": "We seat 1 to 8 guests.",
    "date": "Pick a date.",
}
"""What to tell the user about each field, whatever msgspec found wrong with it."""

_FIELD_IN_ERROR = re.compile(r"at `\$\.(\w+)`|missing required field `(\w+)`")


def field_errors(exc: msgspec.ValidationError) -> dict[str, str]:
    """``{field: message}`` for a validation error (msgspec reports the first one)."""
    found = _FIELD_IN_ERROR.search(str(exc))
    field = next((g for g in found.groups() if g), None) if found else None
    if field in HINTS:
        return {field: HINTS[field]}
    return {"name": f"Please check the form: {exc}"}


@on_action("booking.submit", streaming=False)
async def submit(payload: dict[str, Any], thread: ThreadMetadata) -> dict[str, Any]:
    """Take the booking, or show the form again with what to fix."""
    values = {name: payload.get(name) for name, _ in FIELDS if payload.get(name) not in (None, "")}
    try:
        booking = msgspec.convert(values, Booking, strict=False)
    except msgspec.ValidationError as exc:
        return booking_form(values, field_errors(exc))
    if booking.date < datetime.date.today():
        return booking_form(values, {"date": "Pick a date from today on."})
    thread.metadata["booking"] = msgspec.to_builtins(booking)
    return booking_confirmed(booking.name, booking.guests, booking.date.isoformat())

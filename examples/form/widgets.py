"""The booking form and its confirmation, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any

from chatkit_handlers import action_config

FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("email", "Email"),
    ("guests", "Guests"),
    ("date", "Date"),
)
"""The form's fields: input ``name`` (the key in the action payload) and label."""


def _input(name: str, value: Any) -> dict[str, Any]:
    if name == "date":
        field: dict[str, Any] = {"type": "DatePicker", "name": name}
    else:
        field = {"type": "Input", "name": name, "inputType": "number" if name == "guests" else "text"}
    if value not in (None, ""):
        field["defaultValue"] = str(value)
    return field


def booking_form(
    values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """The form, refilled with ``values``, with each error under its field.

    ChatKit puts the value of every named input inside the ``Form`` into the
    payload of its ``onSubmitAction``, keyed by the input's ``name``.
    """
    from .handlers import submit  # (here, not at the top: the handlers module imports this one)

    values, errors = values or {}, errors or {}
    children: list[dict[str, Any]] = [{"type": "Title", "value": "Book a table"}]
    for name, label in FIELDS:
        children += [{"type": "Label", "value": label, "fieldName": name}, _input(name, values.get(name))]
        if name in errors:
            children.append({"type": "Text", "id": f"error-{name}", "value": errors[name], "color": "danger"})
    children.append({"type": "Button", "label": "Book", "submit": True})
    return {
        "type": "Card",
        "children": [
            {
                "type": "Form",
                "direction": "col",
                "onSubmitAction": action_config(submit, form=True),
                "children": children,
            }
        ],
    }


def booking_confirmed(name: str, guests: int, date: str) -> dict[str, Any]:
    """What the form turns into once the booking is taken."""
    people = "1 guest" if guests == 1 else f"{guests} guests"
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Table booked"},
            {"type": "Text", "id": "summary", "value": f"{name}, {people}, on {date}."},
        ],
    }

"""Action configs built from handlers (``action_config``) and widgets checked against a router."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from chatkit_handlers import ActionContext, ActionRouter, action_config, on_action
from chatkit_handlers.errors import ActionConfigError
from chatkit_handlers.types import WidgetItem


class Qty(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    qty: int = 1


class Note(BaseModel):
    text: str


@on_action("cfg.add", streaming=False)
async def add(payload: Qty) -> None: ...


@on_action("cfg.stream")
async def streamed(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress("x")


@on_action("cfg.one", streaming=False)
@on_action("cfg.two", streaming=False)
async def twice(payload: Qty) -> None: ...


@on_action("cfg.note", streaming=False)
async def note(payload: Note) -> None: ...


@on_action(re.compile(r"cfg\.sku\.(?P<sku>\w+)"), streaming=False)
async def by_sku(sku: str) -> None: ...


def test_a_config_is_built_from_the_handler_and_its_payload_validated() -> None:
    assert action_config(add, Qty(sku="tea", qty=2)) == {
        "type": "cfg.add",
        "payload": {"sku": "tea", "qty": 2},
        "streaming": False,
    }
    assert action_config(add, {"sku": "mug"}, loading_behavior="self") == {
        "type": "cfg.add",
        "payload": {"sku": "mug"},
        "streaming": False,
        "loadingBehavior": "self",
    }
    assert action_config(streamed) == {"type": "cfg.stream"}  # streaming: no flag, as ChatKit's default
    assert action_config(note, Note(text="hi"))["payload"] == {"text": "hi"}
    with pytest.raises(ActionConfigError, match=r"Expected `int`, got `str` - at `\$.qty`"):
        action_config(add, {"sku": "tea", "qty": "two"})
    with pytest.raises(ActionConfigError, match=r"at `\$.text`"):
        action_config(note, {"text": 3})
    with pytest.raises(ActionConfigError, match="no payload parameter"):
        action_config(streamed, {"x": 1})


def test_a_forms_submit_config_may_leave_out_what_the_inputs_fill() -> None:
    """ChatKit merges the form's values into the payload: only missing fields are let through."""
    with pytest.raises(ActionConfigError, match="missing required field `sku`"):
        action_config(add)
    assert action_config(add, form=True) == {"type": "cfg.add", "streaming": False}
    assert action_config(add, {"qty": 3}, form=True)["payload"] == {"qty": 3}
    with pytest.raises(ActionConfigError, match=r"Expected `int`, got `str` - at `\$.qty`"):
        action_config(add, {"qty": "three"}, form=True)  # a wrong value is still wrong


def test_the_type_is_asked_for_where_it_is_ambiguous() -> None:
    with pytest.raises(ActionConfigError, match=r"'cfg\.two', 'cfg\.one'|'cfg\.one', 'cfg\.two'"):
        action_config(twice, {"sku": "a"})
    assert action_config(twice, {"sku": "a"}, type="cfg.two")["type"] == "cfg.two"
    with pytest.raises(ActionConfigError, match=r"does not answer 'cfg\.three'"):
        action_config(twice, {"sku": "a"}, type="cfg.three")
    with pytest.raises(ActionConfigError, match="say which with type="):
        action_config(by_sku)  # a pattern: the concrete type is needed
    assert action_config(by_sku, type="cfg.sku.tea") == {"type": "cfg.sku.tea", "streaming": False}


def test_a_router_prefix_is_part_of_the_type() -> None:
    @on_action("checkout", streaming=False)
    async def checkout() -> None: ...

    shop = ActionRouter()
    shop.include(checkout, prefix="shop.")
    assert shop.lookup("shop.checkout") is not None  # (compiled: the prefix is known from here on)
    assert action_config(checkout) == {"type": "shop.checkout", "streaming": False}


def test_a_function_without_on_action_is_refused() -> None:
    async def plain() -> None: ...

    with pytest.raises(ActionConfigError, match="no @on_action"):
        action_config(plain)


# --------------------------------------------------------------------------- check_widget


def router() -> ActionRouter:
    r = ActionRouter()
    for fn in (add, streamed, note):
        r.add(fn)
    return r


def test_a_widget_whose_actions_all_reach_a_handler_has_no_problem() -> None:
    card = {
        "type": "Card",
        "confirm": {"label": "OK", "action": action_config(add, {"sku": "tea"})},
        "cancel": {"label": "No", "action": {"type": "local.close", "handler": "client"}},
        "children": [
            {"type": "Button", "label": "Go", "onClickAction": action_config(streamed)},
            {"type": "Form", "onSubmitAction": {"type": "cfg.add", "streaming": False}, "children": []},
        ],
    }
    assert router().check_widget(card) == []
    assert router().check_widget(WidgetItem(id="w", thread_id="t", widget=card)) == []


def test_every_problem_is_named_with_where_it_is() -> None:
    card = {
        "type": "Card",
        "children": [
            {"type": "Button", "onClickAction": {"type": "cfg.missing"}},
            {"type": "Button", "onClickAction": {"type": "cfg.add", "payload": {"sku": "tea"}}},
            {"type": "Button", "onClickAction": {"type": "cfg.stream", "streaming": False}},
            {
                "type": "Button",
                "onClickAction": {"type": "cfg.add", "streaming": False, "payload": {"qty": 1}},
            },
            {
                "type": "Select",
                "onChangeAction": {"type": "cfg.note", "streaming": False, "payload": {"t": 1}},
            },
        ],
    }
    problems = router().check_widget(card)
    assert problems[0] == "$.children[0].onClickAction: no handler for action 'cfg.missing'"
    assert problems[1].startswith(
        "$.children[1].onClickAction: action 'cfg.add' is sync: set `streaming: false`"
    )
    assert problems[2].startswith("$.children[2].onClickAction: action 'cfg.stream' is streaming")
    assert "missing required field `sku`" in problems[3]
    assert problems[4].startswith("$.children[4].onChangeAction: invalid payload")
    assert len(problems) == 5


def test_a_chatkit_widget_is_checked_too() -> None:
    from chatkit.widgets import Button, Card

    card = Card(children=[Button(label="Go", onClickAction={"type": "cfg.nope"})])
    assert router().check_widget(card) == ["$.children[0].onClickAction: no handler for action 'cfg.nope'"]

"""'Did you mean' for unknown action types: good suggestions at a cost bounded by design.

The cost itself is measured in bench/growth.py (no timings here); these tests pin
the properties that bound it — how many names are scored, and that a huge unknown
type is not scored at all — and that typos anywhere in a name are still found
among 10,000 registered types.
"""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from chatkit_handlers import ActionRouter, on_action
from chatkit_handlers._routing.suggest import NearNames

MANY = [f"shop{i // 100:03d}.item{i % 100:02d}.add" for i in range(10_000)]


@pytest.fixture(scope="module")
def many() -> NearNames:
    return NearNames(MANY)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("shop042.item17.ad", "shop042.item17.add"),  # at the end
        ("shop042.item17.addd", "shop042.item17.add"),
        ("shpo042.item17.add", "shop042.item17.add"),  # at the start
        ("xhop042.item17.add", "shop042.item17.add"),
    ],
)
def test_typos_at_either_end_are_found_among_10000_names(many: NearNames, typo: str, meant: str) -> None:
    assert many.near(typo)[0] == meant


def test_at_most_20_names_are_scored(many: NearNames, monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[int] = []
    real = difflib.get_close_matches

    def counting(word: str, possibilities: Any, n: int = 3, cutoff: float = 0.6) -> list[str]:
        possibilities = list(possibilities)
        scored.append(len(possibilities))
        return real(word, possibilities, n=n, cutoff=cutoff)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    for word in ("shop500.item50.ad", "a", "zzzz", "shop999.item99.add.x"):
        many.near(word)
    assert scored
    assert max(scored) <= 20


def test_a_word_no_name_could_resemble_is_not_scored(
    many: NearNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("scored a word longer than three times every name")

    monkeypatch.setattr(difflib, "get_close_matches", fail)
    assert many.near("shop042.item17.add" * 5_000) == []


def test_a_typo_in_the_middle_is_found_when_its_neighbours_are_few() -> None:
    nouns = ["cart", "counter", "todo", "profile", "settings", "order", "invoice", "chat", "form"]
    verbs = ["add", "remove", "increment", "reset", "submit", "open", "close", "toggle", "select"]
    near = NearNames(f"{noun}.{verb}" for noun in nouns for verb in verbs)
    assert near.near("profile.sbumit")[0] == "profile.submit"
    assert near.near("invoce.toggle")[0] == "invoice.toggle"
    assert near.near("settigns.open")[0] == "settings.open"


def test_small_tables_suggest_what_difflib_suggests() -> None:
    names = ["cart.add", "cart.remove", "cart.clear", "counter.increment", "counter.reset"]
    near = NearNames(names)
    for word in ("cart.ad", "cart.remov", "countr.reset", "counter.incremnt", "zzz", ""):
        assert near.near(word) == difflib.get_close_matches(word, names, n=3, cutoff=0.5)
    assert NearNames([]).near("cart.add") == []


def test_router_suggestions_follow_registrations() -> None:
    router = ActionRouter()

    @router.on_action("cart.add", streaming=False)
    async def add() -> None: ...

    assert router.suggest("cart.remov") == ["cart.add"]

    @router.on_action("cart.remove", streaming=False)
    async def remove() -> None: ...

    assert router.suggest("cart.remov") == ["cart.remove", "cart.add"]
    other = ActionRouter()

    @on_action("counter.reset")
    async def reset() -> Any:
        yield None

    other.add(reset)
    router.include(other)
    assert router.suggest("counter.rest") == ["counter.reset"]


def test_a_word_asked_again_is_not_scored_again_and_what_is_kept_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stale widget sends the same unknown type click after click: scored once, answered from memory."""
    near = NearNames(MANY[:100])
    scored: list[str] = []
    real = difflib.get_close_matches

    def counting(word: str, possibilities: Any, n: int = 3, cutoff: float = 0.6) -> list[str]:
        scored.append(word)
        return real(word, possibilities, n=n, cutoff=cutoff)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    first = near.near("shop000.item17.ad")
    assert first[0] == "shop000.item17.add"
    again = near.near("shop000.item17.ad")
    assert again == first
    assert scored == ["shop000.item17.ad"]
    again.append("changed by the caller")  # each caller gets a list of its own
    assert near.near("shop000.item17.ad") == first
    assert near.near("shop000.item17.ad", n=1) == first[:1]  # another n: another answer
    assert len(scored) == 2
    for i in range(1_000):
        near.near(f"unknown.{i}")
    assert len(near._recent) == 256  # the oldest went first
    assert near.near("shop000.item17.ad") == first  # long forgotten: scored again, same answer
    assert len(scored) == 2 + 1_000 + 1

"""'Did you mean': the registered names closest to an unknown action type, at bounded cost.

Any client can send an action type nobody registered, so the 404 that names
near misses must cost the same whatever the size of the table and whatever the
client sent. ``difflib.get_close_matches`` over every registered name grows
with the table, to far more than a request may cost (bench/README.md, section 5).

Only a few candidates are scored: the names next to the unknown one in sorted
order and in sorted order of the reversed strings — the names sharing its
longest beginning and its longest end, where a typo leaves most of a name
intact. A word much longer than every name is not scored at all: no name could
reach the similarity cutoff. The price: in a table where thousands of names
share both the part before and the part after a typo, the best match can be
missed (on a table of 140 realistic names, the first suggestion is the one a
full scan would make for 94% of random one-letter typos). A suggestion is a
convenience; the bound is the point.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
from collections.abc import Iterable

__all__ = ["NearNames"]

_WINDOW = 5
"""Names taken on each side of the word, in each of the two orders (≤ 20 candidates)."""
_CUTOFF = 0.5
_RECENT = 256
"""Answers kept for words asked again (the oldest goes first)."""


class NearNames:
    """An index of names for bounded "did you mean" lookups.

    >>> NearNames(["cart.add", "cart.remove", "counter.increment"]).near("cart.ad")
    ['cart.add']
    """

    __slots__ = ("_backward", "_forward", "_longest", "_recent")

    def __init__(self, names: Iterable[str]) -> None:
        self._forward = sorted(names)
        self._backward = sorted(name[::-1] for name in self._forward)
        self._longest = max(map(len, self._forward), default=0)
        self._recent: dict[tuple[str, int], tuple[str, ...]] = {}

    def near(self, word: str, n: int = 3) -> list[str]:
        """Up to ``n`` names similar to ``word`` (difflib ratio ≥ 0.5), best first."""
        # ratio = 2·matches / (len(a) + len(b)) ≤ 2·len(b) / (len(a) + len(b)) < 0.5 once len(a) > 3·len(b)
        if not self._forward or len(word) > 3 * self._longest:
            return []
        # A client sending an unknown type usually sends it again (a stale widget clicked
        # repeatedly): the last _RECENT answers are kept, since scoring is the costly part.
        recent = self._recent
        found = recent.get((word, n))
        if found is None:
            candidates = set(_around(self._forward, word))
            candidates.update(name[::-1] for name in _around(self._backward, word[::-1]))
            found = tuple(difflib.get_close_matches(word, list(candidates), n=n, cutoff=_CUTOFF))
            if len(recent) >= _RECENT:
                # (another thread's event loop may be forgetting it at the same time)
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del recent[next(iter(recent))]  # the oldest
            recent[word, n] = found
        return list(found)


def _around(ordered: list[str], word: str) -> list[str]:
    at = bisect.bisect_left(ordered, word)
    return ordered[max(0, at - _WINDOW) : at + _WINDOW]

"""Shared bench machinery: an in-process ASGI driver, an interleaved timer, tables.

Every figure a bench prints is measured side by side with its baselines in the
same process and the same rounds (variants take turns, round after round), so
the ratios survive a noisy shared machine better than absolute numbers do.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatkit_handlers.testing._asgi import post_scope

__all__ = [
    "AsgiCall",
    "Measured",
    "Target",
    "asgi_request",
    "bench_args",
    "environment",
    "fmt_us",
    "measure",
    "print_ratio_table",
    "print_table",
    "print_targets",
]

Message = dict[str, Any]
AsgiApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def bench_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The common command line: ``--smoke`` (seconds, correctness only) and ``--rounds``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny run that only proves the bench works")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per variant")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def environment() -> str:
    """One line naming the machine and the versions the figures were taken with."""
    from importlib.metadata import version

    names = ("litestar", "msgspec", "openai-chatkit", "pydantic", "anyio", "uvicorn")
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {version(name)}")
        except Exception:
            versions.append(f"{name} -")
    machine = f"{platform.machine()} ({_cpu_model()}), {os.cpu_count()} cpus"
    return (
        f"Python {platform.python_version()} on {machine}, {platform.system()} {platform.release()}; "
        + ", ".join(versions)
    )


def _cpu_model() -> str:
    """The CPU's model name (ratios of seconds differ between CPUs: bench/README.md)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if not key:  # the first processor's block ends here
                    break
                fields.setdefault(key, value.strip())
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or "unknown CPU"
    # The name alone may not tell the generation ("AMD EPYC"): family, model and stepping do.
    numbers = "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping"))
    return f"{fields['model name']}, family/model/stepping {numbers}"


# --------------------------------------------------------------------------- ASGI


class AsgiCall:
    """One HTTP request driven straight into an ASGI app: no sockets, no server.

    ``receive`` hands over the body in one message, then blocks until the
    response is complete and reports ``http.disconnect`` (as a server does when
    the client goes away after reading the answer).
    """

    __slots__ = ("_body", "_done", "_sent_body", "chunks", "status")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._sent_body = False
        self._done: asyncio.Event | None = None
        self.status = 0
        self.chunks: list[bytes] = []

    async def receive(self) -> Message:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        if self._done is None:
            self._done = asyncio.Event()
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body:
                self.chunks.append(body)
            if not message.get("more_body", False) and self._done is not None:
                self._done.set()

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def asgi_request(
    app: AsgiApp, path: str, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> AsgiCall:
    """POST ``body`` to ``path`` of ``app`` in-process; returns the status and body sent."""
    call = AsgiCall(body)
    await app(post_scope(path, body, headers), call.receive, call.send)
    return call


# --------------------------------------------------------------------------- timing


@dataclass
class Measured:
    """Per-call times (seconds) of one variant, one sample per round."""

    name: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    def ratio(self, baseline: Measured) -> float:
        """The median, over rounds, of this variant's time ÷ ``baseline``'s in the same round.

        Paired by round (both ran within the same second or so), so a noisy
        stretch of the shared machine slows both sides of each ratio alike; the
        ratio of the two medians mixes rounds and moved by up to ~25 % between
        runs where this moves by a few percent.
        """
        return statistics.median(a / b for a, b in zip(self.samples, baseline.samples, strict=True))


Variant = tuple[str, Callable[[], Awaitable[Any]]]


async def _batch(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - start) / n


async def measure(variants: Sequence[Variant], *, rounds: int, batch_seconds: float) -> list[Measured]:
    """Time each variant: calibrate a batch size, then interleave ``rounds`` batches.

    Each variant's batch is sized to take about ``batch_seconds``; in every round
    the variants run one after the other (rotating who goes first), so a noisy
    neighbour on a shared machine hurts all of them alike.
    """
    sizes = []
    for _name, fn in variants:
        for _ in range(3):  # warm-up: imports, caches, first-call costs
            await fn()
        one = await _batch(fn, 5)
        sizes.append(max(1, int(batch_seconds / max(one, 1e-7))))
    results = [Measured(name) for name, _fn in variants]
    order = list(range(len(variants)))
    for r in range(rounds):
        shift = r % len(order)
        for i in order[shift:] + order[:shift]:
            results[i].samples.append(await _batch(variants[i][1], sizes[i]))
    return results


# --------------------------------------------------------------------------- output


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def print_table(title: str, results: Sequence[Measured], baselines: Sequence[str]) -> None:
    """A table of median/best µs per call, with each row's ratio to every baseline (``Measured.ratio``)."""
    by_name = {m.name: m for m in results}
    print_ratio_table(
        title,
        [("median µs", 10), ("best µs", 9)],
        [(m.name, [fmt_us(m.median), fmt_us(m.best)]) for m in results],
        baselines,
        lambda name, baseline: by_name[name].ratio(by_name[baseline]),
    )


def print_ratio_table(
    title: str,
    columns: Sequence[tuple[str, int]],
    rows: Sequence[tuple[str, Sequence[str]]],
    baselines: Sequence[str],
    ratio: Callable[[str, str], float],
) -> None:
    """A table of variants: their ``columns`` (heading, width) and their ``ratio`` to every baseline."""
    width = max(len(name) for name, _cells in rows)
    head = f"{'variant':<{width}}" + "".join(f"  {heading:>{size}}" for heading, size in columns)
    head += "".join(f"  {'÷ ' + b:>{max(12, len(b) + 2)}}" for b in baselines)
    print(f"\n{title}")
    print(head)
    print("-" * len(head))
    for name, cells in rows:
        row = f"{name:<{width}}" + "".join(
            f"  {cell:>{size}}" for cell, (_h, size) in zip(cells, columns, strict=True)
        )
        row += "".join(f"  {ratio(name, b):>{max(12, len(b) + 2)}.3f}" for b in baselines)
        print(row)
    sys.stdout.flush()


@dataclass
class Target:
    """A ratio target: ``value`` compared against ``limit`` (``≤`` or ``≥``)."""

    label: str
    value: float
    limit: float
    at_most: bool = True

    @property
    def met(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit


def print_targets(targets: Sequence[Target], *, smoke: bool = False) -> None:
    """Each target with its measured ratio and MET/MISSED (smoke runs say so: too short to judge)."""
    print("\ntargets")
    width = max(len(t.label) for t in targets)
    for t in targets:
        op = "≤" if t.at_most else "≥"
        verdict = "(smoke run: not judged)" if smoke else ("MET" if t.met else "MISSED")
        print(f"  {t.label:<{width}}  {t.value:7.3f}  target {op} {t.limit:<5}  {verdict}")
    sys.stdout.flush()


def stop(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Stop a server process this bench started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)

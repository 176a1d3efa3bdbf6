"""Every bench script still runs: its ``--smoke`` mode, end to end, in a child process.

Smoke runs are seconds long and judge no timings (there are no timed assertions
in the test suite); they prove that each variant answers correctly (the benches
check every answer before timing it) and that the tables and targets print.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BENCHES = [
    ("bench.request", ["ours: ChatKitPlugin", "peer as shipped", "stream: ours ÷ bare Stream"]),
    ("bench.core", ["floor", "ours, MemoryStore", "stream: ours (ObjectStore) ÷ floor"]),
    ("bench.over_http", ["uvicorn, 1 worker", "bare @post", "uvicorn: ours ÷ bare @post, req/s"]),
    ("bench.streams", ["20 concurrent streams", "raw ASGI floor", "ours: KiB per open stream"]),
    ("bench.growth", ["exact action types", "pattern routes", "unknown type (404)"]),
    ("bench.instructions", ["core-stream: floor: answered", "request-sync: bare @post: answered"]),
    ("bench.soak", ["memory: ", "sync ok", "stream abandoned"]),
    ("bench.stores_http", ["| memory | 1 |", "| sqlite | 2 |"]),
    ("bench.sqlite_processes", ["| 2 |", "clicks/s (median round)"]),
    ("bench.default_store", ["| sqlite, stream |", "sqlite ÷ peer over sqlite, sync"]),
]


@pytest.mark.parametrize(("module", "expected"), BENCHES, ids=[m for m, _ in BENCHES])
def test_bench_smoke(module: str, expected: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(smoke run: not judged)" in done.stdout
    for text in expected:
        assert text in done.stdout, done.stdout


@pytest.mark.parametrize("mode", ["sync", "stream", "unknown", "pattern"])
def test_hotpath_profile_smoke(mode: str) -> None:
    pytest.importorskip("pyinstrument")
    done = subprocess.run(
        [sys.executable, "-m", "bench.hotpath", mode, "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Dispatcher.dispatch" in done.stdout


def test_instruction_count_is_read_from_the_dump_summary() -> None:
    from bench.instructions import dump_summary

    dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 348000123\nfn=(1) main\n0 5\n"
    assert dump_summary(dump) == 348000123
    with pytest.raises(ValueError, match="no summary"):
        dump_summary("version: 1\nevents: Ir\ntotals: 5\n")

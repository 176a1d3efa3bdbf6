"""Bench 8: a soak. Mixed, hostile traffic against real server processes, then an audit.

    python -m bench.soak                          # every store, 120 s each (~7 minutes)
    python -m bench.soak --store sqlite --seconds 300
    python -m bench.soak --smoke                  # 5 s on MemoryStore: proves it runs

Each store is served by uvicorn on 127.0.0.1 (``bench/_soak_app.py``): one worker for
``MemoryStore`` (it lives in its process), two for SQLite and PostgreSQL, which several
processes share. Concurrent clients send, at random: sync +1 clicks (some pausing in the
handler, so that clicks on one widget overlap), streaming +1s, failing handlers (sync and
mid-stream), streams the client abandons after their first event, unknown action types and
malformed bodies. Every answer is checked against what it may be; then the audit:

- **lost updates**: a counter's stored value below the number of +1s its clients saw succeed;
  **phantom writes** above it (a failed handler's or an abandoned stream's update saved);
- **unexpected answers**: anything but the documented answer for the request (a busy widget's
  ``409``, or a busy thread's ``error`` event, is expected; it is not counted as a success);
- **locks left**: after the traffic, a sync and a streaming action on every counter must be
  answered at once (a leaked lock would hold them until the server's lock timeout);
- **memory**: every worker's RSS once warmed up and at the end.

Bounded: each store runs ``--seconds``, every request has a timeout, servers are stopped
whatever happens. Only 127.0.0.1 is ever contacted. Figures are in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench._harness import environment, stop

ROOT = Path(__file__).resolve().parent.parent
WIDGETS = 8
POSTGRES_DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# (operation, weight): what each client picks at random
OPERATIONS = [
    ("add", 35),
    ("add_overlapping", 10),
    ("stream_add", 20),
    ("fail", 5),
    ("stream_fail", 5),
    ("stream_abandoned", 10),
    ("unknown_type", 5),
    ("malformed", 5),
    ("read", 5),
]


@dataclass
class Tally:
    """What the clients saw, and what the audit found."""

    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    succeeded: Counter[int] = field(default_factory=Counter)  # widget -> +1s answered as done

    def fail(self, what: str) -> None:
        if len(self.unexpected) < 20:  # keep a sample, count them all
            self.unexpected.append(what)
        self.outcomes["UNEXPECTED"] += 1


def sync_body(widget: int, action_type: str, payload: dict[str, Any] | None = None) -> bytes:
    action: dict[str, Any] = {"type": action_type}
    if payload is not None:
        action["payload"] = payload
    params = {"thread_id": f"thr_{widget}", "item_id": "wid", "action": action}
    return msgspec.json.encode({"type": "threads.sync_custom_action", "params": params})


def stream_body(widget: int, action_type: str) -> bytes:
    params = {"thread_id": f"thr_{widget}", "item_id": "wid", "action": {"type": action_type}}
    return msgspec.json.encode({"type": "threads.custom_action", "params": params})


def events_of(text: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def count_of(item: dict[str, Any]) -> int:
    return int(item["widget"]["children"][0]["value"])


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) and body.get("type") == "error" else None


async def one(client: httpx.AsyncClient, url: str, op: str, rng: random.Random, tally: Tally) -> None:
    """Send one request of ``op`` and check its answer."""
    widget = rng.randrange(WIDGETS)
    tally.requests += 1
    if op in ("add", "add_overlapping"):
        payload = {"ms": rng.choice((5, 20))} if op == "add_overlapping" else None
        answer = await client.post(url, content=sync_body(widget, "soak.add", payload))
        if answer.status_code == 200 and "updated_item" in answer.json():
            tally.succeeded[widget] += 1
            tally.outcomes["sync ok"] += 1
        elif answer.status_code == 409 and _error_code(answer) == "item.busy":
            tally.outcomes["sync busy (409)"] += 1
        else:
            tally.fail(f"{op}: {answer.status_code} {answer.text[:200]}")
    elif op == "read":
        answer = await client.post(url, content=sync_body(widget, "soak.read"))
        if answer.status_code == 200 or (answer.status_code == 409 and _error_code(answer) == "item.busy"):
            tally.outcomes["read"] += 1
        else:
            tally.fail(f"read: {answer.status_code} {answer.text[:200]}")
    elif op == "fail":
        answer = await client.post(url, content=sync_body(widget, "soak.fail"))
        if answer.status_code == 500 and _error_code(answer) == "handler.error":
            tally.outcomes["handler error (500)"] += 1
        elif answer.status_code == 409 and _error_code(answer) == "item.busy":
            tally.outcomes["sync busy (409)"] += 1
        else:
            tally.fail(f"fail: {answer.status_code} {answer.text[:200]}")
    elif op in ("stream_add", "stream_fail"):
        answer = await client.post(url, content=stream_body(widget, f"soak.{op}"))
        events = events_of(answer.text) if answer.status_code == 200 else []
        kinds = [e.get("type") for e in events]
        errors = [e for e in events if e.get("type") == "error"]
        if answer.status_code != 200 or not kinds or kinds[0] != "stream_options":
            tally.fail(f"{op}: {answer.status_code} {answer.text[:200]}")
        elif errors and "busy" in str(errors[-1].get("message", "")):
            tally.outcomes["stream busy (error event)"] += 1
        elif op == "stream_add" and not errors and "thread.item.updated" in kinds:
            tally.succeeded[widget] += 1
            tally.outcomes["stream ok"] += 1
        elif op == "stream_fail" and errors and errors[-1].get("code") == "stream.error":
            tally.outcomes["stream error event"] += 1
        else:
            tally.fail(f"{op}: {kinds} {errors}")
    elif op == "stream_abandoned":
        async with client.stream("POST", url, content=stream_body(widget, "soak.stream_slow")) as answer:
            if answer.status_code != 200:
                tally.fail(f"abandoned stream: {answer.status_code}")
                return
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    break  # the first event: then hang up mid-stream
        tally.outcomes["stream abandoned"] += 1
    elif op == "unknown_type":
        answer = await client.post(url, content=sync_body(widget, f"soak.nope{rng.randrange(1000)}"))
        if answer.status_code == 404 and _error_code(answer) == "action.unknown":
            tally.outcomes["unknown type (404)"] += 1
        else:
            tally.fail(f"unknown: {answer.status_code} {answer.text[:200]}")
    else:  # malformed
        body = rng.choice([b"{", b'{"type": 3}', b'{"type":"threads.sync_custom_action"}', b"\xff\xfe"])
        answer = await client.post(url, content=body)
        if answer.status_code == 400 and _error_code(answer) is not None:
            tally.outcomes["malformed (400)"] += 1
        else:
            tally.fail(f"malformed: {answer.status_code} {answer.text[:200]}")


async def traffic(url: str, seconds: float, clients: int, seed: int, tally: Tally) -> None:
    """``clients`` concurrent clients for ``seconds``, adding what they see to ``tally``."""
    names = [name for name, _ in OPERATIONS]
    weights = [weight for _, weight in OPERATIONS]
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            while time.monotonic() < deadline:
                op = rng.choices(names, weights)[0]
                try:
                    await one(client, url, op, rng, tally)
                except httpx.HTTPError as exc:
                    tally.fail(f"{op}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(client_loop(n) for n in range(clients)))


async def audit(url: str, tally: Tally) -> dict[str, Any]:
    """Every counter read back, and one sync and one streaming action on each answered at once."""
    lost = phantom = 0
    locks_left = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for widget in range(WIDGETS):
            started = time.monotonic()
            answer = await client.post(url, content=sync_body(widget, "soak.read"))
            streamed = await client.post(url, content=stream_body(widget, "soak.stream_fail"))
            if time.monotonic() - started > 2 or answer.status_code != 200 or streamed.status_code != 200:
                locks_left += 1
                continue
            stored, expected = count_of(answer.json()["updated_item"]), tally.succeeded[widget]
            lost += max(0, expected - stored)
            phantom += max(0, stored - expected)
    return {"lost": lost, "phantom": phantom, "locks_left": locks_left}


# --------------------------------------------------------------------------- servers


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _workers(parent: int) -> list[int]:
    """The uvicorn worker processes: the parent's children, or the parent itself serving alone."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children or [parent]


@contextmanager
def server(store: str, workers: int, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "bench._soak_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "critical", "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SOAK_STORE": store,
        "SOAK_WIDGETS": str(WIDGETS),
        **env,
    }
    # The server's log (every failing handler's traceback) goes to a file: a pipe nobody reads
    # would fill, and the server's memory with it.
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=out)
    url = f"http://127.0.0.1:{port}/chatkit"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the {store} server exited:\n{log.read_text()[-2000:]}")
            try:
                if httpx.post(url, content=sync_body(0, "soak.read"), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"the {store} server did not start within 30 s")
        if workers > 1:  # every worker up (each answers once started)
            while len(_workers(process.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        stop(process)


@contextmanager
def store_env(store: str, tmp: Path) -> Iterator[dict[str, str]]:
    """The environment naming a fresh ``store``, seeded with the counters."""
    sys.path.insert(0, str(ROOT))
    from bench._soak_app import seed

    if store == "memory":
        yield {}
    elif store == "sqlite":
        from chatkit_handlers.stores import SQLiteStore

        path = tmp / "soak.sqlite3"

        async def seeded() -> None:
            sqlite = SQLiteStore(path)
            await seed(sqlite)
            await sqlite.close()

        asyncio.run(seeded())
        yield {"SOAK_SQLITE": str(path)}
    else:
        import asyncpg

        from chatkit_handlers.stores import PostgresStore

        schema = f"soak_{os.getpid()}_{int(time.time())}"

        async def seeded() -> None:
            postgres = PostgresStore(POSTGRES_DSN, schema=schema)
            await seed(postgres)
            await postgres.close()

        async def dropped() -> None:
            conn = await asyncpg.connect(POSTGRES_DSN)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()

        asyncio.run(seeded())
        try:
            yield {"SOAK_POSTGRES_DSN": POSTGRES_DSN, "SOAK_POSTGRES_SCHEMA": schema}
        finally:
            asyncio.run(dropped())


def soak(store: str, seconds: float, clients: int, seed: int) -> dict[str, Any]:
    """One store's soak: warm-up, RSS, traffic, RSS, audit."""
    workers = 1 if store == "memory" else 2
    tally = Tally()
    with (
        tempfile.TemporaryDirectory() as tmp,
        store_env(store, Path(tmp)) as env,
        server(store, workers, env, Path(tmp) / "server.log") as (url, pid),
    ):
        asyncio.run(traffic(url, min(2.0, seconds), clients, seed, tally))  # warm-up (audited too)
        rss_start = sum(_rss_kib(p) for p in _workers(pid))
        asyncio.run(traffic(url, seconds, clients, seed + 1, tally))
        rss_end = sum(_rss_kib(p) for p in _workers(pid))
        found = asyncio.run(audit(url, tally))
    return {
        "store": store,
        "workers": workers,
        "seconds": seconds,
        "requests": tally.requests,
        "outcomes": dict(tally.outcomes),
        "unexpected": tally.outcomes["UNEXPECTED"],
        "samples": tally.unexpected,
        "rss_start_mib": rss_start / 1024,
        "rss_end_mib": rss_end / 1024,
        **found,
    }


def print_results(results: list[dict[str, Any]]) -> None:
    print()
    header = f"{'store':<9} {'workers':>7} {'seconds':>7} {'requests':>9} {'unexpected':>10} {'lost':>5} {'phantom':>7} {'locks left':>10} {'RSS MiB start -> end':>22}"
    print(header)
    print("-" * len(header))
    for r in results:
        rss = f"{r['rss_start_mib']:.1f} -> {r['rss_end_mib']:.1f}"
        print(
            f"{r['store']:<9} {r['workers']:>7} {r['seconds']:>7.0f} {r['requests']:>9,} {r['unexpected']:>10} "
            f"{r['lost']:>5} {r['phantom']:>7} {r['locks_left']:>10} {rss:>22}"
        )
    for r in results:
        print(f"\n{r['store']}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items())))
        for sample in r["samples"]:
            print(f"  unexpected: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["memory", "sqlite", "postgres", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=120.0, help="traffic per store (default 120)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent clients (default 24)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="5 s on MemoryStore: proves it runs")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    stores = ["memory", "sqlite", "postgres"] if args.store == "all" else [args.store]
    seconds = args.seconds
    if args.smoke:
        stores, seconds = ["memory"], 3.0
    print(environment())
    results = [soak(store, seconds, args.clients, args.seed) for store in stores]
    print_results(results)
    if args.smoke:
        print("(smoke run: not judged)")
    bad = [r["store"] for r in results if r["unexpected"] or r["lost"] or r["phantom"] or r["locks_left"]]
    if bad:
        raise SystemExit(f"soak failed on: {', '.join(bad)}")


if __name__ == "__main__":
    main()

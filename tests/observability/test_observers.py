"""Per-action observability through a real Litestar app: spans, Prometheus metrics, one log record.

Every action reaches the app through one ``POST /chatkit``; these tests check
that each action is nonetheless seen on its own, under a bounded name, with how
it ended, and that a failure is logged once with its cause.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from _stores_support import serve
from litestar import Litestar
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.testing import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry, generate_latest

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.errors import StoreUnavailableError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.observability import UNKNOWN, ActionLog, ActionObserver, ActionRecord
from chatkit_handlers.observability.metrics import ActionMetrics
from chatkit_handlers.observability.tracing import ActionSpans
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing import make_thread, make_widget_item
from chatkit_handlers.types import ThreadItem, WidgetItem

pytestmark = pytest.mark.anyio


class Count(msgspec.Struct):
    by: int = 1


def card(value: int) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "id": "count", "value": str(value)}]}


def value_of(item: ThreadItem) -> int:
    assert isinstance(item, WidgetItem)
    return int(item.widget["children"][0]["value"])


@on_action("counter.add", streaming=False)
async def add(payload: Count, sender: WidgetItem) -> dict[str, Any]:
    with trace.get_tracer("app").start_as_current_span("app.work"):  # the handler's own span
        return card(value_of(sender) + payload.by)


@on_action("counter.fail", streaming=False)
async def fail(sender: WidgetItem) -> None:
    raise RuntimeError("the handler's own bug")


@on_action("report.*")
async def report(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    with trace.get_tracer("app").start_as_current_span("app.step"):
        yield ctx.progress("working")
    yield ctx.notice("done")


@on_action("report.broken.run")
async def broken(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    yield ctx.progress("starting")
    raise RuntimeError("broke mid-stream")


def make_router() -> ActionRouter:
    router = ActionRouter()
    router.include(sys.modules[__name__])
    return router


class Outage(MemoryStore):
    """Loads fail as an unreachable database's do."""

    down = False

    async def load_thread_and_item(self, thread_id: str, item_id: str, *, context: Any = None) -> Any:
        if self.down:
            raise StoreUnavailableError("connection refused")
        return await super().load_thread_and_item(thread_id, item_id, context=context)


async def seeded(store: MemoryStore | None = None) -> MemoryStore:
    store = store if store is not None else MemoryStore()
    await store.save_thread(make_thread("thr_1"))
    await store.add_thread_item("thr_1", make_widget_item(card(0), thread="thr_1", id="wid_1"))
    return store


def sync(kind: str, payload: dict[str, Any] | None = None, item: str | None = "wid_1") -> dict[str, Any]:
    params: dict[str, Any] = {"thread_id": "thr_1", "action": {"type": kind, "payload": payload or {}}}
    if item is not None:
        params["item_id"] = item
    return {"type": "threads.sync_custom_action", "params": params}


def stream(kind: str) -> dict[str, Any]:
    return {"type": "threads.custom_action", "params": {"thread_id": "thr_1", "action": {"type": kind}}}


class Recorder(ActionObserver):
    """Keeps every record it hears of."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[ActionRecord] = []

    def action_started(self, record: ActionRecord) -> None:
        self.started.append(record.action)

    def action_ended(self, record: ActionRecord) -> None:
        self.ended.append(record)


# ------------------------------------------------------------------------------ the record


async def test_each_request_is_one_record_with_a_bounded_label_and_its_outcome() -> None:
    recorder = Recorder()
    app = Litestar(plugins=[ChatKitPlugin(make_router(), store=await seeded(), observers=[recorder])])
    with TestClient(app) as client:
        assert client.post("/chatkit", json=sync("counter.add", {"by": 2})).status_code == 200
        assert client.post("/chatkit", json=sync("counter.add", {"by": "x"})).status_code == 422
        assert client.post("/chatkit", json=sync("counter.nope")).status_code == 404
        assert client.post("/chatkit", content=b"{not json").status_code == 400
        assert client.post("/chatkit", json=stream("report.weekly")).status_code == 200
    got = [(r.action, r.action_type, r.mode, r.status, r.outcome) for r in recorder.ended]
    assert got == [
        ("counter.add", "counter.add", "sync", 200, "ok"),
        ("counter.add", "counter.add", "sync", 422, "payload.invalid"),  # refused, still its route's
        (UNKNOWN, "counter.nope", "sync", 404, "action.unknown"),  # no route: one fixed label
        (UNKNOWN, None, "unknown", 400, "request.malformed"),
        ("report.*", "report.weekly", "stream", 200, "ok"),  # a pattern route: its pattern
    ]
    assert recorder.started == [r.action for r in recorder.ended]  # started and ended in pairs
    ok = recorder.ended[0]
    assert (ok.thread_id, ok.item_id) == ("thr_1", "wid_1")
    assert ok.lock_wait is not None
    assert ok.handler_time is not None
    assert 0 <= ok.lock_wait <= ok.duration
    assert 0 <= ok.handler_time <= ok.duration
    assert recorder.ended[1].lock_wait is None  # refused before it took a lock
    assert "counter.add" in repr(ok)


async def test_a_stream_that_fails_after_it_started_ends_with_its_error_code() -> None:
    recorder = Recorder()
    app = Litestar(plugins=[ChatKitPlugin(make_router(), store=await seeded(), observers=[recorder])])
    with TestClient(app) as client:
        answer = client.post("/chatkit", json=stream("report.broken.run"))
    assert answer.status_code == 200
    assert '"stream.error"' in answer.text
    (record,) = recorder.ended
    assert (record.action, record.status, record.outcome) == ("report.broken.run", 200, "stream.error")
    assert record.faulted
    assert isinstance(record.error, RuntimeError)
    assert record.handler_time is None  # the handler never finished


# ------------------------------------------------------------------------------ spans


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = trace._TRACER_PROVIDER  # the handlers' own spans use the global provider
    trace._TRACER_PROVIDER = provider
    try:
        yield provider, exporter
    finally:
        trace._TRACER_PROVIDER = previous


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in finished if s.name == name]
    return span


async def test_a_span_per_action_is_a_child_of_the_http_span_and_parent_of_the_handlers(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    app = Litestar(
        plugins=[
            OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider)),
            ChatKitPlugin(make_router(), store=await seeded(), observers=[ActionSpans(provider)]),
        ]
    )
    with TestClient(app) as client:
        assert client.post("/chatkit", json=sync("counter.add", {"by": 2})).status_code == 200
    finished = exporter.get_finished_spans()
    action = by_name(finished, "chatkit.action counter.add")
    http = [s for s in finished if s.parent is None]
    assert len(http) == 1
    assert action.parent is not None
    assert action.parent.span_id == http[0].context.span_id  # under the HTTP request's span
    assert by_name(finished, "app.work").parent.span_id == action.context.span_id  # type: ignore[union-attr]
    attributes = dict(action.attributes or {})
    assert attributes["chatkit.action.type"] == "counter.add"
    assert attributes["chatkit.action.mode"] == "sync"
    assert attributes["chatkit.thread.id"] == "thr_1"
    assert attributes["chatkit.item.id"] == "wid_1"
    assert attributes["chatkit.action.outcome"] == "ok"
    assert attributes["http.response.status_code"] == 200
    assert attributes["chatkit.action.lock_wait_ms"] >= 0  # type: ignore[operator]
    assert attributes["chatkit.action.handler_ms"] >= 0  # type: ignore[operator]
    assert action.status.status_code is StatusCode.UNSET


async def test_stream_spans_cover_the_stream_and_failures_are_errors(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    plugin = ChatKitPlugin(make_router(), store=await seeded(), observers=[ActionSpans(provider)])
    with TestClient(Litestar(plugins=[plugin])) as client:
        client.post("/chatkit", json=stream("report.weekly"))
        client.post("/chatkit", json=sync("counter.fail"))
        client.post("/chatkit", json=sync("counter.add", {"by": "x"}))
        client.post("/chatkit", json=sync("no.such.action"))
    finished = exporter.get_finished_spans()
    report_span = by_name(finished, "chatkit.action report.*")
    step = by_name(finished, "app.step")
    assert step.parent is not None
    assert step.parent.span_id == report_span.context.span_id
    assert report_span.end_time is not None
    assert step.end_time is not None
    assert report_span.end_time >= step.end_time  # the span lasts as long as the stream
    failed = by_name(finished, "chatkit.action counter.fail")
    assert failed.status.status_code is StatusCode.ERROR  # the server's fault
    assert [e.name for e in failed.events] == ["exception"]
    invalid = by_name(finished, "chatkit.action counter.add")
    assert invalid.status.status_code is StatusCode.UNSET  # the client's: a 4xx is no span error
    assert dict(invalid.attributes or {})["chatkit.action.outcome"] == "payload.invalid"
    assert by_name(finished, f"chatkit.action {UNKNOWN}")  # unknown types share one name


# ------------------------------------------------------------------------------ metrics


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    for family in registry.collect():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


async def test_prometheus_counts_and_times_actions_per_route_mode_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = ActionMetrics(registry=registry, prefix="t_one")
    assert ActionMetrics(registry=registry, prefix="t_one").actions is metrics.actions  # registered once
    app = Litestar(plugins=[ChatKitPlugin(make_router(), store=await seeded(), observers=[metrics])])
    with TestClient(app) as client:
        for _ in range(3):
            client.post("/chatkit", json=sync("counter.add"))
        client.post("/chatkit", json=sync("counter.fail"))
        client.post("/chatkit", json=stream("report.daily"))
        client.post("/chatkit", json=stream("report.weekly"))
        client.post("/chatkit", json=sync("made.up"))
    ok = {"action": "counter.add", "mode": "sync", "outcome": "ok"}
    assert sample(registry, "t_one_actions_total", **ok) == 3
    assert sample(registry, "t_one_action_duration_seconds_count", **ok) == 3
    failed = {"action": "counter.fail", "mode": "sync", "outcome": "handler.error"}
    assert sample(registry, "t_one_actions_total", **failed) == 1
    streamed = {"action": "report.*", "mode": "stream", "outcome": "ok"}
    assert sample(registry, "t_one_actions_total", **streamed) == 2  # one series for the pattern
    unknown = {"action": UNKNOWN, "mode": "sync", "outcome": "action.unknown"}
    assert sample(registry, "t_one_actions_total", **unknown) == 1
    assert b"made.up" not in generate_latest(registry)  # a client's type never becomes a label


async def test_the_apps_metrics_endpoint_serves_them() -> None:
    """Litestar's PrometheusController serves the default registry, where the metrics go by default."""
    metrics = ActionMetrics(prefix="t_endpoint")
    app = Litestar(
        route_handlers=[PrometheusController],
        middleware=[PrometheusConfig(app_name="shop").middleware],
        plugins=[ChatKitPlugin(make_router(), store=await seeded(), observers=[metrics])],
    )
    with TestClient(app) as client:
        client.post("/chatkit", json=sync("counter.add"))
        exposed = client.get("/metrics").text
    assert 't_endpoint_actions_total{action="counter.add",mode="sync",outcome="ok"} 1.0' in exposed
    assert 't_endpoint_action_duration_seconds_bucket{action="counter.add"' in exposed


def test_several_worker_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two server processes on 127.0.0.1 sharing PROMETHEUS_MULTIPROC_DIR: either one's /metrics counts both."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env: dict[str, str | None] = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    here = Path(__file__).parent
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                serve(env, log=tmp_path / f"server{i}.log", app="_metrics_app:app", app_dir=here)
            )
            for i in range(2)
        ]
        with httpx.Client(timeout=10) as client:
            for i in range(10):
                answer = client.post(urls[i % 2] + "/chatkit", json=sync("counter.add"))
                assert answer.status_code == 200
            client.post(urls[1] + "/chatkit", json=sync("counter.add", {"by": "x"}))
            exposed = client.get(urls[0] + "/metrics").text
    ok = 'chatkit_actions_total{action="counter.add",mode="sync",outcome="ok"} 10.0'
    assert ok in exposed, exposed
    assert 'chatkit_actions_total{action="counter.add",mode="sync",outcome="payload.invalid"} 1.0' in exposed
    assert (
        'chatkit_action_duration_seconds_count{action="counter.add",mode="sync",outcome="ok"} 10.0' in exposed
    )


# ------------------------------------------------------------------------------ logs


def quiet(plugin: ChatKitPlugin) -> Litestar:
    """An app that leaves logging as it is (Litestar's own config would replace pytest's capture)."""
    return Litestar(plugins=[plugin], logging_config=None)


async def test_one_structured_log_record_per_action(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chatkit_handlers")
    log = ActionLog(user=lambda context: context)
    plugin = ChatKitPlugin(
        make_router(), store=await seeded(), observers=[log], context=lambda request: "u_42"
    )
    with TestClient(quiet(plugin)) as client:
        client.post("/chatkit", json=sync("counter.add", {"by": 5}))
        client.post("/chatkit", json=sync("counter.add", {"by": "x"}))
    first, second = [r for r in caplog.records if r.name == "chatkit_handlers.actions"]
    assert first.levelno == logging.INFO
    assert first.getMessage().startswith("counter.add sync 200 ok ")
    fields = {k: getattr(first, k) for k in ("action", "action_type", "mode", "thread_id", "item_id")}
    assert fields == {
        "action": "counter.add",
        "action_type": "counter.add",
        "mode": "sync",
        "thread_id": "thr_1",
        "item_id": "wid_1",
    }
    assert (first.outcome, first.status, first.user) == ("ok", 200, "u_42")  # type: ignore[attr-defined]
    assert first.duration_ms >= first.handler_ms >= 0  # type: ignore[attr-defined]
    assert (second.levelno, second.outcome, second.status) == (logging.INFO, "payload.invalid", 422)  # type: ignore[attr-defined]
    assert second.handler_ms is None
    assert second.user == "u_42"


async def test_a_failure_is_logged_once_with_its_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chatkit_handlers")
    store = await seeded(Outage())
    plugin = ChatKitPlugin(make_router(), store=store, observers=[ActionLog()])
    with TestClient(quiet(plugin)) as client:
        client.post("/chatkit", json=sync("counter.fail"))
        client.post("/chatkit", json=stream("report.broken.run"))
        store.down = True
        assert client.post("/chatkit", json=sync("counter.add")).status_code == 503
    records = [r for r in caplog.records if r.name.startswith("chatkit_handlers")]
    assert [(r.name, r.levelno, r.outcome) for r in records] == [  # type: ignore[attr-defined]
        ("chatkit_handlers.actions", logging.ERROR, "handler.error"),
        ("chatkit_handlers.actions", logging.ERROR, "stream.error"),
        ("chatkit_handlers.actions", logging.WARNING, "store.unavailable"),
    ]
    assert [type(r.exc_info[1]) for r in records if r.exc_info] == [
        RuntimeError,
        RuntimeError,
        StoreUnavailableError,
    ]


async def test_without_the_action_log_failures_are_still_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = ChatKitPlugin(make_router(), store=await seeded(), observers=[Recorder()])
    with TestClient(quiet(plugin)) as client:
        client.post("/chatkit", json=sync("counter.fail"))
    (record,) = [r for r in caplog.records if r.name.startswith("chatkit_handlers")]
    assert "counter.fail" in record.getMessage()
    assert record.exc_info is not None


async def test_litestars_structlog_plugin_renders_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    from litestar.plugins.structlog import StructlogPlugin

    plugin = ChatKitPlugin(make_router(), store=await seeded(), observers=[ActionLog()])
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with TestClient(Litestar(plugins=[StructlogPlugin(), plugin])) as client:
            # (The structlog plugin also adds Litestar's LoggingMiddleware, which reads the body first.)
            assert client.post("/chatkit", json=sync("counter.add", {"by": 2})).status_code == 200
        out = capsys.readouterr()
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in (out.out + out.err).splitlines() if line.startswith("{")]
    (rendered,) = [line for line in lines if line.get("action") == "counter.add"]
    assert (rendered["mode"], rendered["outcome"], rendered["status"]) == ("sync", "ok", 200)
    assert rendered["thread_id"] == "thr_1"

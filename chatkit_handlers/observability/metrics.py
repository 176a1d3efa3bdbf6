"""A counter and a latency histogram per action route, mode and outcome (Prometheus).

Needs ``prometheus_client`` (``pip install "chatkit-handlers[prometheus]"``),
as Litestar's ``PrometheusConfig`` does: the metrics are registered in its
default registry, so the app's existing metrics endpoint (Litestar's
``PrometheusController``) serves them, and with ``PROMETHEUS_MULTIPROC_DIR``
set, prometheus_client's multiprocess mode adds up every worker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'chatkit_handlers.observability.metrics needs prometheus_client: pip install "chatkit-handlers[prometheus]"'
    ) from exc

from .._execution.observe import ActionObserver, ActionRecord

__all__ = ["DEFAULT_BUCKETS", "ActionMetrics"]

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds: actions are mostly fast sync clicks, with streams running up to many seconds."""

_LABELS = ("action", "mode", "outcome")

# One pair of metrics per registry and prefix: a second app (or test) in the process reuses them,
# since prometheus_client refuses to register one name twice.
_REGISTERED: dict[tuple[CollectorRegistry, str], tuple[Counter, Histogram]] = {}


class ActionMetrics(ActionObserver):
    """Counts actions (``<prefix>_actions_total``) and their durations (``<prefix>_action_duration_seconds``).

    Labels: ``action`` (the route's type, a pattern route's pattern, or
    ``<unknown>``: clients cannot add series), ``mode`` (``sync``, ``stream``,
    ``unknown``) and ``outcome`` (``ok``, an error code, ``disconnected``).
    A stream's duration runs to its last event.

    Args:
        registry: where the metrics are registered (prometheus_client's default
            registry, which Litestar's metrics endpoint serves).
        prefix: the metrics' name prefix.
        buckets: the histogram's buckets, in seconds.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry = REGISTRY,
        prefix: str = "chatkit",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        key = (registry, prefix)
        if key not in _REGISTERED:
            _REGISTERED[key] = (
                Counter(f"{prefix}_actions", "ChatKit actions answered", _LABELS, registry=registry),
                Histogram(
                    f"{prefix}_action_duration_seconds",
                    "Time from a ChatKit action's request to the end of its answer",
                    _LABELS,
                    registry=registry,
                    buckets=tuple(buckets),
                ),
            )
        self.actions, self.durations = _REGISTERED[key]
        # Each label set's samples, found once: prometheus_client's labels() checks and locks per call.
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def action_ended(self, record: ActionRecord) -> None:
        labels = (record.action, record.mode, record.outcome)
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = (self.actions.labels(*labels), self.durations.labels(*labels))
        series[0].inc()
        series[1].observe(record.duration)

"""Prometheus metrics, correct under several gunicorn workers.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set (by ``gunicorn.conf.py``) before
any worker imports prometheus-client, so every metric writes to files in that folder
and each scrape merges them with a fresh registry and ``MultiProcessCollector``.
Without it (tests, a single process) the app's own registry is exposed.
"""

from __future__ import annotations

import os

from prometheus_client import (
    disable_created_metrics,
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
disable_created_metrics()  # the *_created series double the output and mean nothing here

ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _ProcessId:
    """``os.getpid()`` without the system call: prometheus-client asks for the process
    id on every metric update (to notice a fork), which under load cost about 1 us
    each, eight times per prediction. Refreshed in every forked child, so it always
    equals ``os.getpid()``, as ``MultiProcessValue``'s contract requires."""

    value = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        cls.value = os.getpid()

    @classmethod
    def get(cls) -> int:
        return cls.value


os.register_at_fork(after_in_child=_ProcessId.refresh)
if multiprocess_dir():
    values.ValueClass = values.MultiProcessValue(process_identifier=_ProcessId.get)


class ServiceMetrics:
    """Every metric the service exports, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.requests = Counter(
            "moonserve_requests", "HTTP requests answered, by endpoint, method, status and route "
            "(how a prediction chose its model: stable, canary, pinned, requested; none for the rest).",
            ["endpoint", "method", "status", "route"], registry=registry)
        self.latency = Histogram(
            "moonserve_request_duration_seconds", "Time from reading a request to its response, by endpoint and route.",
            ["endpoint", "route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_progress = Gauge(
            "moonserve_requests_in_progress", "Requests being handled now, summed over live workers.",
            registry=registry, multiprocess_mode="livesum")
        self.predictions = Counter(
            "moonserve_predictions", "Rows predicted, by model version, predicted label and route.",
            ["model_version", "label", "route"], registry=registry)
        self.rows = Histogram(
            "moonserve_prediction_request_rows", "Rows per successful prediction request.",
            buckets=ROW_BUCKETS, registry=registry)
        self.model_loads = Counter(
            "moonserve_model_loads", "Model file load attempts, by result (success, failure, or rejected by MIN_ACCURACY).",
            ["result"], registry=registry)
        self.model_info = Gauge(
            "moonserve_model_info", "1 for the model version a live worker serves, 0 for one it served before.",
            ["name", "version"], registry=registry, multiprocess_mode="livemax")
        self.model_version = Gauge(
            "moonserve_model_version", "The newest model version a live worker serves (0: none).",
            registry=registry, multiprocess_mode="livemax")
        self.model_loaded_timestamp = Gauge(
            "moonserve_model_loaded_timestamp_seconds", "Unix time the served model was loaded.",
            registry=registry, multiprocess_mode="livemax")
        for result in ("success", "failure", "rejected"):
            self.model_loads.labels(result)
        self._prediction_children: dict = {}

    def record_predictions(self, version: int, rows: int, positives: int, route: str) -> None:
        """Count one successful prediction request of ``rows`` rows, ``positives`` of them label 1."""
        self.rows.observe(rows)
        children = self._prediction_children.get((version, route))
        if children is None:
            children = self._prediction_children[version, route] = (
                self.predictions.labels(str(version), "0", route), self.predictions.labels(str(version), "1", route))
        if positives:
            children[1].inc(positives)
        if positives < rows:
            children[0].inc(rows - positives)

    def record_load(self, version: int, result: str, reason: str | None) -> None:
        """One model file judged: ``result`` is success, failure or rejected (the gate)."""
        self.model_loads.labels(result).inc()

    def record_served(self, name: str, previous: int | None, version: int | None, loaded_at: float) -> None:
        if previous is not None and previous != version:
            self.model_info.labels(name, str(previous)).set(0)
        if version is not None:
            self.model_info.labels(name, str(version)).set(1)
            self.model_version.set(version)
            self.model_loaded_timestamp.set(loaded_at)

    def render(self) -> tuple[bytes, str]:
        """The exposition text: merged over workers in multiprocess mode."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

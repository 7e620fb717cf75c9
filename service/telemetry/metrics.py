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
            "moonserve_predictions", "Rows predicted, by model, model version, predicted label and route.",
            ["model", "model_version", "label", "route"], registry=registry)
        self.rows = Histogram(
            "moonserve_prediction_request_rows", "Rows per successful prediction request.",
            buckets=ROW_BUCKETS, registry=registry)
        self.model_loads = Counter(
            "moonserve_model_loads", "Model file load attempts, by model and result (success, failure, "
            "or rejected by MIN_ACCURACY).", ["model", "result"], registry=registry)
        self.model_info = Gauge(
            "moonserve_model_info", "1 for the model version a live worker serves, 0 for one it served before.",
            ["model", "version"], registry=registry, multiprocess_mode="livemax")
        self.model_version = Gauge(
            "moonserve_model_version", "The newest version of each model a live worker serves (0: none).",
            ["model"], registry=registry, multiprocess_mode="livemax")
        self.model_loaded_timestamp = Gauge(
            "moonserve_model_loaded_timestamp_seconds", "Unix time each model's served version was loaded.",
            ["model"], registry=registry, multiprocess_mode="livemax")
        self.inference_requests = Counter(
            "moonserve_inference_requests", "Inference requests that reached a model, by model, model version "
            "and result (success, fail): Triton's statistics (GET /v2/models/<name>/stats).",
            ["model", "model_version", "result"], registry=registry)
        self.inference_rows = Counter(
            "moonserve_inference_rows", "Rows of successful inference requests, by model and model version "
            "(Triton's inference_count; moonserve_predictions_total counts the same rows at once, by label).",
            ["model", "model_version"], registry=registry)
        self.inference_seconds = Counter(
            "moonserve_inference_duration_seconds", "Cumulative time of inference requests by model, model version "
            "and stage: success and fail (whole requests), compute_input (parsing), compute_infer (the "
            "forward pass), compute_output (the answer); Triton's statistics.",
            ["model", "model_version", "stage"], registry=registry)
        self.last_inference = Gauge(
            "moonserve_inference_last_timestamp_seconds", "Unix time of each model version's last inference.",
            ["model", "model_version"], registry=registry, multiprocess_mode="max")
        self._prediction_children: dict = {}

    def add_model(self, name: str) -> None:
        """Show a model's load counters from the start, at 0."""
        for result in ("success", "failure", "rejected"):
            self.model_loads.labels(name, result)

    def record_predictions(self, name: str, version: int, rows: int, positives: int, route: str) -> None:
        """Count one successful prediction request of ``rows`` rows, ``positives`` of them label 1."""
        self.rows.observe(rows)
        children = self._prediction_children.get((name, version, route))
        if children is None:
            children = self._prediction_children[name, version, route] = (
                self.predictions.labels(name, str(version), "0", route),
                self.predictions.labels(name, str(version), "1", route))
        if positives:
            children[1].inc(positives)
        if positives < rows:
            children[0].inc(rows - positives)

    def record_load(self, name: str, version: int, result: str, reason: str | None) -> None:
        """One model file judged: ``result`` is success, failure or rejected (the gate)."""
        self.model_loads.labels(name, result).inc()

    def record_served(self, name: str, previous: int | None, version: int | None, loaded_at: float) -> None:
        if previous is not None and previous != version:
            self.model_info.labels(name, str(previous)).set(0)
        if version is not None:
            self.model_info.labels(name, str(version)).set(1)
            self.model_version.labels(name).set(version)
            self.model_loaded_timestamp.labels(name).set(loaded_at)

    def merged(self) -> CollectorRegistry:
        """A registry of every worker's values in multiprocess mode, else this one's."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return registry
        return self.registry

    def render(self) -> tuple[bytes, str]:
        """The exposition text: merged over workers in multiprocess mode."""
        return generate_latest(self.merged()), CONTENT_TYPE_LATEST

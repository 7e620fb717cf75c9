"""Per-request bookkeeping: request ids, one JSON log line, and the request metrics.

A WSGI middleware around the Flask app, so that every request, answered by a view,
an error handler or Flask's own routing errors, goes through the same few lines; it
costs less than three Flask hooks. The endpoint label is the URL rule Flask matched
(bounded cardinality), which ``ObservedRequest`` notes in the environ.
"""

from __future__ import annotations

import functools
import random
import re
import time

from flask import Request
from werkzeug.routing import Rule

from service.telemetry.access_log import AccessLog
from service.telemetry.inference_stats import InferenceStats
from service.telemetry.metrics import ServiceMetrics

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
"""The methods counted by name; any other is counted as ``other``, so that a client
inventing methods cannot add series to the metrics."""
REQUEST_ID = "moonserve.request_id"
MODEL = "moonserve.model"
"""The name of the model a request reached (with ``MODEL_VERSION``, its version)."""
MODEL_VERSION = "moonserve.model_version"
TIMINGS = "moonserve.timings"
"""A successful inference's (rows, compute_input, compute_infer, compute_output nanoseconds)."""
ENDPOINT = "moonserve.endpoint"
ROUTE = "moonserve.route"
"""How a prediction chose its model (``inference.route_model``); ``none`` elsewhere."""


class ObservedRequest(Request):
    """Flask's request, noting the URL rule it matched in the WSGI environ, where the
    observer reads it after Flask has torn the request context down."""

    _rule: Rule | None = None

    @property
    def url_rule(self) -> Rule | None:
        return self._rule

    @url_rule.setter
    def url_rule(self, rule: Rule | None) -> None:
        self._rule = rule
        if rule is not None:
            self.environ[ENDPOINT] = endpoint_label(rule.rule)


@functools.lru_cache(maxsize=256)
def endpoint_label(rule: str) -> str:
    """The rule as a label, without converter names: ``/v1/models/<segment:name>:predict``
    is ``/v1/models/<name>:predict``. One per rule: the cache is bounded by the URL map."""
    return re.sub(r"<[a-z_]+:([a-z_]+)>", r"<\1>", rule)


_random_bits = random.getrandbits
"""The random module's generator: seeded from the OS, and seeded again in every
forked child (``random`` registers that itself), so gunicorn's workers never share ids."""


def new_request_id() -> str:
    """128 random bits as 32 hex digits. Not ``os.urandom``: that is a system call per
    request (strace of a worker under load: one getrandom per request), which also gives
    up the GIL; an id must be unique, not unguessable."""
    return f"{_random_bits(128):032x}"


class RequestObserver:
    """WSGI middleware: request id in and out, metrics, and the access log line."""

    def __init__(self, wsgi_app, metrics: ServiceMetrics, access_log: AccessLog, stats: InferenceStats):
        self.wsgi_app, self.metrics, self.access_log, self.stats = wsgi_app, metrics, access_log, stats
        self._request_children: dict = {}
        self._latency_children: dict = {}

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = environ[REQUEST_ID] = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else new_request_id()
        status_seen = []

        def start_with_id(status, headers, exc_info=None):
            status_seen.append(status)
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        self.metrics.in_progress.inc()
        try:
            return self.wsgi_app(environ, start_with_id)
        finally:
            self.metrics.in_progress.dec()
            self._record(environ, status_seen[0] if status_seen else "500", time.perf_counter() - started)

    def _record(self, environ, status: str, duration: float) -> None:
        endpoint = environ.get(ENDPOINT, "unmatched")
        method, code, route = environ["REQUEST_METHOD"], status[:3], environ.get(ROUTE, "none")
        key = (endpoint, method, code, route)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self.metrics.requests.labels(endpoint, method if method in METHODS else "other", code, route)
            if method in METHODS:  # the cache is bounded as the labels are
                self._request_children[key] = counter
        counter.inc()
        histogram = self._latency_children.get((endpoint, route))
        if histogram is None:
            histogram = self._latency_children[endpoint, route] = self.metrics.latency.labels(endpoint, route)
        histogram.observe(duration)
        model = environ.get(MODEL)
        if model is not None:
            self.stats.record(model, environ[MODEL_VERSION], int(duration * 1e9),
                              environ.get(TIMINGS) if code < "400" else None)
        if self.access_log.enabled:
            self.access_log.write({"request_id": environ[REQUEST_ID], "method": method[:32],
                                   "path": environ.get("PATH_INFO", ""), "status": int(code),
                                   "duration_ms": int(duration * 1e6) / 1000,  # round() costs more
                                   "model": model, "model_version": environ.get(MODEL_VERSION)})

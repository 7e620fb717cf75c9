"""Per-request bookkeeping: request ids, one JSON log line, and the request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from service.metrics import ServiceMetrics

log = logging.getLogger("moonserve.access")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def install_request_hooks(app: Flask, metrics: ServiceMetrics) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex
        metrics.in_progress.inc()
        g.counted_in_progress = True

    @app.after_request
    def _finish(response):
        started = g.get("started")
        duration = time.perf_counter() - started if started is not None else 0.0
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(duration)
        log.info("request", extra={"fields": {
            "request_id": response.headers["X-Request-ID"], "method": request.method, "path": request.path,
            "status": response.status_code, "duration_ms": round(duration * 1000, 3),
            "model_version": g.get("model_version"),
        }})
        return response

    @app.teardown_request
    def _leave(_error):
        if g.pop("counted_in_progress", False):
            metrics.in_progress.dec()

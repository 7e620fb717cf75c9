"""Per-request bookkeeping: request ids, one JSON log line, and the request metrics.

This runs on every request, so it touches Flask's context-local proxies once and
keeps its state in the WSGI environ; metric children are looked up once per label
set, and the access log is written by ``AccessLog``, not the logging module.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time

import orjson
from flask import Flask, request

from service.metrics import ServiceMetrics

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STARTED = "moonserve.started"
REQUEST_ID = "moonserve.request_id"
MODEL_VERSION = "moonserve.model_version"


def new_request_id() -> str:
    return os.urandom(16).hex()


class AccessLog:
    """One JSON object per request on stderr, in the same shape as ``jsonlog``'s lines.

    The logging module costs more per record than the rest of a one-row prediction;
    this writes the line in one call under a lock, so lines never interleave.
    """

    def __init__(self, enabled: bool, stream=None):
        self.enabled = enabled
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, entry: dict) -> None:
        if not self.enabled:
            return
        now = time.time()
        line = orjson.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z",
                             "level": "info", "logger": "moonserve.access", "message": "request", **entry}) + b"\n"
        stream = self._stream or sys.stderr.buffer
        with self._lock:
            stream.write(line)
            stream.flush()


def install_request_hooks(app: Flask, metrics: ServiceMetrics, access_log: AccessLog) -> None:
    request_children: dict = {}
    latency_children: dict = {}

    @app.before_request
    def _start():
        environ = request.environ
        environ[STARTED] = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        environ[REQUEST_ID] = offered if _CLIENT_REQUEST_ID.match(offered) else new_request_id()
        metrics.in_progress.inc()

    @app.after_request
    def _finish(response):
        environ = request.environ
        started = environ.get(STARTED)
        duration = time.perf_counter() - started if started is not None else 0.0
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        method, status = environ["REQUEST_METHOD"], response.status_code
        request_id = environ.get(REQUEST_ID) or new_request_id()
        response.headers["X-Request-ID"] = request_id
        key = (endpoint, method, status)
        counter = request_children.get(key)
        if counter is None:
            counter = request_children[key] = metrics.requests.labels(endpoint, method, str(status))
        counter.inc()
        histogram = latency_children.get(endpoint)
        if histogram is None:
            histogram = latency_children[endpoint] = metrics.latency.labels(endpoint)
        histogram.observe(duration)
        access_log.write({"request_id": request_id, "method": method, "path": environ.get("PATH_INFO", ""),
                          "status": status, "duration_ms": round(duration * 1000, 3),
                          "model_version": environ.get(MODEL_VERSION)})
        return response

    @app.teardown_request
    def _leave(_error):
        if request.environ.pop(STARTED, None) is not None:
            metrics.in_progress.dec()

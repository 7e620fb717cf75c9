"""The service with parts taken out, so that a benchmark can price each part.

``build(variant, settings)`` makes the app as ``create_app`` does, then takes out:

- ``full``: nothing (the service as shipped);
- ``no_observer``: the per-request bookkeeping (``RequestObserver``: request ids, the
  request metrics, the access log) and the prediction counters; a fixed request id is
  set instead, which the view needs to route;
- ``fixed_view``: the work of ``/predict`` (parse, validate, route, the forward pass,
  the answer): it reads the body and returns the Flask floor's fixed answer, as
  ``floors.flask_fixed`` does, with the bookkeeping on;
- ``fixed_view_no_observer``: both, which leaves the service's Flask app itself (its
  URL map, request class and session interface) against the Flask floor's.

Under gunicorn: ``service_variants:app`` with ``MOONSERVE_BENCH_VARIANT`` set
(``bench/service_parts.py``). Benchmarks only: nothing here is served.
"""

from __future__ import annotations

import os

from flask import Response, request

from floors import FIXED
from service.app import create_app
from service.settings import Settings
from service.telemetry.observability import REQUEST_ID

VARIANTS = ("full", "no_observer", "fixed_view", "fixed_view_no_observer")
VARIANT_ENV = "MOONSERVE_BENCH_VARIANT"
PREDICT_ENDPOINT = "api.predict_view"


def _without_observer(app) -> None:
    observed = app.wsgi_app.wsgi_app

    def with_fixed_id(environ, start_response):
        environ[REQUEST_ID] = "0" * 32
        return observed(environ, start_response)

    app.wsgi_app = with_fixed_id
    app.extensions["moonserve"].metrics.record_predictions = lambda *args, **kwargs: None


def _fixed_predict():
    request.get_data()
    return Response(FIXED, mimetype="application/json")


def build(variant: str, settings: Settings | None = None, start_reloader: bool = True):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (variants: {', '.join(VARIANTS)})")
    app = create_app(settings, start_reloader=start_reloader)
    if variant.endswith("no_observer"):
        _without_observer(app)
    if variant.startswith("fixed_view"):
        if PREDICT_ENDPOINT not in app.view_functions:  # else the fixed view would be added, never called
            raise LookupError(f"the service has no endpoint {PREDICT_ENDPOINT!r} to replace")
        app.view_functions[PREDICT_ENDPOINT] = _fixed_predict
    return app


if VARIANT_ENV in os.environ:
    app = build(os.environ[VARIANT_ENV])

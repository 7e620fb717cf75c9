"""The service with parts taken out, so that a benchmark can price each part.

``build(variant, settings)`` makes the app as ``create_app`` does, then takes out:

- ``full``: nothing (the service as shipped);
- ``through_flask``: ``/predict``'s fast path (``predict_fast_path``), so that every
  prediction goes through Flask's view;
- ``no_observer``: the per-request bookkeeping (``RequestObserver``: request ids, the
  request metrics, the access log) and the prediction counters; a fixed request id is
  set instead, which the prediction needs to route;
- ``fixed_view``: the work of ``/predict`` (parse, validate, route, the forward pass,
  the answer): it reads the body and returns the Flask floor's fixed answer, as
  ``floors.flask_fixed`` does, with the bookkeeping on;
- ``fixed_view_no_observer``: both, which leaves the service's WSGI layers and
  gunicorn's work.

Under gunicorn: ``service_variants:app`` with ``MOONSERVE_BENCH_VARIANT`` set
(``bench/service_parts.py``). Benchmarks only: nothing here is served.
"""

from __future__ import annotations

import os

from floors import FIXED, predict as fixed_view
from service.app import create_app
from service.protocols.predict_fast_path import PredictFastPath
from service.settings import Settings
from service.telemetry.observability import REQUEST_ID, RequestObserver

VARIANTS = ("full", "through_flask", "no_observer", "fixed_view", "fixed_view_no_observer")
VARIANT_ENV = "MOONSERVE_BENCH_VARIANT"
PREDICT_ENDPOINT = "api.predict_view"


def _layers(app) -> tuple[RequestObserver, PredictFastPath]:
    observer = app.wsgi_app
    if not isinstance(observer, RequestObserver) or not isinstance(observer.wsgi_app, PredictFastPath):
        raise LookupError("the service's WSGI layers are not RequestObserver(PredictFastPath(flask))")
    return observer, observer.wsgi_app


def _without_observer(app) -> None:
    observed = app.wsgi_app.wsgi_app

    def with_fixed_id(environ, start_response):
        environ[REQUEST_ID] = "0" * 32
        return observed(environ, start_response)

    app.wsgi_app = with_fixed_id
    app.extensions["moonserve"].metrics.record_predictions = lambda *args, **kwargs: None


def _fixed_answer(state, environ: dict, query_version) -> bytes:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return FIXED


def build(variant: str, settings: Settings | None = None, start_reloader: bool = True):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (variants: {', '.join(VARIANTS)})")
    app = create_app(settings, start_reloader=start_reloader)
    observer, fast_path = _layers(app)
    if variant == "through_flask":
        observer.wsgi_app = fast_path.flask_wsgi_app
    if variant.startswith("fixed_view"):
        if PREDICT_ENDPOINT not in app.view_functions:  # else the fixed view would be added, never called
            raise LookupError(f"the service has no endpoint {PREDICT_ENDPOINT!r} to replace")
        app.view_functions[PREDICT_ENDPOINT] = fixed_view  # the Flask floor's own view
        fast_path.answer = _fixed_answer
    if variant.endswith("no_observer"):
        _without_observer(app)
    return app


if VARIANT_ENV in os.environ:
    app = build(os.environ[VARIANT_ENV])

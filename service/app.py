"""The application factory."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask
from flask.sessions import NullSession, SessionInterface
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from service.protocols.errors import register_error_handlers
from service.telemetry.jsonlog import configure_logging
from service.telemetry.metrics import ServiceMetrics
from service.telemetry.access_log import AccessLog
from service.telemetry.observability import ObservedRequest, RequestObserver
from service.protocols.openapi import build_openapi
from service.protocols.predict_fast_path import PredictFastPath
from service.models.repository import ModelRepository
from service.telemetry.inference_stats import InferenceStats
from service.schemas import make_predict_request
from service.settings import Settings
from service.protocols.v1 import v1
from service.protocols.v2 import v2
from service.protocols.views import api
from service.pages.views import docs, pages


@dataclass
class ServiceState:
    """What the views need, kept in ``app.extensions["moonserve"]``."""

    settings: Settings
    repository: ModelRepository
    metrics: ServiceMetrics
    stats: InferenceStats
    predict_request: type[BaseModel]
    openapi: bytes
    started_at: float


class NoSessions(SessionInterface):
    """The service keeps no sessions; Flask's default interface still looks for a
    signing key and builds a fresh null session on every request."""

    _session = NullSession()

    def open_session(self, app, request):
        return self._session

    def save_session(self, app, session, response) -> None:
        pass


def create_app(settings: Settings | None = None, start_reloader: bool = True) -> Flask:
    """Build the app: load the models once, and (unless told not to) start the
    background reload that checks the models folder every RELOAD_INTERVAL_S."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = ServiceMetrics(CollectorRegistry())
    repository = ModelRepository(
        settings.models_dir, settings.model_name, settings.model_names, settings.pins(), settings.keep_versions,
        settings.min_accuracy, on_load=metrics.record_load, on_model=metrics.add_model,
        on_serve=lambda name, previous, model: metrics.record_served(
            name, previous.version if previous else None, model.version, model.loaded_at),
    )
    repository.refresh()
    stats = InferenceStats(metrics)
    if start_reloader:
        stats.start_flushing()
        if settings.reload_interval_s > 0:
            repository.start_reloading(settings.reload_interval_s)
    predict_request = make_predict_request(settings.max_batch)
    app = Flask("moonserve", static_folder=None)  # no /static: the page serves its own files
    app.request_class = ObservedRequest
    app.session_interface = NoSessions()
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    state = app.extensions["moonserve"] = ServiceState(
        settings, repository, metrics, stats, predict_request, build_openapi(predict_request, settings.model_name, settings.max_batch), time.time())
    register_error_handlers(app)
    app.register_blueprint(api)
    app.register_blueprint(v1)
    app.register_blueprint(v2)
    app.register_blueprint(pages)
    app.register_blueprint(docs)
    app.add_url_rule("/docs", "docs.root", app.view_functions["docs.show"])  # as well as /docs/
    access_log = AccessLog(enabled=settings.log_level in ("debug", "info"), flush_s=settings.access_log_flush_s)
    app.wsgi_app = RequestObserver(PredictFastPath(app.wsgi_app, state), metrics, access_log, stats)
    return app

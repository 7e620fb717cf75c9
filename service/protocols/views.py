"""HTTP endpoints: parse and validate, call the model, serialise. Nothing more."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from service.protocols.errors import (
    MalformedJson,
    NoModel,
    UnsupportedMediaType,
    ValidationFailed,
    VersionNotFound,
)
from service.transport.http_body import content_type, read_body
from service.models.pictures import plot_path, read_plot
from service.models.inference import model_snapshot, predict_lists, prediction_body, route_model
from service.telemetry.observability import MODEL, MODEL_VERSION, REQUEST_ID, ROUTE, TIMINGS
from service.protocols.problems import BodyProblems, validate_body
from service.schemas import ROWS
from service.protocols.web import VERSION_TEXT, json_response, service_state, version_or_label

api = Blueprint("api", __name__)


def _parse_json_body(environ: dict, settings):
    media_type = content_type(environ)
    if media_type != "application/json":
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {media_type or 'none'!r}")
    body = read_body(environ, settings.max_body_bytes, settings.body_timeout_s)
    if not body.strip():
        raise MalformedJson("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _parse_non_standard(body, error)


def _parse_non_standard(body: bytes, error: orjson.JSONDecodeError):
    """NaN, Infinity and numbers too large for a double are not JSON orjson accepts,
    but they are a value problem (422, with its path), not a syntax one."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedJson(f"the body is not valid JSON: {error}") from None


def _query_version(environ: dict) -> int | str | None:
    if not environ.get("QUERY_STRING"):
        return None
    text = request.args.get("version")
    if text is None:
        return None
    requested = version_or_label(text)
    if requested is None:
        raise ValidationFailed("invalid query parameter", [
            {"loc": "query.version", "msg": "must be a positive integer or a label", "type": "int_parsing"}])
    return requested


@api.post("/predict")
def predict_view():
    environ = request.environ
    return Response(answer_predict(service_state(), environ, _query_version(environ)), mimetype="application/json")


def answer_predict(state, environ: dict, query_version: int | str | None) -> bytes:
    """The JSON answer to the ``POST /predict`` whose WSGI ``environ`` this is, or an
    ``ApiError``; what it learns for the bookkeeping (model, route, timings) is noted in
    ``environ``. Flask's view and the fast path (``predict_fast_path``) both call it."""
    started = time.perf_counter_ns()
    try:
        payload = validate_body(state.predict_request, ROWS, _parse_json_body(environ, state.settings))
    except BodyProblems as problems:
        shown = f"; the first {len(problems.details)} are listed" if len(problems.details) < problems.total else ""
        raise ValidationFailed(f"the request body does not match the schema ({problems.total} "
                               f"problem{'s' if problems.total != 1 else ''}{shown})", problems.details) from None
    model, environ[ROUTE] = route_model(state.repository.snapshot.default_model, query_version or payload.version,
                                        environ[REQUEST_ID], state.settings.canary_percent)  # the query wins
    environ[MODEL], environ[MODEL_VERSION] = model.name, model.version
    parsed = time.perf_counter_ns()
    probabilities, labels = predict_lists(model, payload.instances)
    computed = time.perf_counter_ns()
    state.metrics.record_predictions(model.name, model.version, len(labels), sum(labels), environ[ROUTE])
    body = prediction_body(model, probabilities, labels)
    environ[TIMINGS] = (len(labels), parsed - started, computed - parsed, time.perf_counter_ns() - computed)
    return body


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def _model_state(snapshot) -> dict:
    served = snapshot.served
    return {"name": snapshot.name, "ready": served is not None, "version": served.version if served else None,
            "reason": None if served else snapshot.reason}


@api.get("/health")
def health():
    """Ready when the default model is served (with MODEL_NAMES, every listed one)."""
    state = service_state()
    repository = state.repository.snapshot
    waiting = repository.waiting(state.settings.required_models)
    if waiting:
        raise NoModel(waiting[0].reason if len(waiting) == 1 else f"{len(waiting)} models are not served",
                      [{"loc": f"models.{snapshot.name}", "msg": snapshot.reason, "type": "not_ready"}
                       for snapshot in waiting])
    model = repository.default_model.served
    request.environ[MODEL_VERSION] = model.version
    return json_response({"status": "ready", "model": {"name": model.name, "version": model.version},
                          "loaded_at": _iso(model.loaded_at), "uptime_s": round(time.time() - state.started_at, 3),
                          "models": [_model_state(snapshot) for snapshot in repository.models.values()]})


@api.get("/health/live")
def live():
    return json_response({"status": "alive"})


def _version_entry(snapshot, version: int) -> dict:
    loaded = snapshot.models.get(version)
    entry = {"version": version, "reason": snapshot.refused.get(version), "metadata": None,
             "has_plot": _plot_path(snapshot.name, version).is_file(),
             "labels": sorted(label for label, labelled in snapshot.labels.items() if labelled == version)}
    if loaded is not None:
        entry["status"] = "served" if snapshot.served is loaded else "loaded"
        entry["metadata"] = loaded.metadata
    elif version in snapshot.rejected:
        entry["status"], entry["reason"] = "rejected", snapshot.rejected[version].reason
        entry["metadata"] = snapshot.rejected[version].metadata
    elif version in snapshot.refused:
        entry["status"] = "refused"
    else:
        entry["status"] = "on_disk"
        entry["metadata"], entry["reason"] = service_state().repository.metadata_on_disk(snapshot.name, version)
    return entry


def _plot_path(name: str, version: int):
    return plot_path(service_state().settings.models_dir, name, version)


def model_entry(snapshot) -> dict:
    versions = snapshot.known_versions[::-1]
    return {"name": snapshot.name, "served_version": snapshot.served.version if snapshot.served else None,
            "pinned_version": snapshot.pinned, "labels": snapshot.labels,
            "versions": [_version_entry(snapshot, v) for v in versions]}


@api.get("/models")
def models():
    return json_response({"models": [model_entry(s) for s in service_state().repository.snapshot.models.values()]})


def _snapshot(name: str):
    return model_snapshot(service_state().repository.snapshot, name)


def _known_version(snapshot, text: str) -> int:
    """The version a URL path names, by number or label, that is in the model's folder
    (or loaded); 404 otherwise, as for any path that names nothing."""
    requested = version_or_label(text)
    if requested is None:
        raise NotFound()
    version = snapshot.resolve(requested)
    if version is None:
        raise VersionNotFound(f"model {snapshot.name!r} has no label {requested!r}")
    if not snapshot.knows(version):
        raise VersionNotFound(f"version {version} of model {snapshot.name!r} is not in the models folder")
    return version


@api.get("/models/<name>")
def model(name: str):
    """One model; a number is a version of the default model (the old ``/models/<version>``)."""
    if VERSION_TEXT.fullmatch(name):
        snapshot = service_state().repository.snapshot.default_model
        return json_response(_version_entry(snapshot, _known_version(snapshot, name)))
    return json_response(model_entry(_snapshot(name)))


@api.get("/models/<name>/<version>")
def model_version(name: str, version: str):
    snapshot = _snapshot(name)
    return json_response(_version_entry(snapshot, _known_version(snapshot, version)))


def _plot(snapshot, version_text: str) -> Response:
    number = _known_version(snapshot, version_text)
    picture = read_plot(_plot_path(snapshot.name, number))
    if picture is None:
        raise VersionNotFound(f"version {number} of model {snapshot.name!r} has no decision-boundary picture")
    response = Response(picture, mimetype="image/png")
    response.cache_control.max_age = 3600
    return response


@api.get("/models/<version>/plot.png")
def default_model_plot(version: str):
    """The default model's picture (the old URL)."""
    if not VERSION_TEXT.fullmatch(version):
        raise NotFound()
    return _plot(service_state().repository.snapshot.default_model, version)


@api.get("/models/<name>/<version>/plot.png")
def model_plot(name: str, version: str):
    return _plot(_snapshot(name), version)


@api.get("/metrics")
def metrics():
    body, content_type = service_state().metrics.render()
    return Response(body, content_type=content_type)


@api.get("/openapi.json")
def openapi():
    return Response(service_state().openapi, mimetype="application/json")

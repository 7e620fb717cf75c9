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
from service.models.inference import predict_lists, prediction_body, route_model
from service.telemetry.observability import MODEL_VERSION, REQUEST_ID, ROUTE
from service.protocols.problems import BodyProblems, validate_body
from service.schemas import ROWS
from service.protocols.web import VERSION_TEXT, json_response, service_state, version_or_label
from trainer.artifacts import version_path
from trainer.regular_files import NotARegularFile, open_regular_file

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
    state, environ = service_state(), request.environ  # each proxy lookup costs a microsecond: once
    query_version = _query_version(environ)
    try:
        payload = validate_body(state.predict_request, ROWS, _parse_json_body(environ, state.settings))
    except BodyProblems as problems:
        shown = f"; the first {len(problems.details)} are listed" if len(problems.details) < problems.total else ""
        raise ValidationFailed(f"the request body does not match the schema ({problems.total} "
                               f"problem{'s' if problems.total != 1 else ''}{shown})", problems.details) from None
    model, environ[ROUTE] = route_model(state.registry.snapshot, query_version or payload.version,  # query wins
                                        environ[REQUEST_ID], state.settings.canary_percent,
                                        state.settings.model_version is not None)
    environ[MODEL_VERSION] = model.version
    probabilities, labels = predict_lists(model, payload.instances)
    state.metrics.record_predictions(model.version, len(labels), sum(labels), environ[ROUTE])
    return Response(prediction_body(model, probabilities, labels), mimetype="application/json")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


@api.get("/health")
def health():
    state = service_state()
    model = state.registry.snapshot.served
    if model is None:
        raise NoModel(state.registry.snapshot.reason)
    request.environ[MODEL_VERSION] = model.version
    return json_response({"status": "ready", "model": {"name": model.name, "version": model.version},
                  "loaded_at": _iso(model.loaded_at), "uptime_s": round(time.time() - state.started_at, 3)})


@api.get("/health/live")
def live():
    return json_response({"status": "alive"})


def _version_entry(version: int) -> dict:
    state = service_state()
    snapshot = state.registry.snapshot
    loaded = snapshot.models.get(version)
    entry = {"version": version, "reason": snapshot.refused.get(version), "metadata": None,
             "has_plot": _plot_path(version).is_file()}
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
        entry["metadata"], entry["reason"] = state.registry.metadata_on_disk(version)
    return entry


def _plot_path(version: int):
    settings = service_state().settings
    return version_path(settings.models_dir, settings.model_name, version).with_suffix(".png")


@api.get("/models")
def models():
    state = service_state()
    snapshot = state.registry.snapshot
    versions = sorted(set(snapshot.on_disk) | set(snapshot.models), reverse=True)
    return json_response({"name": state.settings.model_name,
                  "served_version": snapshot.served.version if snapshot.served else None,
                  "pinned_version": state.settings.model_version,
                  "versions": [_version_entry(v) for v in versions]})


def _known_version(version: int) -> int:
    snapshot = service_state().registry.snapshot
    if version not in snapshot.on_disk and version not in snapshot.models:
        raise VersionNotFound(f"version {version} is not in the models folder")
    return version


def _path_version(text: str) -> int:
    """A version in a URL path: ASCII digits only (Werkzeug's ``int`` converter also
    takes other Unicode digits), else 404 as for any path that names nothing."""
    if not VERSION_TEXT.fullmatch(text):
        raise NotFound()
    return int(text)


@api.get("/models/<version>")
def model_version(version: str):
    return json_response(_version_entry(_known_version(_path_version(version))))


MAX_PLOT_BYTES = 16 * 1024 * 1024


def _read_plot(path) -> bytes | None:
    """The picture's bytes, or None when there is no usable one (a FIFO or folder in
    its place, or a huge file, is no picture and must not hang or exhaust a worker)."""
    try:
        with open_regular_file(path, MAX_PLOT_BYTES) as stream:
            return stream.read(MAX_PLOT_BYTES)
    except (OSError, NotARegularFile):
        return None


@api.get("/models/<version>/plot.png")
def model_plot(version: str):
    number = _known_version(_path_version(version))
    picture = _read_plot(_plot_path(number))
    if picture is None:
        raise VersionNotFound(f"version {number} has no decision-boundary picture")
    response = Response(picture, mimetype="image/png")
    response.cache_control.max_age = 3600
    return response


@api.get("/metrics")
def metrics():
    body, content_type = service_state().metrics.render()
    return Response(body, content_type=content_type)


@api.get("/openapi.json")
def openapi():
    return Response(service_state().openapi, mimetype="application/json")

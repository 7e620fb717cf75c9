"""HTTP endpoints: parse and validate, call the model, serialise. Nothing more."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import orjson
from flask import Blueprint, Response, request, send_file
from pydantic import ValidationError

from service.errors import (
    MalformedJson,
    NoModel,
    UnsupportedMediaType,
    ValidationFailed,
    VersionNotFound,
)
from service.http_body import content_type, read_body
from service.inference import choose_model, predict_lists, prediction_body
from service.observability import MODEL_VERSION
from service.web import VERSION_TEXT, json_response, service_state
from trainer.artifacts import version_path

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


def _details(error: ValidationError, prefix: tuple = ()) -> list[dict]:
    return [
        {"loc": ".".join(str(part) for part in (*prefix, *problem["loc"])) or "body",
         "msg": problem["msg"], "type": problem["type"]}
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def _query_version(environ: dict) -> int | None:
    if not environ.get("QUERY_STRING"):
        return None
    text = request.args.get("version")
    if text is None:
        return None
    if not VERSION_TEXT.match(text):
        raise ValidationFailed("invalid query parameter", [
            {"loc": "query.version", "msg": "must be a positive integer", "type": "int_parsing"}])
    return int(text)


@api.post("/predict")
def predict_view():
    state, environ = service_state(), request.environ  # each proxy lookup costs a microsecond: once
    query_version = _query_version(environ)
    try:
        payload = state.predict_request.model_validate(_parse_json_body(environ, state.settings))
    except ValidationError as error:
        raise ValidationFailed("the request body does not match the schema", _details(error, ("body",))) from None
    model = choose_model(state.registry.snapshot, query_version or payload.version)  # the query wins
    environ[MODEL_VERSION] = model.version
    probabilities, labels = predict_lists(model, payload.instances)
    state.metrics.record_predictions(model.version, len(labels), sum(labels))
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


@api.get("/models/<int:version>")
def model_version(version: int):
    return json_response(_version_entry(_known_version(version)))


@api.get("/models/<int:version>/plot.png")
def model_plot(version: int):
    try:
        return send_file(_plot_path(_known_version(version)), mimetype="image/png", max_age=3600)
    except FileNotFoundError:
        raise VersionNotFound(f"version {version} has no decision-boundary picture") from None


@api.get("/metrics")
def metrics():
    body, content_type = service_state().metrics.render()
    return Response(body, content_type=content_type)


@api.get("/openapi.json")
def openapi():
    return Response(service_state().openapi, mimetype="application/json")

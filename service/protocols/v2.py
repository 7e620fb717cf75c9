"""Open Inference Protocol (V2) endpoints, for every served model, on the same
repository, metrics and errors as the rest of the service.

Errors here render as the protocol's ``{"error": "..."}`` (see ``errors.py``); the
model is chosen and run by the same functions as ``POST /predict``. Extensions:
Triton's binary tensors, model configuration, model repository (index only: models
are managed through the models folder), statistics and classification.
"""

from __future__ import annotations

import time

import orjson
from flask import Blueprint, Response, request

import trainer
from service.models.inference import choose_model, model_snapshot, predict, route_model
from service.protocols.errors import V2Error
from service.protocols.v2_codec import (
    HEADER_LENGTH,
    INPUT_NAME,
    V2BadRequest,
    build_infer_response,
    parse_infer,
)
from service.protocols.web import json_response, service_state, version_or_label
from service.telemetry.observability import MODEL, MODEL_VERSION, REQUEST_ID, ROUTE, TIMINGS
from service.transport.http_body import read_body

v2 = Blueprint("v2", __name__, url_prefix="/v2")
PLATFORM = "moonserve_numpy"
EXTENSIONS = ["binary_tensor_data", "model_configuration", "model_repository", "statistics", "classification"]
OUTPUTS = [{"name": "probability", "datatype": "FP64", "shape": [-1, 1]},
           {"name": "label", "datatype": "INT64", "shape": [-1, 1]}]


def _snapshot(model_name: str):
    return model_snapshot(service_state().repository.snapshot, model_name)


def _requested(version: str | None) -> int | str | None:
    requested = version_or_label(version) if version is not None else None
    if version is not None and requested is None:
        raise V2Error(f"model version must be a positive integer or a label, got {version[:40]!r}")
    return requested


def _model(model_name: str, version: str | None):
    """The loaded model for ``model_name`` and ``version`` (None: the served one)."""
    return choose_model(_snapshot(model_name), _requested(version))


@v2.get("")
def server_metadata():
    return json_response({"name": "moonserve", "version": trainer.__version__, "extensions": EXTENSIONS})


@v2.get("/health/live")
def server_live():
    return json_response({"live": True})


@v2.get("/health/ready")
def server_ready():
    """Ready when the default model is served (and, with MODEL_NAMES, every listed one);
    not ready is a 400, as the protocol's health requests answer false."""
    state = service_state()
    ready = not state.repository.snapshot.waiting(state.settings.required_models)
    return json_response({"ready": ready}, 200 if ready else 400)


@v2.get("/models/<model_name>", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>")
def model_metadata(model_name: str, version: str | None):
    snapshot = _snapshot(model_name)
    model = choose_model(snapshot, _requested(version))
    return json_response({
        "name": model.name,
        "versions": [str(v) for v in sorted(snapshot.models, reverse=True)] if version is None
        else [str(model.version)],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, 2]}],
        "outputs": OUTPUTS,
    })


@v2.get("/models/<model_name>/ready", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>/ready")
def model_ready(model_name: str, version: str | None):
    """200 ``{"name", "ready": true}`` for a served (or loaded) version; a known model
    with nothing to serve is 400 ready false; an unknown model or version 404."""
    snapshot = _snapshot(model_name)
    if version is None and snapshot.served is None:
        return json_response({"name": model_name, "ready": False}, 400)
    choose_model(snapshot, _requested(version))
    return json_response({"name": model_name, "ready": True})


@v2.get("/models/<model_name>/config", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>/config")
def model_config(model_name: str, version: str | None):
    """The fields of a Triton model configuration that its clients and perf_analyzer read."""
    model = _model(model_name, version)
    return json_response({
        "name": model.name, "platform": PLATFORM, "backend": "", "max_batch_size": service_state().settings.max_batch,
        "version_policy": {"latest": {"num_versions": 1}},
        "input": [{"name": INPUT_NAME, "data_type": "TYPE_FP64", "dims": [2]}],
        "output": [{"name": "probability", "data_type": "TYPE_FP64", "dims": [1]},
                   {"name": "label", "data_type": "TYPE_INT64", "dims": [1]}],
    })


@v2.get("/models/<model_name>/stats", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>/stats")
def model_statistics(model_name: str, version: str | None):
    """Triton's statistics extension, summed over every worker."""
    snapshot = _snapshot(model_name)
    versions = sorted(snapshot.models) if version is None else [choose_model(snapshot, _requested(version)).version]
    return json_response({"model_stats": service_state().stats.read(model_name, versions)})


@v2.post("/repository/index")
def repository_index():
    """Every version of every served model, ``READY`` when loaded, else ``UNAVAILABLE``
    with the reason (refused, rejected by the gate, or not among the kept versions)."""
    body = read_body(request.environ, 4096, service_state().settings.body_timeout_s).strip()
    ready_only = False
    if body:
        try:
            options = orjson.loads(body)
        except orjson.JSONDecodeError:
            options = None
        if not isinstance(options, dict) or type(options.get("ready", False)) is not bool:
            raise V2Error('the index request body must be a JSON object such as {"ready": true}')
        ready_only = options.get("ready", False)
    entries = []
    for snapshot in service_state().repository.snapshot.models.values():
        for version in snapshot.known_versions:
            if version in snapshot.models:
                entries.append({"name": snapshot.name, "version": str(version), "state": "READY", "reason": ""})
            elif not ready_only:
                entries.append({"name": snapshot.name, "version": str(version), "state": "UNAVAILABLE",
                                "reason": _unavailable(snapshot, version)})
    return json_response(entries)


def _unavailable(snapshot, version: int) -> str:
    if version in snapshot.rejected:
        return f"rejected: {snapshot.rejected[version].reason}"
    if version in snapshot.refused:
        return f"refused: {snapshot.refused[version]}"
    if snapshot.pinned is not None:
        return f"not the pinned version {snapshot.pinned}"
    return "not among the newest versions kept loaded (KEEP_VERSIONS)"


@v2.post("/repository/models/<model_name>/load", defaults={"action": "load"})
@v2.post("/repository/models/<model_name>/unload", defaults={"action": "unload"})
def repository_control(model_name: str, action: str):
    raise V2Error(f"explicit model {action} is not allowed: models are managed through the models folder "
                  "(MODELS_DIR), which every worker reloads by itself")


@v2.post("/models/<model_name>/infer", defaults={"version": None})
@v2.post("/models/<model_name>/versions/<version>/infer")
def infer(model_name: str, version: str | None):
    state, environ = service_state(), request.environ
    started = time.perf_counter_ns()
    snapshot = _snapshot(model_name)
    if version is None:
        model, environ[ROUTE] = route_model(snapshot, None, environ[REQUEST_ID], state.settings.canary_percent)
    else:
        model, environ[ROUTE] = choose_model(snapshot, _requested(version)), "requested"
    environ[MODEL], environ[MODEL_VERSION] = model.name, model.version
    try:
        request_body = read_body(request.environ, state.settings.max_body_bytes, state.settings.body_timeout_s)
        parsed = parse_infer(request_body, request.headers.get(HEADER_LENGTH), state.settings.max_batch)
    except V2BadRequest as error:
        raise V2Error(str(error)) from None
    decoded = time.perf_counter_ns()
    probabilities, labels = predict(model, parsed.rows)
    computed = time.perf_counter_ns()
    state.metrics.record_predictions(model.name, model.version, len(labels), int(labels.sum()), environ[ROUTE])
    body, headers = build_infer_response(model.name, model.version, parsed, probabilities, labels)
    response = Response(body, mimetype="application/json" if not headers else "application/octet-stream")
    response.headers.update(headers)
    environ[TIMINGS] = (len(labels), decoded - started, computed - decoded, time.perf_counter_ns() - computed)
    return response

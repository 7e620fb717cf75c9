"""Open Inference Protocol (V2) endpoints, on the same registry, metrics and errors.

Errors here render as the protocol's ``{"error": "..."}`` (see ``errors.py``); the
model is chosen and run by the same functions as ``POST /predict``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

import trainer
from service.protocols.errors import V2Error, VersionNotFound
from service.transport.http_body import read_body
from service.models.inference import choose_model, predict, route_model
from service.telemetry.observability import MODEL_VERSION, REQUEST_ID, ROUTE
from service.protocols.v2_codec import (
    HEADER_LENGTH,
    INPUT_NAME,
    V2BadRequest,
    build_infer_response,
    parse_infer,
)
from service.protocols.web import json_response, service_state, version_or_label

v2 = Blueprint("v2", __name__, url_prefix="/v2")
PLATFORM = "moonserve_numpy"


def _check_name(model_name: str) -> None:
    served_name = service_state().settings.model_name
    if model_name != served_name:
        raise VersionNotFound(f"unknown model {model_name!r}; this server serves {served_name!r}")


def _model(model_name: str, version: str | None):
    """The loaded model for ``model_name`` and ``version`` (None: the served one)."""
    state = service_state()
    _check_name(model_name)
    requested = version_or_label(version) if version is not None else None
    if version is not None and requested is None:
        raise V2Error(f"model version must be a positive integer or a label, got {version[:40]!r}")
    return choose_model(state.registry.snapshot, requested)


@v2.get("")
def server_metadata():
    return json_response({"name": "moonserve", "version": trainer.__version__, "extensions": ["binary_tensor_data"]})


@v2.get("/health/live")
def server_live():
    return Response(status=200)


@v2.get("/health/ready")
def server_ready():
    return Response(status=200 if service_state().registry.snapshot.served is not None else 503)


@v2.get("/models/<model_name>", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>")
def model_metadata(model_name: str, version: str | None):
    model = _model(model_name, version)
    versions = sorted(service_state().registry.snapshot.models, reverse=True)
    return json_response({
        "name": model.name,
        "versions": [str(v) for v in versions] if version is None else [str(model.version)],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, 2]}],
        "outputs": [{"name": "probability", "datatype": "FP64", "shape": [-1, 1]},
                    {"name": "label", "datatype": "INT64", "shape": [-1, 1]}],
    })


@v2.get("/models/<model_name>/ready", defaults={"version": None})
@v2.get("/models/<model_name>/versions/<version>/ready")
def model_ready(model_name: str, version: str | None):
    _model(model_name, version)
    return Response(status=200)


@v2.get("/models/<model_name>/config")
def model_config(model_name: str):
    """The fields of a Triton model configuration that perf_analyzer reads."""
    model = _model(model_name, None)
    return json_response({
        "name": model.name, "platform": PLATFORM, "max_batch_size": service_state().settings.max_batch,
        "input": [{"name": INPUT_NAME, "data_type": "TYPE_FP64", "dims": [2]}],
        "output": [{"name": "probability", "data_type": "TYPE_FP64", "dims": [1]},
                   {"name": "label", "data_type": "TYPE_INT64", "dims": [1]}],
    })


@v2.post("/models/<model_name>/infer", defaults={"version": None})
@v2.post("/models/<model_name>/versions/<version>/infer")
def infer(model_name: str, version: str | None):
    state, environ = service_state(), request.environ
    if version is None:
        _check_name(model_name)
        model, environ[ROUTE] = route_model(state.registry.snapshot, None, environ[REQUEST_ID],
                                            state.settings.canary_percent, state.settings.model_version is not None)
    else:
        model, environ[ROUTE] = _model(model_name, version), "requested"
    environ[MODEL_VERSION] = model.version
    try:
        request_body = read_body(request.environ, state.settings.max_body_bytes, state.settings.body_timeout_s)
        parsed = parse_infer(request_body, request.headers.get(HEADER_LENGTH), state.settings.max_batch)
    except V2BadRequest as error:
        raise V2Error(str(error)) from None
    probabilities, labels = predict(model, parsed.rows)
    state.metrics.record_predictions(model.version, len(labels), int(labels.sum()), environ[ROUTE])
    body, headers = build_infer_response(model.name, model.version, parsed, probabilities, labels)
    response = Response(body, mimetype="application/json" if not headers else "application/octet-stream")
    response.headers.update(headers)
    return response


"""KServe's V1 protocol (TF Serving's REST API) for every served model.

``/v1/models/<name>[/versions/<v> | /labels/<label>]`` answers the model's status,
``.../metadata`` its signature and ``...:predict`` predictions, with TF Serving's
``{"error": "..."}`` bodies (see ``errors.py``). ``GET /v1/models`` lists the models
as KServe's V1 does.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request
from werkzeug.routing import BaseConverter

from service.models.inference import choose_model, model_snapshot, predict_lists, route_model
from service.protocols.errors import V1Error, VersionNotFound
from service.protocols.v1_codec import (
    SIGNATURE,
    V1BadRequest,
    metadata_answer,
    parse_predict,
    predict_answer,
    version_status,
)
from service.protocols.web import json_response, service_state, version_or_label
from service.telemetry.observability import MODEL, MODEL_VERSION, REQUEST_ID, ROUTE, TIMINGS
from service.transport.http_body import read_body
from trainer.labels import LABEL_NAME

v1 = Blueprint("v1", __name__, url_prefix="/v1/models")


class SegmentConverter(BaseConverter):
    """A path segment up to its ``:``: in ``/v1/models/moons:predict`` the name is
    ``moons``, so the status URL ``/v1/models/<name>`` does not also match it (a GET
    there is a 405 that allows POST, not a lookup of the model ``moons:predict``)."""

    regex = "[^/:]+"


v1.record_once(lambda state: state.app.url_map.converters.setdefault("segment", SegmentConverter))


def _version(version: str | None, label: str | None) -> int | str | None:
    """What ``/versions/<v>`` or ``/labels/<label>`` names (None: neither)."""
    if label is not None:
        if not LABEL_NAME.fullmatch(label):
            raise V1Error(f"a label is a lowercase letter then up to 31 of a-z 0-9 _ -, got {label[:40]!r}")
        return label
    if version is None:
        return None
    requested = version_or_label(version)
    if not isinstance(requested, int):
        raise V1Error(f"a version is a positive integer, got {version[:40]!r}")
    return requested


def _routes(suffix: str, **options):
    """The three TF Serving URLs of one call: the model, a version, a label."""
    def register(view):
        # an endpoint per suffix: Werkzeug redirects between rules of one endpoint with equal defaults
        endpoint = f"{view.__name__}{suffix}"
        for rule, defaults in ((f"/<segment:name>{suffix}", {"version": None, "label": None}),
                               (f"/<segment:name>/versions/<segment:version>{suffix}", {"label": None}),
                               (f"/<segment:name>/labels/<segment:label>{suffix}", {"version": None})):
            v1.add_url_rule(rule, endpoint, view, defaults=defaults, **options)
        return view
    return register


@v1.get("")
def model_list():
    return json_response({"models": list(service_state().repository.snapshot.models)})


@_routes("", methods=["GET"])
def model_status(name: str, version: str | None, label: str | None):
    snapshot = model_snapshot(service_state().repository.snapshot, name)
    requested = _version(version, label)
    if requested is None:
        versions = snapshot.known_versions[::-1]
    else:
        number = snapshot.resolve(requested)
        if number is None or not snapshot.knows(number):
            raise VersionNotFound(f"Could not find version {requested} of model {name}")
        versions = [number]
    return json_response({"model_version_status": [_status(snapshot, v) for v in versions]})


def _status(snapshot, version: int) -> dict:
    if version in snapshot.models:
        return version_status(version, "AVAILABLE")
    if version in snapshot.rejected:
        return version_status(version, "END", "FAILED_PRECONDITION", snapshot.rejected[version].reason)
    if version in snapshot.refused:
        return version_status(version, "END", "INVALID_ARGUMENT", snapshot.refused[version])
    return version_status(version, "END")  # on disk, not among the versions kept loaded


@_routes("/metadata", methods=["GET"])
def model_metadata(name: str, version: str | None, label: str | None):
    model = choose_model(model_snapshot(service_state().repository.snapshot, name), _version(version, label))
    return json_response(metadata_answer(model.name, model.version))


@_routes(":predict", methods=["POST"])
def predict(name: str, version: str | None, label: str | None):
    state, environ = service_state(), request.environ
    started = time.perf_counter_ns()
    snapshot = model_snapshot(state.repository.snapshot, name)
    requested = _version(version, label)
    model, environ[ROUTE] = route_model(snapshot, requested, environ[REQUEST_ID], state.settings.canary_percent)
    environ[MODEL], environ[MODEL_VERSION] = model.name, model.version
    try:
        rows, columnar = parse_predict(read_body(environ, state.settings.max_body_bytes,
                                                 state.settings.body_timeout_s), state.settings.max_batch)
    except V1BadRequest as error:
        raise V1Error(str(error)) from None
    decoded = time.perf_counter_ns()
    probabilities, labels = predict_lists(model, rows)
    computed = time.perf_counter_ns()
    state.metrics.record_predictions(model.name, model.version, len(labels), sum(labels), environ[ROUTE])
    response = Response(predict_answer(probabilities, labels, columnar), mimetype="application/json")
    environ[TIMINGS] = (len(labels), decoded - started, computed - decoded, time.perf_counter_ns() - computed)
    return response


@_routes(":classify", methods=["POST"])
@_routes(":regress", methods=["POST"])
def other_method(name: str, version: str | None, label: str | None):
    """TF Serving's Classify and Regress APIs need a signature of that kind; this model's
    one signature is a predict signature, so they are a client mistake, as in TF Serving."""
    model_snapshot(service_state().repository.snapshot, name)
    verb = request.path.rpartition(":")[2]
    raise V1Error(f"model {name!r} has no {verb} signature; use :predict (signature {SIGNATURE!r})")

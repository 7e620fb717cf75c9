"""The OpenAPI paths and schemas of KServe's two protocols: V1 (TF Serving's REST API,
under /v1) and the Open Inference Protocol V2 (under /v2).

Their answers are built as plain dicts by ``v1`` and ``v2``, so their schemas are
written here, in JSON Schema, beside the examples that "Try it out" sends."""

from __future__ import annotations

from service.schemas import LABEL_PATTERN, VERSION_SCHEMA
from trainer.artifacts import MODEL_NAME

_REF = "#/components/schemas/{name}"
_STRING, _INTEGER, _BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_VERSION_TEXT = {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}
_ROW = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_PARAMETERS = {"type": ["object", "null"]}


def _object(properties: dict, required: list[str] | None = None, **extra) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            **extra}


def _array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def _json(schema_name: str, example=None) -> dict:
    media = {"schema": {"$ref": _REF.format(name=schema_name)}}
    if example is not None:
        media["example"] = example
    return {"content": {"application/json": media}}


def _answer(description: str, schema_name: str, *errors: int) -> dict:
    return {"200": {"description": description, **_json(schema_name)},
            **{str(status): {"description": "error", **_json("ProtocolError")} for status in errors}}


def _tensor_metadata() -> dict:
    return _object({"name": _STRING, "datatype": _STRING, "shape": _array(_INTEGER)})


SCHEMAS = {
    "ProtocolError": _object({"error": {"type": "string", "maxLength": 2048}},
                             description="Both protocols' error body: one message"),
    "V1ModelList": _object({"models": _array(_STRING)}),
    "V1VersionStatus": _object({
        "version": _VERSION_TEXT, "state": {"enum": ["AVAILABLE", "END"]},
        "status": _object({"error_code": _STRING, "error_message": _STRING})}),
    "V1ModelStatus": _object({"model_version_status": _array({"$ref": _REF.format(name="V1VersionStatus")})}),
    "V1Metadata": _object({"model_spec": _object({"name": _STRING, "signature_name": _STRING,
                                                  "version": _VERSION_TEXT}),
                           "metadata": {"type": "object"}}),
    "V1PredictResponse": {"anyOf": [
        _object({"predictions": _array(_object({"label": _INTEGER, "probability": {"type": "number"}}))}),
        _object({"outputs": _object({"label": _array(_INTEGER), "probability": _array({"type": "number"})})}),
    ]},
    "V2ServerMetadata": _object({"name": _STRING, "version": _STRING, "extensions": _array(_STRING)}),
    "V2Live": _object({"live": _BOOLEAN}),
    "V2Ready": _object({"ready": _BOOLEAN}),
    "V2ModelReady": _object({"name": _STRING, "ready": _BOOLEAN}),
    "V2TensorMetadata": _tensor_metadata(),
    "V2ModelMetadata": _object({
        "name": _STRING, "versions": _array(_STRING), "platform": _STRING,
        "inputs": _array({"$ref": _REF.format(name="V2TensorMetadata")}),
        "outputs": _array({"$ref": _REF.format(name="V2TensorMetadata")})}),
    "V2ModelConfig": _object({
        "name": _STRING, "platform": _STRING, "backend": _STRING, "max_batch_size": _INTEGER,
        "version_policy": {"type": "object"}, "input": _array({"type": "object"}),
        "output": _array({"type": "object"})}),
    "V2ModelStatistics": _object({"model_stats": _array(_object(
        {"name": _STRING, "version": _STRING, "last_inference": _INTEGER, "inference_count": _INTEGER,
         "execution_count": _INTEGER, "inference_stats": {"type": "object"}, "batch_stats": _array({"type": "object"})},
        required=["name", "version", "inference_count", "execution_count", "inference_stats"]))}),
    "V2InferInput": _object({
        "name": {"const": "X"}, "shape": _array(_INTEGER, minItems=2, maxItems=2),
        "datatype": {"enum": ["FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8",
                              "UINT64", "UINT32", "UINT16", "UINT8"]},
        "parameters": _PARAMETERS,
        "data": _array({"anyOf": [{"type": "number"}, _array({"type": "number"})]})},
        required=["name", "shape", "datatype", "data"]),
    "V2RequestedOutput": _object({"name": {"enum": ["probability", "label"]}, "parameters": _PARAMETERS},
                                 required=["name"]),
    "V2InferRequest": _object({
        "id": {"type": ["string", "null"]}, "parameters": _PARAMETERS,
        "inputs": _array({"$ref": _REF.format(name="V2InferInput")}, minItems=1, maxItems=1),
        "outputs": {"anyOf": [_array({"$ref": _REF.format(name="V2RequestedOutput")}), {"type": "null"}]}},
        required=["inputs"]),
    "V2InferResponse": _object({
        "model_name": _STRING, "model_version": _STRING, "id": _STRING,
        "outputs": _array(_object({"name": _STRING, "shape": _array(_INTEGER), "datatype": _STRING,
                                   "parameters": _PARAMETERS, "data": _array({})},
                                  required=["name", "shape", "datatype"]))},
        required=["model_name", "model_version", "outputs"]),
    "V2RepositoryIndexRequest": _object({"ready": _BOOLEAN}, required=[]),
    "V2RepositoryIndex": _array(_object({"name": _STRING, "version": _VERSION_TEXT,
                                         "state": {"enum": ["READY", "UNAVAILABLE"]}, "reason": _STRING})),
}


def _v1_predict_request(max_batch: int) -> dict:
    rows = _array({"anyOf": [_ROW, _object({"X": _ROW}, additionalProperties=False)]}, minItems=1, maxItems=max_batch)
    columns = {"anyOf": [_array(_ROW, minItems=1, maxItems=max_batch),
                         _object({"X": _array(_ROW, minItems=1, maxItems=max_batch)}, additionalProperties=False)]}
    return {"description": "Row format (instances) or columnar format (inputs), not both; a row is "
                           "[x1, x2] or {\"X\": [x1, x2]}, one form in one request.",
            "type": "object", "additionalProperties": False,
            "properties": {"signature_name": {"enum": ["serving_default"]}, "instances": rows, "inputs": columns},
            "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}]}


def _model_parameter(default_model: str, name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": "A served model's name",
            "schema": {"type": "string", "pattern": f"^{MODEL_NAME.pattern}$"}, "example": default_model}


_VERSION_PARAMETER = {"name": "version", "in": "path", "required": True, "description": "A version number",
                      "schema": {**VERSION_SCHEMA}, "example": 1}
_LABEL_PARAMETER = {"name": "label", "in": "path", "required": True,
                    "description": "A label of the model (stable, canary, ...; `trainer labels`)",
                    "schema": {"type": "string", "pattern": LABEL_PATTERN}, "example": "stable"}
_V1_PREDICT_EXAMPLE = {"instances": [[0.5, 0.25], [-1.0, 0.5]]}
_V2_INFER_EXAMPLE = {"id": "try-1", "inputs": [{"name": "X", "shape": [2, 2], "datatype": "FP64",
                                                 "data": [0.5, 0.25, -1.0, 0.5]}]}


def v1_paths(default_model: str) -> dict:
    name = _model_parameter(default_model, "name")
    paths = {"/v1/models": {"get": {"summary": "V1: the served models (KServe's list)", "tags": ["V1 (TF Serving)"],
                                    "responses": _answer("names", "V1ModelList")}}}
    for prefix, parameters, which in [("/v1/models/{name}", [name], ""),
                                      ("/v1/models/{name}/versions/{version}", [name, _VERSION_PARAMETER],
                                       " of one version"),
                                      ("/v1/models/{name}/labels/{label}", [name, _LABEL_PARAMETER],
                                       " of a labelled version")]:
        common = {"tags": ["V1 (TF Serving)"], "parameters": parameters}
        paths[prefix] = {"get": {**common, "summary": f"V1: model status{which}",
                                 "responses": _answer("status", "V1ModelStatus", 400, 404)}}
        paths[prefix + "/metadata"] = {"get": {**common, "summary": f"V1: signature metadata{which}",
                                               "responses": _answer("metadata", "V1Metadata", 400, 404)}}
        paths[prefix + ":predict"] = {"post": {
            **common, "summary": f"V1: predict{which}, row or columnar format",
            "requestBody": {"required": True, **_json("V1PredictRequest", _V1_PREDICT_EXAMPLE)},
            "responses": _answer("one label and probability per row, in the request's format",
                                 "V1PredictResponse", 400, 404, 408, 413, 503)}}
        for verb in ("classify", "regress"):
            paths[f"{prefix}:{verb}"] = {"post": {
                **common, "summary": f"V1: {verb}: not this model's signature, always a 400",
                "requestBody": {"required": False, **_json("V1PredictRequest", _V1_PREDICT_EXAMPLE)},
                "responses": {str(status): {"description": "error", **_json("ProtocolError")} for status in (400, 404)}}}
    return paths


def protocol_schemas(max_batch: int) -> dict:
    """Every schema the two protocols' paths refer to, with this service's batch cap."""
    return {**SCHEMAS, "V1PredictRequest": _v1_predict_request(max_batch)}


def v2_paths(default_model: str) -> dict:
    tags = {"tags": ["V2 (Open Inference Protocol)"]}
    paths = {
        "/v2": {"get": {**tags, "summary": "V2: server metadata and extensions",
                        "responses": _answer("metadata", "V2ServerMetadata")}},
        "/v2/health/live": {"get": {**tags, "summary": "V2: server liveness", "responses": _answer("live", "V2Live")}},
        "/v2/health/ready": {"get": {**tags, "summary": "V2: server readiness (400 ready false when not ready)",
                                     "responses": {"200": {"description": "ready", **_json("V2Ready")},
                                                   "400": {"description": "not ready", **_json("V2Ready")}}}},
        "/v2/repository/index": {"post": {
            **tags, "summary": "V2: every version of every model, READY or UNAVAILABLE with the reason",
            "requestBody": {"required": False, **_json("V2RepositoryIndexRequest", {"ready": False})},
            "responses": _answer("index", "V2RepositoryIndex", 400)}},
    }
    model_name = _model_parameter(default_model, "model_name")
    for verb in ("load", "unload"):
        paths[f"/v2/repository/models/{{model_name}}/{verb}"] = {"post": {
            **tags, "summary": f"V2: explicit {verb}: refused (the models folder decides), always a 400",
            "parameters": [model_name],
            "responses": {"400": {"description": "refused", **_json("ProtocolError")}}}}
    for prefix, parameters, which in [("/v2/models/{model_name}", [model_name], ""),
                                      ("/v2/models/{model_name}/versions/{version}",
                                       [model_name, _VERSION_PARAMETER], " of one version")]:
        common = {**tags, "parameters": parameters}
        paths[prefix] = {"get": {**common, "summary": f"V2: model metadata{which}",
                                 "responses": _answer("metadata", "V2ModelMetadata", 400, 404)}}
        paths[prefix + "/ready"] = {"get": {
            **common, "summary": f"V2: model readiness{which}",
            "responses": {"200": {"description": "ready", **_json("V2ModelReady")},
                          "400": {"description": "nothing to serve (ready false), or a malformed version",
                                  "content": {"application/json": {"schema": {"anyOf": [
                                      {"$ref": _REF.format(name="V2ModelReady")},
                                      {"$ref": _REF.format(name="ProtocolError")}]}}}},
                          "404": {"description": "unknown", **_json("ProtocolError")}}}}
        paths[prefix + "/config"] = {"get": {**common, "summary": f"V2: Triton's model configuration{which}",
                                             "responses": _answer("configuration", "V2ModelConfig", 400, 404)}}
        paths[prefix + "/stats"] = {"get": {**common, "summary": f"V2: Triton's statistics{which}",
                                            "responses": _answer("statistics", "V2ModelStatistics", 400, 404)}}
        paths[prefix + "/infer"] = {"post": {
            **common, "summary": f"V2: inference{which}; input X of shape [rows, 2], outputs probability and label",
            "description": "JSON as shown; the binary tensor extension too (Inference-Header-Content-Length, "
                           "application/octet-stream), as tritonclient sends it.",
            "requestBody": {"required": True, **_json("V2InferRequest", _V2_INFER_EXAMPLE)},
            "responses": _answer("outputs", "V2InferResponse", 400, 404, 408, 413, 503)}}
    return paths

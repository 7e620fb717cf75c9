"""The OpenAPI 3.1 document of the whole HTTP surface: the service's own routes, built
from the pydantic schemas it validates with, and KServe's V1 and V2 protocols
(``openapi_protocols``). Its examples name the default model, so "Try it out" in
/docs answers with a prediction."""

from __future__ import annotations

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import trainer
from service.protocols.openapi_protocols import protocol_schemas, v1_paths, v2_paths
from service.schemas import (
    LABEL_PATTERN, ErrorResponse, HealthResponse, LiveResponse, ModelResponse, ModelsResponse, ModelVersion,
    PredictResponse, VERSION_SCHEMA,
)
from trainer.artifacts import MODEL_NAME

_REF = "#/components/schemas/{model}"


def _content(schema_name: str, media_type: str = "application/json") -> dict:
    return {"content": {media_type: {"schema": {"$ref": _REF.format(model=schema_name)}}}}


def _errors(*statuses: int) -> dict:
    return {str(status): {"description": "error", **_content("ErrorResponse")} for status in statuses}


def build_openapi(predict_request: type[BaseModel], default_model: str, max_batch: int) -> bytes:
    models = [predict_request, PredictResponse, ErrorResponse, HealthResponse, LiveResponse,
              ModelResponse, ModelsResponse, ModelVersion]
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    version_parameter = {"name": "version", "in": "path", "required": True,
                         "description": "A version number, or a label (stable, canary, ...)", "example": "1",
                         "schema": {"anyOf": [VERSION_SCHEMA,
                                              {"type": "string", "pattern": LABEL_PATTERN}]}}
    name_parameter = {"name": "name", "in": "path", "required": True,
                      "description": "A model name; a version number instead is a version of the default model "
                                     "(MODEL_NAME), the URL of the one-model service", "example": default_model,
                      "schema": {"anyOf": [{"type": "string", "pattern": f"^{MODEL_NAME.pattern}$"},
                                           VERSION_SCHEMA]}}
    plot = {"200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string",
                                                                              "format": "binary"}}}},
            **_errors(404)}
    paths = {
        "/predict": {"post": {
            "summary": "Predict the label and P(label = 1) of each row",
            "parameters": [{"name": "version", "in": "query", "required": False,
                            "description": "A loaded model version or a label (stable, canary, ...); "
                                           "takes precedence over body.version.",
                            "schema": {"anyOf": [VERSION_SCHEMA,
                                                 {"type": "string", "pattern": LABEL_PATTERN}]}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": _REF.format(model=predict_request.__name__)},
                "example": {"instances": [[0.5, 0.25], [-1.0, 0.5]]}}}},
            "responses": {"200": {"description": "one prediction per row, in order", **_content("PredictResponse")},
                          **_errors(400, 404, 413, 415, 422, 503)},
        }},
        "/health": {"get": {"summary": "Readiness: a model is loaded",
                            "responses": {"200": {"description": "ready", **_content("HealthResponse")},
                                          **_errors(503)}}},
        "/health/live": {"get": {"summary": "Liveness",
                                 "responses": {"200": {"description": "alive", **_content("LiveResponse")}}}},
        "/models": {"get": {"summary": "Every served model: its versions on disk and loaded",
                            "responses": {"200": {"description": "models", **_content("ModelsResponse")}}}},
        "/models/{name}": {"get": {
            "summary": "One model (or, for a number, one version of the default model)",
            "parameters": [name_parameter],
            "responses": {"200": {"description": "the model, or the default model's version", "content": {
                "application/json": {"schema": {"anyOf": [{"$ref": _REF.format(model="ModelResponse")},
                                                          {"$ref": _REF.format(model="ModelVersion")}]}}}},
                          **_errors(404)}}},
        "/models/{name}/{version}": {"get": {
            "summary": "One version of a model", "parameters": [name_parameter, version_parameter],
            "responses": {"200": {"description": "version", **_content("ModelVersion")}, **_errors(404)}}},
        "/models/{version}/plot.png": {"get": {
            "summary": "The default model's decision-boundary picture of a version (the one-model URL)",
            "parameters": [{**version_parameter, "schema": VERSION_SCHEMA, "example": 1}], "responses": plot}},
        "/models/{name}/{version}/plot.png": {"get": {
            "summary": "The version's decision-boundary picture", "parameters": [name_parameter, version_parameter],
            "responses": plot}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {"schema": {}}}}}}},
    }
    for operations in paths.values():
        for operation in operations.values():
            operation["tags"] = ["Moonserve"]
    html = {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}
    paths["/"] = {"get": {"summary": "The models page: each served model, its picture, click to predict",
                          "tags": ["Pages"], "responses": html}}
    paths["/docs"] = {"get": {"summary": "This explorer (Swagger UI)", "tags": ["Pages"], "responses": html}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Moonserve", "version": trainer.__version__,
                 "description": "Two-moons classifier: a from-scratch NumPy network."},
        "tags": [{"name": "Moonserve", "description": "The service's own API"},
                 {"name": "V1 (TF Serving)", "description": "KServe's V1 protocol: TF Serving's REST API"},
                 {"name": "V2 (Open Inference Protocol)", "description": "KServe's V2 protocol, as Triton serves it"},
                 {"name": "Pages", "description": "For people: the models page and these docs"}],
        "paths": {**paths, **v1_paths(default_model), **v2_paths(default_model)},
        "components": {"schemas": {**schemas["$defs"], **protocol_schemas(max_batch)}},
    }
    return orjson.dumps(document)

"""The OpenAPI 3.1 document, built from the pydantic schemas the service validates with."""

from __future__ import annotations

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import trainer
from service.schemas import (
    LABEL_PATTERN, ErrorResponse, HealthResponse, LiveResponse, ModelsResponse, ModelVersion, PredictResponse,
)

_REF = "#/components/schemas/{model}"


def _content(schema_name: str, media_type: str = "application/json") -> dict:
    return {"content": {media_type: {"schema": {"$ref": _REF.format(model=schema_name)}}}}


def _errors(*statuses: int) -> dict:
    return {str(status): {"description": "error", **_content("ErrorResponse")} for status in statuses}


def build_openapi(predict_request: type[BaseModel]) -> bytes:
    models = [predict_request, PredictResponse, ErrorResponse, HealthResponse, LiveResponse,
              ModelsResponse, ModelVersion]
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    version_parameter = {"name": "version", "in": "path", "required": True,
                         "schema": {"type": "integer", "minimum": 0}}
    paths = {
        "/predict": {"post": {
            "summary": "Predict the label and P(label = 1) of each row",
            "parameters": [{"name": "version", "in": "query", "required": False,
                            "description": "A loaded model version or a label (stable, canary, ...); "
                                           "takes precedence over body.version.",
                            "schema": {"anyOf": [{"type": "integer", "minimum": 1},
                                                 {"type": "string", "pattern": LABEL_PATTERN}]}}],
            "requestBody": {"required": True, **_content(predict_request.__name__)},
            "responses": {"200": {"description": "one prediction per row, in order", **_content("PredictResponse")},
                          **_errors(400, 404, 413, 415, 422, 503)},
        }},
        "/health": {"get": {"summary": "Readiness: a model is loaded",
                            "responses": {"200": {"description": "ready", **_content("HealthResponse")},
                                          **_errors(503)}}},
        "/health/live": {"get": {"summary": "Liveness",
                                 "responses": {"200": {"description": "alive", **_content("LiveResponse")}}}},
        "/models": {"get": {"summary": "Versions on disk and loaded",
                            "responses": {"200": {"description": "versions", **_content("ModelsResponse")}}}},
        "/models/{version}": {"get": {"summary": "One version", "parameters": [version_parameter],
                                      "responses": {"200": {"description": "version", **_content("ModelVersion")},
                                                    **_errors(404)}}},
        "/models/{version}/plot.png": {"get": {
            "summary": "The version's decision-boundary picture", "parameters": [version_parameter],
            "responses": {"200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string",
                                                                                          "format": "binary"}}}},
                          **_errors(404)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {"schema": {}}}}}}},
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Moonserve", "version": trainer.__version__,
                 "description": "Two-moons classifier: a from-scratch NumPy network."},
        "paths": paths,
        "components": {"schemas": schemas["$defs"]},
    }
    return orjson.dumps(document)

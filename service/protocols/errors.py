"""One exception family for every client-facing error, and the one JSON envelope.

Every error response is ``{"error": {"code", "message", "details"}}``; ``details``
lists ``{"loc", "msg", "type"}`` for each problem, ``loc`` the dotted field path.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("moonserve.errors")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class MalformedJson(ApiError):
    status, code = 400, "malformed_json"


class MalformedBody(ApiError):
    """A body whose framing is broken: cut short, or bad chunked encoding."""

    status, code = 400, "malformed_body"


class UnsupportedTransferCoding(ApiError):
    status, code = 501, "not_implemented"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_error"


class BodyTimeout(ApiError):
    status, code = 408, "body_timeout"


class VersionNotFound(ApiError):
    status, code = 404, "version_not_found"


class ModelNotFound(ApiError):
    status, code = 404, "model_not_found"


class NoModel(ApiError):
    status, code = 503, "no_model_loaded"


class V2Error(ApiError):
    """A bad Open Inference Protocol request (400)."""

    status, code = 400, "bad_inference_request"


class V1Error(ApiError):
    """A bad KServe V1 / TF Serving request (400)."""

    status, code = 400, "bad_predict_request"


HTTP_CODES = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
    413: "body_too_large", 414: "uri_too_long", 415: "unsupported_media_type", 417: "expectation_failed",
    431: "headers_too_large", 500: "internal_error", 501: "not_implemented", 502: "bad_gateway",
    503: "unavailable", 504: "gateway_timeout",
}
"""Our code for an error status Flask, gunicorn or the front proxy (deploy/proxy) answers by itself."""


def error_body(path: str, code: str, message: str, details: list[dict] | None = None) -> bytes:
    """The envelope for a request to ``path``; under ``/v1`` and ``/v2`` the protocols'
    ``{"error": message}`` (TF Serving's and the Open Inference Protocol's)."""
    if path == "/v2" or path.startswith(("/v2/", "/v1/")):
        return orjson.dumps({"error": message})
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or []}})


def error_response(status: int, code: str, message: str, details: list[dict] | None = None) -> Response:
    return Response(error_body(request.path, code, message, details), status=status, mimetype="application/json")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        response = error_response(status, HTTP_CODES.get(status, "http_error"), _http_message(error))
        if status == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error", extra={"fields": {"request_id": request.environ.get("moonserve.request_id")}})
        return error_response(500, "internal_error", "internal server error; the request id is in the logs")


def _http_message(error: HTTPException) -> str:
    if error.code == 413:
        return "the request body is larger than the service accepts (MAX_BODY_BYTES)"
    if error.code == 404:
        return "no such endpoint"
    if error.code == 405:
        return "method not allowed for this endpoint"
    return (error.description or error.name).strip()

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


def rendered_error(error: Exception, path: str, request_id: str | None) -> tuple[int, bytes, list[tuple[str, str]]]:
    """The status, body and extra headers of the answer to ``error``, raised while
    answering ``path``: what the Flask handlers send, and what ``/predict``'s fast path
    (``predict_fast_path``) sends without Flask. Call it where the error is caught: an
    unexpected one is logged with its traceback."""
    if isinstance(error, ApiError):
        return error.status, error_body(path, error.code, error.message, error.details), []
    if isinstance(error, HTTPException):
        status = error.code or 500
        body = error_body(path, HTTP_CODES.get(status, "http_error"), _http_message(error))
        methods = getattr(error, "valid_methods", None) if status == 405 else None
        return status, body, [("Allow", ", ".join(sorted(methods)))] if methods else []
    log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
    return 500, error_body(path, "internal_error", "internal server error; the request id is in the logs"), []


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Exception)
    def _any_error(error: Exception):
        status, body, headers = rendered_error(error, request.path, request.environ.get("moonserve.request_id"))
        response = Response(body, status=status, mimetype="application/json")
        response.headers.extend(headers)
        return response


def _http_message(error: HTTPException) -> str:
    if error.code == 413:
        return "the request body is larger than the service accepts (MAX_BODY_BYTES)"
    if error.code == 404:
        return "no such endpoint"
    if error.code == 405:
        return "method not allowed for this endpoint"
    return (error.description or error.name).strip()

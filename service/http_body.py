"""Reading request bodies: the size limit first, then the bytes."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from service.errors import MalformedJson


def content_type() -> str:
    """The request's media type, lower case, without parameters ("" if none)."""
    return request.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()


def read_body(max_bytes: int) -> bytes:
    """The body, refused with 413 before reading when it is over ``max_bytes``.

    With a Content-Length (the usual case) the bytes come straight from the WSGI
    input, at a fraction of the cost of werkzeug's ``get_data``; a chunked body goes
    through werkzeug, which enforces the app's MAX_CONTENT_LENGTH while streaming.
    """
    environ = request.environ
    length = environ.get("CONTENT_LENGTH", "")
    if not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ:
        return request.get_data(cache=False)
    size = int(length)
    if size > max_bytes:
        raise RequestEntityTooLarge()
    body = environ["wsgi.input"].read(size)
    if len(body) != size:
        raise MalformedJson(f"the body ended after {len(body)} of its {size} bytes")
    return body

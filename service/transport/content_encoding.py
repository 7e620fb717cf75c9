"""Compressed request bodies (``Content-Encoding: gzip`` or ``deflate``), as Triton
accepts them and tritonclient sends them, inflated within the body size limit.

A compression bomb is stopped after at most ``max_bytes`` are inflated: the
decompressor is asked for one byte more than the limit, never for all of it.
"""

from __future__ import annotations

import zlib

from werkzeug.exceptions import RequestEntityTooLarge

from service.protocols.errors import MalformedBody, UnsupportedMediaType

SUPPORTED = ("gzip", "deflate", "identity")
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def content_encoding(environ: dict) -> str:
    """The request's ``Content-Encoding``, lower case ("identity" when absent); 415
    for any other than those ``SUPPORTED``, or for a chain of several."""
    encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() or "identity"
    if encoding not in SUPPORTED:
        raise UnsupportedMediaType(f"Content-Encoding {encoding[:40]!r} is not supported; "
                                   f"send one of {', '.join(SUPPORTED)}")
    return encoding


def inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """``body`` decoded from ``encoding``; 413 past ``max_bytes`` inflated, 400 when
    it is not valid data of that encoding. ``deflate`` is the zlib format (RFC 9110),
    and raw deflate, which some clients send under that name, is accepted too."""
    if encoding == "identity":
        return body
    try:
        return _inflate(body, _WINDOW_BITS[encoding], max_bytes)
    except zlib.error as error:
        if encoding == "deflate":
            try:
                return _inflate(body, -zlib.MAX_WBITS, max_bytes)
            except zlib.error:
                pass
        raise MalformedBody(f"the body is not valid {encoding} data ({str(error)[:80]})") from None


def _inflate(body: bytes, window_bits: int, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(window_bits)
    inflated = decompressor.decompress(body, max_bytes + 1)
    if len(inflated) > max_bytes:
        raise RequestEntityTooLarge()
    if not decompressor.eof:
        raise zlib.error("the compressed stream is cut short")
    if decompressor.unused_data:
        raise zlib.error("bytes follow the end of the compressed stream")
    return inflated

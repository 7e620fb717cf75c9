"""Reading request bodies: the size limit first, then the bytes, within a deadline.

Under gunicorn the client's socket is in the environ. A body read is watched by a
per-process watchdog thread: past BODY_TIMEOUT_S it shuts the socket's read side,
which ends the blocked read at once, so a client that announces more than it sends,
or trickles it byte by byte, holds a worker thread for at most that long. A body
refused unread or half read also gets its read side shut, so that gunicorn does not
wait for the rest of it before closing the connection.
"""

from __future__ import annotations

import re
import time

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from gunicorn.http.body import ChunkedReader
from gunicorn.http.errors import ParseException

from service.transport.content_encoding import content_encoding, inflate
from service.transport.deadlines import ReadDeadlines, stop_reading
from service.protocols.errors import BodyTimeout, MalformedBody, UnsupportedTransferCoding

_CHUNK = 256 * 1024
_DIGITS = re.compile(r"[0-9]{1,18}")  # str.isdigit() also takes "²", which int() then refuses


def content_type(environ: dict) -> str:
    """The request's media type, lower case, without parameters ("" if none)."""
    return environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()


def announced_length(environ: dict) -> int | None:
    """The body's length as its Content-Length gives it; None when there is none (or
    it is not a number), or when the body is chunked and the header does not count."""
    length = environ.get("CONTENT_LENGTH", "")
    return int(length) if _DIGITS.fullmatch(length) and "HTTP_TRANSFER_ENCODING" not in environ else None


def readable_without_flask(environ: dict) -> bool:
    """Whether ``read_body`` can read this request's body without Flask's request (it
    has a length, or gunicorn has marked where it ends). gunicorn's mark is looked at
    first: it is always there under gunicorn, and costs no regular expression."""
    return bool(environ.get("wsgi.input_terminated")) or announced_length(environ) is not None


_watchdog = ReadDeadlines("body-read-watchdog")


def read_body(environ: dict, max_bytes: int, timeout_s: float) -> bytes:
    """The body of the request whose WSGI ``environ`` this is, decompressed: 413 when
    it is (or announces being, or inflates to) over ``max_bytes``, 408 when it has not
    all arrived within ``timeout_s``, 400 when it ends early or its chunked framing is
    broken, 415 for a ``Content-Encoding`` other than gzip, deflate or identity."""
    encoding = content_encoding(environ)
    client = environ.get("gunicorn.socket")
    chunked = "HTTP_TRANSFER_ENCODING" in environ
    if chunked and environ["HTTP_TRANSFER_ENCODING"].strip().lower() != "chunked":
        stop_reading(client)  # gunicorn passes gzip, deflate and compress on still coded
        raise UnsupportedTransferCoding(f"Transfer-Encoding {environ['HTTP_TRANSFER_ENCODING'][:60]!r} is not "
                                        "supported; send chunked, and Content-Encoding for compression")
    expected = announced_length(environ)
    if not readable_without_flask(environ):
        return inflate(request.get_data(cache=False), encoding, max_bytes)  # werkzeug enforces MAX_CONTENT_LENGTH
    if expected is not None and expected > max_bytes:
        stop_reading(client)
        raise RequestEntityTooLarge()
    stream = environ["wsgi.input"]
    if chunked:
        _refuse_large_chunks(stream, max_bytes)
    token = _watchdog.watch(client, time.monotonic() + timeout_s) if client is not None else None
    broken = None
    try:
        body = _read_until(stream, expected, max_bytes)
    except RequestEntityTooLarge:
        stop_reading(client)
        raise
    except ParseException as error:  # gunicorn's chunked decoder: a bad size line, terminator or trailer
        body, broken = b"", f"the chunked body is malformed ({type(error).__name__}: {str(error)[:80]})"
    except OSError:
        body, broken = b"", "the chunked body ended before its last chunk" if chunked else None
    finally:
        timed_out = token is not None and _watchdog.release(token)
    if timed_out:
        raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s")
    if broken:
        stop_reading(client)
        raise MalformedBody(broken)
    if expected is not None and len(body) != expected:
        stop_reading(client)
        raise MalformedBody(f"the body ended after {len(body)} of its {expected} bytes")
    return inflate(body, encoding, max_bytes)


def _refuse_large_chunks(stream, max_bytes: int) -> None:
    """Make gunicorn's chunked reader refuse, as soon as it reads a chunk's size line,
    a chunk that would take the body past ``max_bytes``: 413 at once, not 408 once the
    client has failed to send it. Wraps this one request's reader (an instance
    attribute, read by its parser when it reads the next size line); anything else
    is left as it is, and the limit is then enforced on the bytes that arrive."""
    reader = getattr(stream, "reader", None)
    if not isinstance(reader, ChunkedReader) or not callable(getattr(reader, "parse_chunk_size", None)):
        return
    parse_chunk_size = reader.parse_chunk_size
    declared = [0]

    def parse_within_limit(*args, **kwargs):
        size, rest = parse_chunk_size(*args, **kwargs)
        declared[0] += size
        if declared[0] > max_bytes:
            raise RequestEntityTooLarge()
        return size, rest

    reader.parse_chunk_size = parse_within_limit
def _read_until(stream, expected: int | None, max_bytes: int) -> bytes:
    parts, total = [], 0
    while expected is None or total < expected:
        chunk = stream.read(_CHUNK if expected is None else min(_CHUNK, expected - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise RequestEntityTooLarge()
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)

"""Reading request bodies: the size limit first, then the bytes, within a deadline.

Under gunicorn the client's socket is in the environ. A body read is watched by a
per-process watchdog thread: past BODY_TIMEOUT_S it shuts the socket's read side,
which ends the blocked read at once, so a client that announces more than it sends,
or trickles it byte by byte, holds a worker thread for at most that long. A body
refused unread or half read also gets its read side shut, so that gunicorn does not
wait for the rest of it before closing the connection.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from service.errors import BodyTimeout, MalformedJson

_CHUNK = 256 * 1024


def content_type(environ: dict) -> str:
    """The request's media type, lower case, without parameters ("" if none)."""
    return environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()


def _stop_reading(client: socket.socket | None) -> None:
    if client is not None:
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass


class _Watchdog:
    """Shuts the read side of sockets whose body read has passed its deadline."""

    def __init__(self, period_s: float = 0.1):
        self._period = period_s
        self._lock = threading.Lock()
        self._reads: dict[int, tuple[float, socket.socket]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, client: socket.socket, deadline: float) -> int:
        token = next(self._tokens)
        with self._lock:
            self._reads[token] = (deadline, client)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="body-read-watchdog", daemon=True)
                self._thread.start()
        return token

    def release(self, token: int) -> bool:
        """Stop watching; True if the deadline passed and the read was cut."""
        with self._lock:
            self._reads.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(self._period)
            now = time.monotonic()
            with self._lock:
                late = [(token, client) for token, (deadline, client) in self._reads.items() if deadline <= now]
                for token, _ in late:
                    del self._reads[token]
                    self._fired.add(token)
            for _, client in late:
                _stop_reading(client)


_watchdog = _Watchdog()


def read_body(environ: dict, max_bytes: int, timeout_s: float) -> bytes:
    """The body of the request whose WSGI ``environ`` this is; 413 when it is (or
    announces being) over ``max_bytes``, 408 when it has not all arrived within
    ``timeout_s``, 400 when it ends early."""
    client = environ.get("gunicorn.socket")
    length = environ.get("CONTENT_LENGTH", "")
    expected = int(length) if length.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ else None
    if expected is None and not environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)  # werkzeug enforces MAX_CONTENT_LENGTH
    if expected is not None and expected > max_bytes:
        _stop_reading(client)
        raise RequestEntityTooLarge()
    token = _watchdog.watch(client, time.monotonic() + timeout_s) if client is not None else None
    try:
        body = _read_until(environ["wsgi.input"], expected, max_bytes)
    except RequestEntityTooLarge:
        _stop_reading(client)
        raise
    except OSError:
        body = b""
    finally:
        timed_out = token is not None and _watchdog.release(token)
    if timed_out:
        raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s")
    if expected is not None and len(body) != expected:
        _stop_reading(client)
        raise MalformedJson(f"the body ended after {len(body)} of its {expected} bytes")
    return body


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

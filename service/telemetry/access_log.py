"""The access log: one JSON object per request on stderr, written in blocks.

A write per request is a system call per request, and on these machines that alone
cost about 3% of one-row throughput. So lines are gathered and written together, as
nginx's ``access_log ... buffer= flush=`` does: a block goes out when the next line
would take it past 4 KiB (PIPE_BUF, so a block written to a pipe is never interleaved
with another worker's), or within ``flush_s`` seconds of its first line (a flusher
thread writes what has gathered every ``flush_s``), whichever comes first, and whatever
is left when the process exits. The flusher keeps its own time instead of being
woken by the request threads (no handoff to it per block; the difference was within
``bench/request_cost.py``'s noise). The price: a worker killed with
SIGKILL loses the lines of its last ``flush_s`` seconds (its metrics are unaffected).
``flush_s=0`` writes every line at once.
"""

from __future__ import annotations

import atexit
import os
import threading
import time

import orjson

BLOCK_BYTES = 4096
"""PIPE_BUF on Linux: the most one write to a pipe is guaranteed to keep whole."""


MAX_LINE_BYTES = 2048
"""A line's limit AFTER JSON escaping (a control character takes 6 bytes), well
under a block, so that a block is always whole lines."""


def _shortened(record: dict) -> bytes:
    """``record`` as a line with its longest text field (the path, in practice) cut,
    as encoded, until the line fits ``MAX_LINE_BYTES``; marked ``"truncated": true``."""
    record = dict(record, truncated=True)
    key = max((k for k, v in record.items() if isinstance(v, str)), key=lambda k: len(record[k]))
    line = orjson.dumps(record) + b"\n"
    while len(line) > MAX_LINE_BYTES and record[key]:
        text, encoded = record[key], len(orjson.dumps(record[key]))
        keep = max(encoded - (len(line) - MAX_LINE_BYTES) - 8, 0)  # bytes of it that may stay
        record[key] = text[: len(text) * keep // encoded]
        line = orjson.dumps(record) + b"\n"
    return line


class AccessLog:
    """Formats the lines in the same shape as ``jsonlog``'s, but not through the
    logging module, which costs more per record than a one-row prediction: orjson, and
    the timestamp's seconds part made once a second. A line stays under 4 KiB (the
    line is cut to ``MAX_LINE_BYTES`` after encoding), so a block never splits one."""

    def __init__(self, enabled: bool, flush_s: float, fd: int = 2):
        self.enabled = enabled
        self._flush_s = flush_s
        self._fd = fd
        self._second = -1
        self._stamp = ""
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flusher: threading.Thread | None = None

    def write(self, entry: dict) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        record = {"ts": f"{self._stamp}.{int((now - second) * 1000):03d}Z", "level": "info",
                  "logger": "moonserve.access", "message": "request", **entry}
        line = orjson.dumps(record) + b"\n"
        if len(line) > MAX_LINE_BYTES:
            line = _shortened(record)
        if self._flush_s <= 0:
            self._write_out(line)
            return
        with self._lock:
            if self._pending_bytes + len(line) > BLOCK_BYTES:
                self._write_out(b"".join(self._pending))
                self._pending.clear()
                self._pending_bytes = 0
            self._pending.append(line)
            self._pending_bytes += len(line)
        if self._flusher is None:
            self._start_flusher()

    def flush(self) -> None:
        """Write out every gathered line now."""
        with self._lock:
            if self._pending:
                self._write_out(b"".join(self._pending))
                self._pending.clear()
                self._pending_bytes = 0

    def _write_out(self, block: bytes) -> None:
        """A block stderr will not take (closed, or its reader gone) is dropped: a
        broken log must not fail the request that happens to fill the buffer."""
        try:
            while block:
                block = block[os.write(self._fd, block):]
        except OSError:
            pass

    def _start_flusher(self) -> None:
        """Once per process, at the first gathered line (so after gunicorn's fork)."""
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_every_flush_s, name="access-log-flush", daemon=True)
        self._flusher.start()
        atexit.register(self.flush)

    def _flush_every_flush_s(self) -> None:
        while True:
            time.sleep(self._flush_s)
            self.flush()

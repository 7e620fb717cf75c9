"""Deadlines on blocking socket reads, kept by one watchdog thread per process.

A thread blocked in ``recv`` cannot be interrupted, but shutting the socket's read
side ends the read at once (it returns no data). The watchdog does that to every
watched socket whose deadline has passed: reads of request bodies (``http_body``)
and of request headers (``gunicorn_worker``), so that a client that trickles bytes
holds a worker thread for at most the deadline.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time


def stop_reading(client: socket.socket | None) -> None:
    """Shut the read side of ``client``; a socket already closed is left alone."""
    if client is not None:
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass


class ReadDeadlines:
    """Shuts the read side of sockets whose read has passed its deadline."""

    def __init__(self, name: str, period_s: float = 0.1):
        self._name, self._period = name, period_s
        self._lock = threading.Lock()
        self._reads: dict[int, tuple[float, socket.socket]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, client: socket.socket, deadline: float) -> int:
        """Watch ``client`` until ``deadline`` (``time.monotonic``); a token for ``release``."""
        token = next(self._tokens)
        with self._lock:
            self._reads[token] = (deadline, client)
            if self._thread is None or not self._thread.is_alive():  # started after fork, in each worker
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
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
                stop_reading(client)

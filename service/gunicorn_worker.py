"""gunicorn's threaded worker with bounds on slow clients and JSON protocol errors.

``gunicorn.workers.gthread.ThreadWorker`` gives a slow client a worker thread for as
long as it likes: a new connection waits up to 5 s in a thread for its first byte,
headers are read with no deadline at all (two slowloris clients stopped the service
for good, ``bench/slow_clients.py``), and an answer is written with no deadline (a
client that pipelines requests and never reads holds the thread until it goes).
This subclass, named by ``gunicorn.conf.py``:

- parks a new connection that has sent nothing in the worker's poller at once,
  instead of holding a thread for it;
- cuts a connection whose request line and headers have not all arrived within
  ``HEADER_TIMEOUT_S`` of its first byte (the read side is shut, see ``deadlines``);
- writes every answer within ``SEND_TIMEOUT_S``, else closes the connection;
- spreads connections evenly over the workers (``accept_balance``): a worker holding
  more connections than another live worker stops accepting until that is no longer so,
  and one holding two more closes a connection after its next answer;
- answers gunicorn's own protocol errors (400, 414, 431, 501...) with our JSON
  envelope instead of an HTML page, and 501 with its real reason phrase.

What remains (a client that keeps reopening connections still takes a thread for
up to ``HEADER_TIMEOUT_S`` each time) is the front proxy's to close: SECURITY.md.
"""

from __future__ import annotations

import html
import logging
import re
import time

from gunicorn import util
from gunicorn.workers import gthread

from service.protocols.errors import HTTP_CODES, error_body
from service.transport.accept_balance import may_accept, may_keep
from service.transport.deadlines import ReadDeadlines
from service.settings import Settings

log = logging.getLogger("moonserve.worker")
_header_deadlines = ReadDeadlines("header-read-watchdog")
_DEFER = getattr(gthread, "_DEFER", None)  # the worker's "back to the poller" answer, where it has one
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")
_REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented"}
"""RFC 9110's reason phrases for the statuses gunicorn answers itself (Python 3.11's
``HTTPStatus`` still calls 414 "Request-URI Too Long")."""


class _Captured:
    """Stands in for the client socket while gunicorn writes its error page, which
    is then rewritten as JSON: gunicorn keeps deciding the status and the message."""

    def __init__(self):
        self.data = bytearray()

    def gettimeout(self):
        return 0.0

    def setblocking(self, flag):
        pass

    def sendall(self, data):
        self.data += data

    def send(self, data):
        self.data += data
        return len(data)


def protocol_error_response(page: bytes, path: str | None) -> bytes:
    """gunicorn's HTML error response ``page`` as ours: the same status, the
    message in the JSON envelope (``{"error": message}`` under ``/v2``)."""
    match = _STATUS_LINE.match(bytes(page))
    status = int(match.group(1)) if match else 400
    reason = _REASONS.get(status, "Bad Request")  # gunicorn writes "501 Bad Request"
    body = bytes(page).partition(b"\r\n\r\n")[2].decode("latin-1")
    text = re.sub(r"<[^>]+>", " ", body.partition("</h1>")[2])
    message = " ".join(html.unescape(text).split())[:300] or reason
    payload = error_body(path or "", HTTP_CODES.get(status, "bad_request"), message)
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode("latin-1") + payload



class MoonserveWorker(gthread.ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = Settings()
        self.header_timeout_s, self.send_timeout_s = settings.header_timeout_s, settings.send_timeout_s
        self._deferring = self._shedding = False

    @property
    def worker_connections(self) -> int:
        """``ThreadWorker.run`` accepts while ``nr_conns < worker_connections``, asked once
        a loop: here that is also where this worker publishes its count and learns whether
        another live worker holds fewer (then 0: it stops accepting for now). The master
        gives each worker ``accept_balance`` and ``balance_slot`` (gunicorn.conf.py)."""
        balance = getattr(self, "accept_balance", None)
        if balance is None:
            return self._connection_cap
        balance.publish(self.balance_slot, self.pid, self.nr_conns)
        others = balance.others(self.balance_slot)
        self._deferring = not may_accept(self.nr_conns, others)
        self._shedding = not may_keep(self.nr_conns, others)
        return 0 if self._deferring else self._connection_cap

    @worker_connections.setter
    def worker_connections(self, cap: int) -> None:
        self._connection_cap = cap

    def wait_for_and_dispatch_events(self, timeout):
        """While it defers, a worker looks again every 10 ms, not every second: the
        other workers' counts change without any event of its own to wake it."""
        return super().wait_for_and_dispatch_events(min(timeout, 0.01) if self._deferring else timeout)

    def handle_exit(self, sig, frame):
        """Stopping: leave the table at once, so that no worker waits for this one to accept."""
        balance = getattr(self, "accept_balance", None)
        if balance is not None:
            balance.release(self.balance_slot)
        super().handle_exit(sig, frame)

    def handle(self, conn):
        if _DEFER is not None and self.cfg.keepalive and not conn.initialized and not conn.data_ready:
            if not conn.wait_for_data(0):  # parked connections are closed after KEEPALIVE_S: not with 0
                return _DEFER  # nothing sent yet: wait in the poller, not in a thread
        conn.moonserve_header_token = _header_deadlines.watch(conn.sock, time.monotonic() + self.header_timeout_s)
        try:
            return super().handle(conn)
        finally:
            _header_deadlines.release(conn.moonserve_header_token)

    def handle_request(self, req, conn):
        """Headers have all arrived: their deadline ends, the answer's begins. A worker
        holding two connections more than another closes this one after answering
        (``accept_balance.may_keep``), so that its client reconnects to a less busy one."""
        _header_deadlines.release(conn.moonserve_header_token)
        if self._shedding:  # judged once a loop with the accept decision, not per request
            req.must_close = True
        conn.sock.settimeout(self.send_timeout_s)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            log.warning("answer not taken within SEND_TIMEOUT_S; connection closed",
                        extra={"fields": {"path": str(getattr(req, "path", ""))[:200],
                                          "send_timeout_s": self.send_timeout_s}})
            return False

    def handle_error(self, req, client, addr, exc):
        captured = _Captured()
        super().handle_error(req, captured, addr, exc)
        try:
            path = getattr(req or getattr(exc, "req", None), "path", None)  # a bad header: the request line was read
            util.write_nonblock(client, protocol_error_response(captured.data, path))
        except Exception:  # as gunicorn: a client gone before its error page is not an error of ours
            self.log.debug("Failed to send error message.")

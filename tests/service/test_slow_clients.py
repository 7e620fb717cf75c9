"""Slow, idle and never-reading clients, and gunicorn's own protocol errors, against a
real gunicorn through raw sockets. Few threads, short deadlines; 127.0.0.1 only."""

import json
import socket
import time

import pytest
import requests

from tests.service.gunicorn_server import raw_exchange, running_service, wait_until

BIG = json.dumps({"instances": [[0.123456, -0.654321]] * 10_000}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_layers):
    from tests.conftest import write_version

    folder = tmp_path_factory.mktemp("slow")
    write_version(folder / "models", trained_layers)
    with running_service(folder, folder / "models", reload_interval_s=0, workers=1, threads=2,
                         header_timeout_s=1, send_timeout_s=1) as running:
        yield running


def _answered(server, timeout=8.0) -> bool:
    try:
        return requests.post(server.url + "/predict", json={"instances": [[1, 2]]}, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _closed_by_server(client: socket.socket, within_s: float) -> bool:
    client.settimeout(within_s)
    try:
        while client.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_slow_headers_are_cut_and_do_not_hold_the_threads(server):
    """Two threads, four slowloris clients: before, each held a thread for as long as
    it kept sending, and the normal client below never got an answer."""
    attackers = []
    for _ in range(4):
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\n")
        attackers.append(client)
    time.sleep(0.3)
    for client in attackers:
        client.sendall(b"X-Slow: 1")
    assert _answered(server)
    assert all(_closed_by_server(client, 5) for client in attackers)
    for client in attackers:
        client.close()


def test_idle_connections_wait_without_a_thread(server):
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(60)]
    time.sleep(0.3)
    assert all(_answered(server, timeout=3) for _ in range(5))
    for client in idle:
        client.close()


def test_a_client_that_never_reads_its_answers_is_cut_after_the_send_timeout(server):
    request = (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(BIG)) + BIG
    hogs = []
    for _ in range(3):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", server.port))
        client.settimeout(2)
        try:
            for _ in range(40):  # pipelined: the answers pile up unread
                client.sendall(request)
        except (socket.timeout, OSError):
            pass
        hogs.append(client)
    assert _answered(server, timeout=10)
    assert wait_until(lambda: "answer not taken within SEND_TIMEOUT_S" in server.log(), 10), server.log()[-2000:]
    assert '"level":"error"' not in server.log() and "Traceback" not in server.log()
    for client in hogs:
        client.close()


def _raw(server, request: bytes) -> tuple[bytes, dict]:
    head, body = raw_exchange(server.port, request)
    assert b"Content-Type: application/json" in head, (head + body)[:300]
    return head.split(b"\r\n")[0], json.loads(body)


@pytest.mark.parametrize("request_bytes, status_line, code", [
    (b"GARBAGE\r\n\r\n", b"HTTP/1.1 400 Bad Request", "bad_request"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", b"HTTP/1.1 414 URI Too Long", "uri_too_long"),
    (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(120)) + b"\r\n",
     b"HTTP/1.1 431 Request Header Fields Too Large", "headers_too_large"),
    (b"POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo\r\n\r\n0\r\n\r\n",
     b"HTTP/1.1 501 Not Implemented", "not_implemented"),
    (b"GET /health HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", b"HTTP/1.1 400 Bad Request", "bad_request"),
])
def test_gunicorns_protocol_errors_are_our_json_envelope(server, request_bytes, status_line, code):
    status, body = _raw(server, request_bytes)
    assert status == status_line
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


def test_a_transfer_coding_gunicorn_passes_on_undecoded_is_501(server):
    """gunicorn hands gzip, deflate and compress transfer codings to the app still
    coded: refused, rather than read as if they were the body."""
    status, body = _raw(server, b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
    assert status == b"HTTP/1.1 501 NOT IMPLEMENTED" and "gzip, chunked" in body["error"]["message"]


def test_a_protocol_error_under_v2_is_the_protocols_error_body(server):
    status, body = _raw(server, b"POST /v2/models/moons/infer HTTP/1.1\r\nHost: t\r\nContent-Length: x1\r\n\r\n")
    assert status == b"HTTP/1.1 400 Bad Request" and isinstance(body["error"], str) and body["error"]

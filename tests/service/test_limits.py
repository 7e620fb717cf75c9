"""Bodies that are too large, lie about their length or trickle in, against a real
gunicorn with few threads: refused without holding a worker past BODY_TIMEOUT_S."""

import socket
import time

import requests

from tests.service.gunicorn_server import running_service

HEAD = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"


def _status_line(client: socket.socket, trickle: bool, limit_s: float) -> tuple[bytes, float]:
    started = time.monotonic()
    client.settimeout(0.2)
    while time.monotonic() - started < limit_s:
        if trickle:
            try:
                client.sendall(b" ")
            except OSError:
                pass
        try:
            data = client.recv(200)
            return data.split(b"\r\n")[0], time.monotonic() - started
        except socket.timeout:
            continue
    return b"", time.monotonic() - started


def test_lying_and_trickling_bodies_get_408_and_others_are_still_served(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, workers=1, threads=2, body_timeout_s=1.5, reload_interval_s=0) as server:
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        for client in clients:
            client.sendall(HEAD)
        time.sleep(0.2)
        started = time.monotonic()
        answer = requests.post(server.url + "/predict", json={"instances": [[1, 2]]}, timeout=10)
        waited = time.monotonic() - started
        assert answer.status_code == 200 and waited < 1.5 + 1.0
        for index, client in enumerate(clients):
            status, elapsed = _status_line(client, trickle=index == 1, limit_s=5)
            assert status == b"HTTP/1.1 408 REQUEST TIMEOUT", (index, status)
            client.close()


def test_multi_megabyte_and_announced_bodies_are_413_at_once(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, reload_interval_s=0) as server:
        body = b'{"instances": [' + b"[1.0, 2.0]," * 500_000 + b"[1, 2]]}"
        started = time.monotonic()
        response = requests.post(server.url + "/predict", data=body, headers={"Content-Type": "application/json"},
                                 timeout=10)
        assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
        assert time.monotonic() - started < 2
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 900000000\r\n\r\n{")
            status, elapsed = _status_line(client, trickle=False, limit_s=3)
            assert status == b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE" and elapsed < 1
        chunks = (b" " * 100_000 for _ in range(40))
        response = requests.post(server.url + "/predict", data=chunks, headers={"Content-Type": "application/json"},
                                 timeout=10)
        assert response.status_code == 413
        assert requests.post(server.url + "/predict", json={"instances": [[1, 2]]}, timeout=5).status_code == 200

"""The front proxy's nginx configuration, run for real: Debian's nginx, rendered by the
image's own entrypoint, in front of a real gunicorn on loopback.

Skipped, with the reason, where nginx is not installed (``apt-get install nginx-light``;
``scripts/test.sh`` installs it when it runs as root). Replica discovery, retries and
scaling need Docker's DNS and run in the compose test (``scripts/e2e.sh``).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from service.protocols.errors import HTTP_CODES, error_body
from tests.deploy.proxy_server import NGINX, PROXY, start_proxy
from tests.service.gunicorn_server import free_port, raw_exchange, running_service, stop_process, wait_until

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
ROWS = {"instances": [[0.5, -0.4], [0.0, 1.0]]}
MAX_BODY = 4096


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_layers):
    from tests.conftest import write_version

    tmp_path = tmp_path_factory.mktemp("proxy")
    write_version(tmp_path / "models", trained_layers)
    with running_service(tmp_path, tmp_path / "models", reload_interval_s=0, max_body_bytes=MAX_BODY,
                         access_log_flush_s=0) as server:
        proxy = start_proxy(tmp_path, f"127.0.0.1:{server.port}", max_body_bytes=MAX_BODY, header_timeout_s=2,
                             body_timeout_s=2, send_timeout_s=2)
        try:
            yield server, proxy
        finally:
            stop_process(proxy.process)


def test_answers_through_the_proxy_equal_the_replicas(stack):
    server, proxy = stack
    direct = requests.post(server.url + "/predict", json=ROWS, timeout=5)
    through = requests.post(proxy.url + "/predict", json=ROWS, timeout=5)
    assert through.status_code == 200 and through.json() == direct.json()
    v2 = requests.get(proxy.url + "/v2/models/moons", timeout=5)
    assert v2.status_code == 200 and v2.json()["name"] == "moons"
    missing = requests.get(proxy.url + "/v2/models/nope", timeout=5)  # the API's own error passes untouched
    assert missing.status_code == 404 and set(missing.json()) == {"error"}


def test_the_request_id_is_passed_through_or_made_and_reaches_the_api_log(stack):
    server, proxy = stack
    sent = requests.post(proxy.url + "/predict", json=ROWS, headers={"X-Request-ID": "client-id-42"}, timeout=5)
    assert sent.headers["X-Request-ID"] == "client-id-42" and "," not in sent.headers["X-Request-ID"]
    made = requests.post(proxy.url + "/predict", json=ROWS, timeout=5).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    hostile = requests.post(proxy.url + "/predict", json=ROWS, headers={"X-Request-ID": "x" * 500}, timeout=5)
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])
    assert wait_until(lambda: f'"request_id":"{made}"' in server.log() and '"client-id-42"' in server.log(), 5)
    lines = {line["request_id"]: line for line in proxy.access_lines()}
    assert lines[made]["status"] == 200 and lines[made]["path"] == "/predict" and lines[made]["upstream_status"]


def _error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_a_body_over_max_body_bytes_is_refused_by_the_proxy_in_our_envelope(stack):
    _, proxy = stack
    big = json.dumps({"instances": [[0.5, -0.4]] * 1000})
    assert len(big) > MAX_BODY
    body = _error(requests.post(proxy.url + "/predict", data=big, headers={"Content-Type": "application/json"},
                                timeout=5), 413)
    assert body["error"]["code"] == "body_too_large" and "MAX_BODY_BYTES" in body["error"]["message"]
    v2 = _error(requests.post(proxy.url + "/v2/models/moons/infer", data=big, timeout=5), 413)
    assert set(v2) == {"error"} and "MAX_BODY_BYTES" in v2["error"]


def _raw(proxy, request: bytes) -> tuple[int, dict]:
    head, body = raw_exchange(proxy.port, request, timeout=5)
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "bad_request"),
])
def test_the_proxys_own_errors_are_our_json_envelope(stack, request_bytes, status, code):
    got, body = _raw(stack[1], request_bytes)
    assert got == status and body["error"]["code"] == code and body["error"]["details"] == []


def test_the_proxys_error_bodies_are_the_apis_envelope_exactly():
    template = (PROXY / "nginx.conf.template").read_text()
    maps = re.findall(r"map \$moonserve_protocol \$moonserve_(\d+) \{\s*1 '(.*?)';\s*default '(.*?)';", template)
    assert {int(status) for status, _, _ in maps} == {400, 408, 413, 414, 431, 502, 503, 504}
    for status, protocol, envelope in maps:
        envelope_body = json.loads(envelope)
        message = envelope_body["error"]["message"]
        assert envelope_body["error"]["code"] == HTTP_CODES[int(status)]
        assert json.loads(error_body("/predict", HTTP_CODES[int(status)], message)) == envelope_body
        assert json.loads(error_body("/v2/models/x/infer", HTTP_CODES[int(status)], message)) == json.loads(protocol)


def test_no_replica_is_a_502_in_our_envelope(tmp_path):
    proxy = start_proxy(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        body = _error(requests.post(proxy.url + "/predict", json=ROWS, timeout=5), 502)
        assert body["error"]["code"] == "bad_gateway"
        assert set(_error(requests.get(proxy.url + "/v2/health/ready", timeout=5), 502)) == {"error"}
    finally:
        stop_process(proxy.process)


def test_a_normal_client_is_answered_within_a_second_with_200_hostile_connections_open(stack):
    from bench.slow_clients import Attackers

    _, proxy = stack
    with Attackers("127.0.0.1", proxy.port, "slow-headers", 70), Attackers("127.0.0.1", proxy.port, "idle", 70), \
            Attackers("127.0.0.1", proxy.port, "no-read", 60):
        time.sleep(3)  # past the header timeout: every kind has had time to hold what it can
        waits = []
        for _ in range(30):
            started = time.monotonic()
            response = requests.post(proxy.url + "/predict", json=ROWS, timeout=5)
            waits.append(time.monotonic() - started)
            assert response.status_code == 200
    assert max(waits) < 1.0, waits

"""Hostile requests: version spellings, compressed and malformed bodies, huge error
reports. Flask's test client for the contract; a real gunicorn and raw sockets where
the framing is gunicorn's (chunked encoding)."""

import gzip
import json
import socket
import zlib
from urllib.parse import quote

import pytest
import requests

from tests.service.gunicorn_server import running_service, wait_until

ROW_BODY = json.dumps({"instances": [[0.5, -0.4], [0.0, 1.0]]}).encode()
V2_BODY = json.dumps({"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [0.5, -0.4]}]}).encode()
BAD_VERSIONS = ["1\n", "\u0661", "\u00b2", "+1", " 1", "1 ", "01", "1.0", "\uff11"]


@pytest.mark.parametrize("text", BAD_VERSIONS)
def test_versions_are_ascii_digits_only_everywhere(client, text):
    query = client.post(f"/predict?version={quote(text)}", json={"instances": [[1, 2]]})
    assert query.status_code == 422 and query.get_json()["error"]["details"][0]["loc"] == "query.version"
    assert client.get(f"/models/{quote(text)}").status_code == 404
    assert client.get(f"/models/{quote(text)}/plot.png").status_code == 404
    infer = client.post(f"/v2/models/moons/versions/{quote(text)}/infer", data=V2_BODY)
    assert infer.status_code in (400, 404) and set(infer.get_json()) == {"error"}
    assert client.post("/predict", json={"instances": [[1, 2]], "version": text}).status_code == 422


@pytest.mark.parametrize("length", ["\u00b2", "\u0661\u0660", "+10", " 10", "0x10"])
def test_inference_header_length_is_ascii_digits(client, length):
    response = client.post("/v2/models/moons/infer", data=V2_BODY, headers={"Inference-Header-Content-Length": length})
    assert response.status_code == 400 and "Inference-Header-Content-Length" in response.get_json()["error"]


@pytest.mark.parametrize("parameters", [{"binary_data_output": "false"}, {"binary_data_output": 1},
                                        {"binary_data_output": None}])
def test_binary_data_output_must_be_a_boolean(client, parameters):
    body = json.dumps({**json.loads(V2_BODY), "parameters": parameters})
    response = client.post("/v2/models/moons/infer", data=body)
    assert response.status_code == 400 and "binary_data_output must be true or false" in response.get_json()["error"]


def test_per_output_binary_data_must_be_a_boolean_and_beats_the_default(client):
    request = json.loads(V2_BODY)
    bad = {**request, "outputs": [{"name": "label", "parameters": {"binary_data": "true"}}]}
    response = client.post("/v2/models/moons/infer", data=json.dumps(bad))
    assert response.status_code == 400 and "outputs.0.parameters.binary_data" in response.get_json()["error"]
    mixed = {**request, "parameters": {"binary_data_output": True},
             "outputs": [{"name": "label", "parameters": {"binary_data": False}}]}
    response = client.post("/v2/models/moons/infer", data=json.dumps(mixed))
    assert response.status_code == 200 and response.get_json()["outputs"][0]["data"] in ([0], [1])


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress), ("GZIP", gzip.compress), ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data, wbits=-15)), ("identity", lambda data: data)])
def test_compressed_bodies_are_accepted_in_both_protocols(client, encoding, compress):
    plain = client.post("/predict", data=ROW_BODY, content_type="application/json").get_json()
    packed = client.post("/predict", data=compress(ROW_BODY), content_type="application/json",
                         headers={"Content-Encoding": encoding})
    assert packed.status_code == 200 and packed.get_json() == plain
    v2 = client.post("/v2/models/moons/infer", data=compress(V2_BODY), headers={"Content-Encoding": encoding})
    assert v2.status_code == 200 and v2.get_json()["outputs"][0]["name"] == "probability"


def test_a_compression_bomb_is_413_and_an_unknown_encoding_415(make_app):
    client = make_app(max_body_bytes=64 * 1024).test_client()
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    response = client.post("/predict", data=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "body_too_large"
    v2 = client.post("/v2/models/moons/infer", data=bomb, headers={"Content-Encoding": "gzip"})
    assert v2.status_code == 413 and set(v2.get_json()) == {"error"}
    for encoding in ("br", "zstd", "gzip, gzip", "compress"):
        response = client.post("/predict", data=ROW_BODY, content_type="application/json",
                               headers={"Content-Encoding": encoding})
        assert response.status_code == 415, encoding
        assert "gzip, deflate, identity" in response.get_json()["error"]["message"]
    broken = client.post("/predict", data=b"\x1f\x8b not gzip", content_type="application/json",
                         headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "malformed_body"


def test_a_422_is_bounded_whatever_the_body(client):
    rows = json.dumps({"instances": [["a", "b"]] * 170_000}).encode()
    assert len(rows) > 2_000_000 - 200_000
    response = client.post("/predict", data=rows, content_type="application/json")
    error = response.get_json()["error"]
    assert response.status_code == 422 and len(response.data) < 16 * 1024
    assert len(error["details"]) == 20 and "340000 problems" in error["message"]
    assert error["details"][0]["loc"] == "body.instances.0.0" and error["details"][19]["loc"] == "body.instances.9.1"
    keys = json.dumps({"instances": [[1, 2]], **{f"k{i}": 1 for i in range(50_000)}})
    response = client.post("/predict", data=keys, content_type="application/json")
    error = response.get_json()["error"]
    assert response.status_code == 422 and len(response.data) < 16 * 1024 and "50000 problems" in error["message"]
    long_key = json.dumps({"instances": [[1, 2]], "x" * 500_000: 1})
    response = client.post("/predict", data=long_key, content_type="application/json")
    assert response.status_code == 422 and len(response.data) < 2048
    mixed = json.dumps({"instances": [[1, 2], ["a", 1], [1]], "version": "2", "extra": 1})
    error = client.post("/predict", data=mixed, content_type="application/json").get_json()["error"]
    assert sorted(d["loc"] for d in error["details"]) == ["body.extra", "body.instances.1.0", "body.instances.2.1",
                                                          "body.version"]


@pytest.fixture(scope="module")
def chunked_server(tmp_path_factory, trained_layers):
    from tests.conftest import write_version

    folder = tmp_path_factory.mktemp("chunked")
    write_version(folder / "models", trained_layers)
    with running_service(folder, folder / "models", reload_interval_s=0, body_timeout_s=60,
                         max_body_bytes=1024 * 1024) as server:
        yield server


def _raw(server, body: bytes, path: str = "/predict") -> tuple[int, dict]:
    head = (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
        client.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            data = client.recv(65536)
            if not data:
                break
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(answer.partition(b"\r\n\r\n")[2] or b"null")


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize("body", [
    b"zz\r\n" + ROW_BODY + b"\r\n0\r\n\r\n",                              # size not hex
    b"-5\r\nhello\r\n0\r\n\r\n",                                          # negative
    b"%x\r\n" % len(ROW_BODY) + ROW_BODY + b"XX0\r\n\r\n",                # no CRLF after the data
    b"%x\r\n" % len(ROW_BODY) + ROW_BODY + b"\r\n0\r\nbad trailer\r\n\r\n",  # trailer without a colon
    b"%x;\x01=2\r\n" % len(ROW_BODY) + ROW_BODY + b"\r\n0\r\n\r\n",      # bad chunk extension
])
def test_malformed_chunked_bodies_are_400_with_the_envelope(chunked_server, body):
    status, answer = _raw(chunked_server, body)
    assert status == 400 and answer["error"]["code"] == "malformed_body", answer
    status, answer = _raw(chunked_server, body.replace(ROW_BODY, V2_BODY), "/v2/models/moons/infer")
    assert status == 400 and set(answer) == {"error"}
    assert requests.post(chunked_server.url + "/predict", json={"instances": [[1, 2]]}, timeout=5).status_code == 200
    assert '"level":"error"' not in chunked_server.log()


def test_a_chunk_declared_past_the_limit_is_413_before_it_arrives(chunked_server):
    """BODY_TIMEOUT_S is 60 s here and the client waits 20: a 408 could not arrive in time."""
    status, answer = _raw(chunked_server, b"%x\r\n" % (2 * 1024 * 1024) + b'{"instances": ')
    assert status == 413 and answer["error"]["code"] == "body_too_large"
    status, answer = _raw(chunked_server, b"%x\r\n" % (700 * 1024) + b" " * (700 * 1024) + b"\r\n"
                          + b"%x\r\n" % (700 * 1024) + b'{"in')
    assert status == 413
    status, answer = _raw(chunked_server, b"%x\r\n" % len(ROW_BODY) + ROW_BODY + b"\r\n0\r\n\r\n")
    assert status == 200 and len(answer["predictions"]) == 2


def _series(client) -> set[tuple]:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    return {(sample.name, tuple(sorted(sample.labels.items())))
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _hostile_traffic(client, rng, count: int) -> None:
    """``count`` requests with made-up methods, paths, versions and request ids."""
    import random
    import string

    def word(size):
        return "".join(rng.choice(string.ascii_letters + string.digits + "-._~%") for _ in range(size))

    templates = [lambda: f"/nope-{word(12)}", lambda: f"/models/{rng.randint(1, 10**12)}",
                 lambda: f"/predict?version={rng.choice([str(rng.randint(2, 10**9)), word(5)])}",
                 lambda: f"/v2/models/{word(8)}/infer", lambda: f"/v2/models/moons/versions/{word(4)}/infer",
                 lambda: "/predict"]
    for _ in range(count):
        method = rng.choice(["POST", "GET", "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 12)))])
        client.open(rng.choice(templates)(), method=method, data=b'{"instances": [[1, 2]]}',
                    headers={"Content-Type": "application/json", "X-Request-ID": word(rng.randint(1, 300))})
    assert isinstance(rng, random.Random)


def test_nothing_a_client_sends_adds_metric_series(client):
    import random

    client.get("/metrics")  # a scrape counts itself
    _hostile_traffic(client, random.Random(1), 300)  # every kind of answer once at least
    before = _series(client)
    _hostile_traffic(client, random.Random(2), 1000)
    after = _series(client)
    assert after == before, sorted(after - before)[:10]
    methods = {dict(labels).get("method") for name, labels in after if name == "moonserve_requests_total"}
    assert methods <= {"GET", "POST", "other"}


def test_made_up_methods_count_as_other_through_gunicorn(chunked_server):
    from tests.service.test_gunicorn import metric, scrape

    before = scrape(chunked_server)
    for index in range(40):
        with socket.create_connection(("127.0.0.1", chunked_server.port), timeout=10) as client:
            client.sendall(f"MADEUP{index} /predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            while client.recv(65536):
                pass
    after = scrape(chunked_server)
    labels = {"endpoint": "unmatched", "method": "other", "status": "405"}  # 405: no rule matched
    assert metric(after, "moonserve_requests_total", **labels) - metric(before, "moonserve_requests_total", **labels) == 40
    assert not any(dict(labels).get("method", "").startswith("MADEUP") for _, labels in after)


def test_access_lines_stay_short_after_escaping(chunked_server):
    path = "/" + "%01" * 1500 + "%E2%80%A8" * 300  # under gunicorn's 8190-byte request line
    requests.get(chunked_server.url + path, headers={"X-Request-ID": "long-path"}, timeout=5)
    assert wait_until(lambda: b'"long-path"' in chunked_server.log_path.read_bytes(), 10)
    line = next(raw for raw in chunked_server.log_path.read_bytes().splitlines() if b'"long-path"' in raw)
    entry = json.loads(line)
    assert len(line) + 1 <= 2048 and entry["truncated"] is True and entry["path"].startswith("/\x01\x01")

"""The Open Inference Protocol (V2), case by case as its REST specification lists them,
for two models on disk, through Flask's test client. Every 4xx body is ``{"error"}``."""

import json

import numpy as np
import pytest

from tests.conftest import write_version
from tests.service.conftest import flipped, numpy_probabilities

ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5]]
MODELS = {"moons": "1", "other": "2"}  # each model's served version


@pytest.fixture
def client(make_app, two_models):
    return make_app().test_client()


def _tensor(rows=ROWS, datatype="FP64", shape=None, **extra):
    return {"name": "X", "shape": shape or [len(rows), 2], "datatype": datatype, "data": rows, **extra}


def _infer(client, path, body=None, headers=None, **extra):
    payload = body if isinstance(body, (bytes, str)) else json.dumps(body or {"inputs": [_tensor()], **extra})
    return client.post(path, data=payload, headers=headers or {})


def _error(response, status):
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and 0 < len(body["error"]) < 400
    return body["error"]


def _binary(rows, header):
    raw = np.asarray(rows, dtype="<f8").tobytes()
    header = {**header, "inputs": [{"name": "X", "shape": [len(rows), 2], "datatype": "FP64",
                                    "parameters": {"binary_data_size": len(raw)}}]}
    encoded = json.dumps(header).encode()
    return encoded + raw, {"Inference-Header-Content-Length": str(len(encoded))}


def _split(response):
    """``(json header, {output name: raw bytes})`` of a binary response."""
    length = int(response.headers.get("Inference-Header-Content-Length", len(response.data)))
    header, offset, chunks = json.loads(response.data[:length]), length, {}
    for output in header["outputs"]:
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            chunks[output["name"]] = response.data[offset:offset + size]
            offset += size
    assert offset == len(response.data)
    return header, chunks


# Health and server metadata


def test_health_endpoints_answer_json_bodies(client):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    for name in MODELS:
        assert client.get(f"/v2/models/{name}/ready").get_json() == {"name": name, "ready": True}
        ready = client.get(f"/v2/models/{name}/versions/1/ready")
        assert ready.status_code == 200 and ready.get_json() == {"name": name, "ready": True}


def test_server_metadata_lists_exactly_the_extensions_implemented(client):
    metadata = client.get("/v2").get_json()
    assert metadata["name"] == "moonserve" and metadata["version"]
    assert sorted(metadata["extensions"]) == sorted(
        ["binary_tensor_data", "model_configuration", "model_repository", "statistics", "classification"])


# Every model endpoint, with and without a version, for every model


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("suffix", ["", "/ready", "/config", "/stats"])
def test_every_get_endpoint_works_with_and_without_a_version(client, name, suffix):
    plain = client.get(f"/v2/models/{name}{suffix}")
    versioned = client.get(f"/v2/models/{name}/versions/{MODELS[name]}{suffix}")
    assert plain.status_code == versioned.status_code == 200
    if suffix == "":
        assert plain.get_json()["name"] == name and versioned.get_json()["versions"] == [MODELS[name]]
        assert plain.get_json()["versions"] == sorted(plain.get_json()["versions"], key=int, reverse=True)
    if suffix == "/config":
        assert plain.get_json() == versioned.get_json()
        assert plain.get_json()["input"][0] == {"name": "X", "data_type": "TYPE_FP64", "dims": [2]}


@pytest.mark.parametrize("name", MODELS)
def test_infer_with_and_without_a_version_answers_each_models_numbers(client, name, trained_layers):
    layers = trained_layers if name == "moons" else flipped(trained_layers)
    expected = numpy_probabilities(layers, ROWS)
    for path in (f"/v2/models/{name}/infer", f"/v2/models/{name}/versions/{MODELS[name]}/infer"):
        answer = _infer(client, path).get_json()
        assert answer["model_name"] == name and answer["model_version"] == MODELS[name]
        outputs = {o["name"]: o for o in answer["outputs"]}
        np.testing.assert_allclose(outputs["probability"]["data"], expected, rtol=1e-12)
    older = _infer(client, "/v2/models/other/versions/1/infer").get_json()
    assert older["model_version"] == "1"


# Unknown models and versions


@pytest.mark.parametrize("path", [
    "/v2/models/nope", "/v2/models/nope/ready", "/v2/models/nope/config", "/v2/models/nope/stats",
    "/v2/models/moons/versions/9", "/v2/models/moons/versions/9/ready", "/v2/models/moons/versions/9/config",
    "/v2/models/moons/versions/9/stats", "/v2/models/moons/versions/nolabel"])
def test_unknown_model_or_version_is_404(client, path):
    message = _error(client.get(path), 404)
    assert any(word in message for word in ("unknown model", "not loaded", "no label")), message


@pytest.mark.parametrize("path", ["/v2/models/nope/infer", "/v2/models/moons/versions/9/infer"])
def test_infer_on_an_unknown_model_or_version_is_404(client, path):
    _error(_infer(client, path), 404)


def test_a_malformed_version_is_400_and_unknown_routes_and_methods_keep_the_envelope(client):
    _error(client.get("/v2/models/moons/versions/01"), 400)
    _error(client.get("/v2/nope"), 404)
    _error(client.get("/v2/models/moons/infer"), 405)


# Inputs: shapes, data, datatypes, nesting


@pytest.mark.parametrize("tensor, needle", [
    (_tensor(shape=[3, 3]), "shape must be [n, 2]"),
    (_tensor(shape=[4, 2]), "data has 6 values, shape needs 8"),
    (_tensor(shape=[2, 2]), "data has 6 values, shape needs 4"),
    (_tensor(shape=[6]), "shape must be [n, 2]"),
    (_tensor(shape=[0, 2]), "shape must be [n, 2]"),
    (_tensor([[1.0, 2.0, 3.0]], shape=[1, 2]), "rows of 2 values"),
    (_tensor(datatype="FP16"), "datatype must be FP32 or FP64"),
    (_tensor(datatype="INT32"), "datatype must be FP32 or FP64"),
    (_tensor(["a", "b"], datatype="BYTES", shape=[1, 2]), "inputs.0.data"),
    (_tensor([[[1.0, 2.0]]], shape=[1, 2]), "inputs.0.data"),
    ({"name": "X", "shape": [1, 2], "datatype": "FP64"}, "no data and no binary_data_size"),
    ({"name": "Y", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}, "exactly one input named 'X'"),
])
def test_input_mismatches_are_400_saying_what(client, tensor, needle):
    assert needle in _error(_infer(client, "/v2/models/moons/infer", {"inputs": [tensor]}), 400)


def test_deep_nesting_is_a_400_not_a_crash(client):
    deep = "[" * 5000 + "]" * 5000
    body = '{"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP64", "data": ' + deep + "}]}"
    _error(_infer(client, "/v2/models/moons/infer", body), 400)


def test_two_inputs_and_no_inputs_are_400(client):
    _error(_infer(client, "/v2/models/moons/infer", {"inputs": [_tensor(), _tensor()]}), 400)
    _error(_infer(client, "/v2/models/moons/infer", {"inputs": []}), 400)


# Outputs: subsets, duplicates, datatypes, id


def test_requested_outputs_subset_and_order(client):
    answer = _infer(client, "/v2/models/moons/infer", outputs=[{"name": "label"}]).get_json()
    assert [o["name"] for o in answer["outputs"]] == ["label"]
    both = _infer(client, "/v2/models/moons/infer", outputs=[{"name": "label"}, {"name": "probability"}])
    assert [o["name"] for o in both.get_json()["outputs"]] == ["label", "probability"]


def test_duplicate_or_unknown_output_names_are_400(client):
    assert "twice" in _error(_infer(client, "/v2/models/moons/infer",
                                    outputs=[{"name": "label"}, {"name": "label"}]), 400)
    assert "unknown output" in _error(_infer(client, "/v2/models/moons/infer", outputs=[{"name": "logits"}]), 400)


def test_outputs_have_the_datatypes_metadata_declares_whatever_the_input(client):
    declared = {o["name"]: o["datatype"] for o in client.get("/v2/models/moons").get_json()["outputs"]}
    for datatype in ("FP32", "FP64"):
        answer = _infer(client, "/v2/models/moons/infer", {"inputs": [_tensor(datatype=datatype)]}).get_json()
        assert {o["name"]: o["datatype"] for o in answer["outputs"]} == declared


def test_the_id_is_echoed_when_sent_and_absent_otherwise(client):
    assert _infer(client, "/v2/models/moons/infer", id="abc-1").get_json()["id"] == "abc-1"
    assert "id" not in _infer(client, "/v2/models/moons/infer").get_json()


# Binary tensors


def test_per_output_binary_data_beats_binary_data_output(client):
    body, headers = _binary(ROWS, {"parameters": {"binary_data_output": True},
                                   "outputs": [{"name": "probability", "parameters": {"binary_data": False}},
                                               {"name": "label"}]})
    header, chunks = _split(_infer(client, "/v2/models/moons/infer", body, headers))
    assert "data" in header["outputs"][0] and list(chunks) == ["label"]
    body, headers = _binary(ROWS, {"parameters": {"binary_data_output": False},
                                   "outputs": [{"name": "probability", "parameters": {"binary_data": True}},
                                               {"name": "label"}]})
    header, chunks = _split(_infer(client, "/v2/models/moons/infer", body, headers))
    assert list(chunks) == ["probability"] and "data" in header["outputs"][1]
    assert np.frombuffer(chunks["probability"], "<f8").tolist() == _infer(
        client, "/v2/models/moons/infer").get_json()["outputs"][0]["data"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "99999"])
def test_a_bad_inference_header_content_length_is_400(client, value):
    body, _ = _binary(ROWS, {})
    assert "Inference-Header-Content-Length" in _error(
        _infer(client, "/v2/models/moons/infer", body, {"Inference-Header-Content-Length": value}), 400)


def test_binary_data_size_must_match_the_bytes_and_the_shape(client):
    body, headers = _binary(ROWS, {})
    _error(_infer(client, "/v2/models/moons/infer", body + b"\0" * 8, headers), 400)
    _error(_infer(client, "/v2/models/moons/infer", body[:-8], headers), 400)


# Classification


def test_classification_answers_score_index_strings_best_first(client, trained_layers):
    probability = numpy_probabilities(trained_layers, ROWS)
    answer = _infer(client, "/v2/models/moons/infer",
                    outputs=[{"name": "probability", "parameters": {"classification": 2}}]).get_json()
    output = answer["outputs"][0]
    assert output["datatype"] == "BYTES" and output["shape"] == [3, 2]
    pairs = [item.split(":") for item in output["data"]]
    for row, p in enumerate(probability):
        top, second = pairs[2 * row], pairs[2 * row + 1]
        assert top[1] == ("1" if p >= 0.5 else "0") and {top[1], second[1]} == {"0", "1"}
        assert float(top[0]) == pytest.approx(max(p, 1 - p), abs=1e-6) and float(top[0]) >= float(second[0])
    one = _infer(client, "/v2/models/moons/infer",
                 outputs=[{"name": "probability", "parameters": {"classification": 1}}, {"name": "label"}]).get_json()
    assert one["outputs"][0]["shape"] == [3, 1]
    assert [int(item.split(":")[1]) for item in one["outputs"][0]["data"]] == one["outputs"][1]["data"]


def test_classification_in_binary_is_length_prefixed_bytes(client):
    body, headers = _binary(ROWS, {"outputs": [{"name": "probability",
                                                "parameters": {"classification": 1, "binary_data": True}}]})
    header, chunks = _split(_infer(client, "/v2/models/moons/infer", body, headers))
    raw, items = chunks["probability"], []
    while raw:
        size = int.from_bytes(raw[:4], "little")
        items.append(raw[4:4 + size].decode())
        raw = raw[4 + size:]
    plain = _infer(client, "/v2/models/moons/infer",
                   outputs=[{"name": "probability", "parameters": {"classification": 1}}]).get_json()
    assert items == plain["outputs"][0]["data"] and header["outputs"][0]["datatype"] == "BYTES"


@pytest.mark.parametrize("output", [{"name": "probability", "parameters": {"classification": 3}},
                                    {"name": "probability", "parameters": {"classification": "2"}},
                                    {"name": "label", "parameters": {"classification": 1}}])
def test_bad_classification_requests_are_400(client, output):
    _error(_infer(client, "/v2/models/moons/infer", outputs=[output]), 400)


# Repository extension


def test_repository_index_lists_every_model_and_version_with_state_and_reason(client, two_models, trained_layers):
    write_version(two_models, trained_layers, name="other", accuracy=0.5)  # other 3: rejected by the gate
    (two_models / "moons" / "2.npz").write_bytes(b"not a model")
    client.application.extensions["moonserve"].repository.refresh()
    index = client.post("/v2/repository/index").get_json()
    by_key = {(entry["name"], entry["version"]): entry for entry in index}
    assert set(by_key) == {("moons", "1"), ("moons", "2"), ("other", "1"), ("other", "2"), ("other", "3")}
    assert by_key["moons", "1"] == {"name": "moons", "version": "1", "state": "READY", "reason": ""}
    assert by_key["moons", "2"]["state"] == "UNAVAILABLE" and "2.npz" in by_key["moons", "2"]["reason"]
    assert by_key["other", "3"]["state"] == "UNAVAILABLE" and "MIN_ACCURACY" in by_key["other", "3"]["reason"]
    ready = client.post("/v2/repository/index", data='{"ready": true}').get_json()
    assert {(e["name"], e["version"]) for e in ready} == {("moons", "1"), ("other", "1"), ("other", "2")}
    _error(client.post("/v2/repository/index", data='{"ready": "yes"}'), 400)
    _error(client.post("/v2/repository/index", data="[1"), 400)


@pytest.mark.parametrize("action", ["load", "unload"])
def test_load_and_unload_say_models_are_managed_through_the_folder(client, action):
    assert "models folder" in _error(client.post(f"/v2/repository/models/moons/{action}"), 400)


# Statistics extension


def test_statistics_count_successes_failures_and_rows_per_version(client):
    for _ in range(3):
        _infer(client, "/v2/models/other/infer")
    _infer(client, "/v2/models/other/versions/1/infer")
    _error(_infer(client, "/v2/models/other/infer", {"inputs": [_tensor(shape=[9, 2])]}), 400)
    stats = client.get("/v2/models/other/stats").get_json()["model_stats"]
    assert [(s["name"], s["version"]) for s in stats] == [("other", "1"), ("other", "2")]
    latest = stats[1]
    assert latest["inference_count"] == 9 and latest["execution_count"] == 3
    figures = latest["inference_stats"]
    assert figures["success"]["count"] == 3 and figures["fail"]["count"] == 1
    for stage in ("compute_input", "compute_infer", "compute_output"):
        assert figures[stage]["count"] == 3 and figures[stage]["ns"] > 0
    assert figures["success"]["ns"] > sum(figures[stage]["ns"] for stage in ("compute_input", "compute_infer"))
    assert latest["last_inference"] > 1.7e12  # milliseconds since the epoch
    assert client.get("/v2/models/other/versions/1/stats").get_json()["model_stats"][0]["execution_count"] == 1
    assert client.get("/v2/models/moons/stats").get_json()["model_stats"][0]["execution_count"] == 0

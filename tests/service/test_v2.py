"""The Open Inference Protocol (V2): the contract through Flask's test client, and the
official Triton HTTP client against a real gunicorn."""

import json

import numpy as np
import pytest

from tests.service.conftest import numpy_probabilities

ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5]]


def _infer_body(rows=ROWS, datatype="FP64", shape=None, **extra):
    tensor = {"name": "X", "shape": shape or [len(rows), 2], "datatype": datatype, "data": rows}
    return json.dumps({"inputs": [tensor], **extra})


def _binary_body(rows, datatype="FP32", size=None, header_extra=None, outputs=None):
    raw = np.asarray(rows, dtype="<f4" if datatype == "FP32" else "<f8").tobytes()
    header = {"inputs": [{"name": "X", "shape": [len(rows), 2], "datatype": datatype,
                          "parameters": {"binary_data_size": len(raw) if size is None else size}}],
              **(header_extra or {})}
    if outputs is not None:
        header["outputs"] = outputs
    encoded = json.dumps(header).encode()
    return encoded + raw, {"Inference-Header-Content-Length": str(len(encoded))}


def test_server_and_model_metadata(client):
    assert client.get("/v2").get_json() == {"name": "moonserve", "version": "0.1.0", "extensions": [
        "binary_tensor_data", "model_configuration", "model_repository", "statistics", "classification"]}
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    metadata = client.get("/v2/models/moons").get_json()
    assert metadata["versions"] == ["1"] and metadata["inputs"][0] == {"name": "X", "datatype": "FP64", "shape": [-1, 2]}
    assert [o["name"] for o in metadata["outputs"]] == ["probability", "label"]
    assert client.get("/v2/models/moons/versions/1").get_json()["versions"] == ["1"]
    assert client.get("/v2/models/moons/ready").status_code == 200
    assert client.get("/v2/models/moons/versions/1/ready").status_code == 200
    config = client.get("/v2/models/moons/config").get_json()
    assert config["max_batch_size"] == 10000 and config["input"][0]["dims"] == [2]


def test_json_inference_matches_predict_nested_and_flat(client, trained_layers):
    nested = client.post("/v2/models/moons/infer", data=_infer_body(id="req-7")).get_json()
    flat_rows = [value for row in ROWS for value in row]
    flat = client.post("/v2/models/moons/versions/1/infer", data=_infer_body(flat_rows, shape=[3, 2])).get_json()
    assert nested["id"] == "req-7" and nested["model_name"] == "moons" and nested["model_version"] == "1"
    outputs = {o["name"]: o for o in nested["outputs"]}
    assert outputs["probability"]["shape"] == [3, 1] and outputs["label"]["datatype"] == "INT64"
    expected = numpy_probabilities(trained_layers, ROWS)
    np.testing.assert_allclose(outputs["probability"]["data"], expected, rtol=1e-12)
    assert outputs["label"]["data"] == [int(p >= 0.5) for p in expected]
    assert flat["outputs"] == nested["outputs"]
    predict = client.post("/predict", json={"instances": ROWS}).get_json()["predictions"]
    assert [p["probability"] for p in predict] == outputs["probability"]["data"]


def test_binary_inference_in_and_out(client, trained_layers):
    body, headers = _binary_body(ROWS, header_extra={"parameters": {"binary_data_output": True}})
    response = client.post("/v2/models/moons/infer", data=body, headers=headers)
    assert response.status_code == 200
    length = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.data[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert [o["datatype"] for o in header["outputs"]] == ["FP64", "INT64"]  # as metadata declares, FP32 input or not
    probability = np.frombuffer(response.data[length:length + sizes[0]], dtype="<f8")
    labels = np.frombuffer(response.data[length + sizes[0]:], dtype="<i8")
    expected = numpy_probabilities(trained_layers, np.asarray(ROWS, dtype=np.float32).astype(np.float64))
    np.testing.assert_allclose(probability, expected, rtol=1e-12)
    assert labels.tolist() == [int(p >= 0.5) for p in expected]


def test_only_the_requested_outputs_come_back(client):
    body, headers = _binary_body(ROWS, outputs=[{"name": "label", "parameters": {"binary_data": False}}])
    response = client.post("/v2/models/moons/infer", data=body, headers=headers)
    assert "Inference-Header-Content-Length" not in response.headers
    assert [o["name"] for o in response.get_json()["outputs"]] == ["label"]


@pytest.mark.parametrize(
    "body, message",
    [
        (_infer_body(shape=[4, 2]), "data has 6 values, shape needs 8"),
        (_infer_body(shape=[3]), "shape must be [n, 2]"),
        (_infer_body(shape=[3, 3]), "shape must be [n, 2]"),
        (_infer_body(datatype="INT32"), "datatype must be FP32 or FP64"),
        (_infer_body(datatype="BYTES"), "datatype must be FP32 or FP64"),
        (_infer_body(rows=[[1, 2], [3]]), "rows of 2 values"),
        (_infer_body(rows=[["a", 2]]), "invalid inference request at inputs.0.data"),
        (_infer_body(rows=[[True, 2]]), "invalid inference request at inputs.0.data"),
        (_infer_body(rows=[[1e39, 2]], datatype="FP32"), "too large for FP32"),
        (json.dumps({"inputs": [{"name": "Y", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}), "named 'X'"),
        (json.dumps({"inputs": []}), "inputs"),
        (json.dumps({"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP64"}]}), "no data"),
        (_infer_body(outputs=[{"name": "logits"}]), "unknown output 'logits'"),
        ("{not json", "invalid inference request"),
        ("", "invalid inference request"),
    ],
)
def test_bad_json_requests_are_400_with_the_reason(client, body, message):
    response = client.post("/v2/models/moons/infer", data=body)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"} and message in response.get_json()["error"]


@pytest.mark.parametrize(
    "header, size, cut, message",
    [
        ("abc", None, 0, "Inference-Header-Content-Length must be"),
        ("0", None, 0, "Inference-Header-Content-Length must be"),
        ("999999", None, 0, "Inference-Header-Content-Length must be"),
        (None, 100, 0, "binary_data_size 100 does not match"),
        (None, None, 4, "does not match the 20 bytes"),
        (None, 20, 4, "20 bytes of binary data, shape needs 24"),
    ],
)
def test_binary_bodies_whose_sizes_lie_are_400(client, header, size, cut, message):
    body, headers = _binary_body(ROWS, size=size)
    if cut:
        body = body[:-cut]
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
    response = client.post("/v2/models/moons/infer", data=body, headers=headers)
    assert response.status_code == 400 and message in response.get_json()["error"]


def test_non_finite_binary_values_and_stray_bytes_are_400(client):
    body, headers = _binary_body([[np.nan, 1.0]])
    assert "not finite" in client.post("/v2/models/moons/infer", data=body, headers=headers).get_json()["error"]
    plain = _infer_body().encode()
    response = client.post("/v2/models/moons/infer", data=plain + b"xx",
                           headers={"Inference-Header-Content-Length": str(len(plain))})
    assert response.status_code == 400 and "no input has binary_data_size" in response.get_json()["error"]


def test_unknown_models_versions_and_paths(client):
    assert client.get("/v2/models/other").status_code == 404
    assert client.get("/v2/models/moons/versions/9").status_code == 404
    assert client.get("/v2/models/moons/versions/x/ready").status_code == 404  # a label, and none is set
    assert client.get("/v2/models/moons/versions/X%201/ready").status_code == 400
    assert client.post("/v2/models/moons/versions/9/infer", data=_infer_body()).status_code == 404
    response = client.get("/v2/models/moons/infer")
    assert response.status_code == 405 and set(response.get_json()) == {"error"}
    assert client.post("/v2/models/moons/infer", data=_infer_body(), headers={"Content-Encoding": "gzip"}).status_code == 400


def test_not_ready_without_a_model(tmp_path):
    from service.app import create_app
    from service.settings import Settings

    client = create_app(Settings(models_dir=tmp_path / "none", access_log_flush_s=0), start_reloader=False).test_client()
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 400 and ready.get_json() == {"ready": False}  # a 4xx: the protocol's false
    assert client.get("/v2/models/moons/ready").get_json() == {"name": "moons", "ready": False}
    assert client.get("/v2/health/live").status_code == 200
    response = client.post("/v2/models/moons/infer", data=_infer_body())
    assert response.status_code == 503 and "no model versions" in response.get_json()["error"]


def test_v2_requests_are_counted(client):
    client.post("/v2/models/moons/infer", data=_infer_body())
    text = client.get("/metrics").get_data(as_text=True)
    assert ('moonserve_requests_total{endpoint="/v2/models/<model_name>/infer",method="POST",route="stable",'
            'status="200"} 1.0') in text
    assert 'moonserve_predictions_total{label="0",model="moons",model_version="1",route="stable"}' in text

"""Triton's own Python HTTP client against the real service under gunicorn."""

import numpy as np
import pytest
import requests

from tests.service.gunicorn_server import running_service

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a test dependency")


@pytest.fixture
def server(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, reload_interval_s=0) as running:
        yield running


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_triton_client_metadata_and_inference_match_predict(server, binary, datatype):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("moons")
        assert client.get_server_metadata()["name"] == "moonserve"
        assert client.get_model_metadata("moons")["inputs"][0]["shape"] == [-1, 2]
        rows = np.random.default_rng(3).normal(size=(257, 2)).astype(np.float32 if datatype == "FP32" else np.float64)
        tensor = httpclient.InferInput("X", list(rows.shape), datatype)
        tensor.set_data_from_numpy(rows, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ("probability", "label")]
        result = client.infer("moons", [tensor], outputs=outputs, request_id="t-1")
        predict = requests.post(server.url + "/predict", json={"instances": rows.astype(np.float64).tolist()},
                                timeout=10).json()["predictions"]
        expected = np.array([p["probability"] for p in predict])
        got = result.as_numpy("probability").reshape(-1)
        if datatype == "FP64":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected.astype(np.float32), rtol=1e-6)
        assert result.as_numpy("label").reshape(-1).tolist() == [p["label"] for p in predict]
        assert result.get_response()["id"] == "t-1"
    finally:
        client.close()

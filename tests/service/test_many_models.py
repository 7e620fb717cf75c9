"""Two models on disk, served by a real gunicorn with two workers: every protocol per
model, metrics and statistics summed over workers, a model folder appearing, and a
version swap of one model under load on both, with no failed request."""

import json
import shutil
import time

import numpy as np
import pytest
import requests

from tests.conftest import write_version
from tests.service.conftest import flipped, numpy_probabilities
from tests.service.gunicorn_server import BackgroundThreads, running_service, wait_until
from tests.service.test_gunicorn import metric, scrape

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a test dependency")
from tritonclient.utils import InferenceServerException  # noqa: E402

ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5]]


@pytest.fixture
def server(tmp_path, two_models):
    with running_service(tmp_path, two_models, reload_interval_s=0.5) as running:
        yield running


def _v2(server, name, rows=ROWS, version=None):
    path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
    body = {"inputs": [{"name": "X", "shape": [len(rows), 2], "datatype": "FP64", "data": rows}]}
    return requests.post(server.url + path, data=json.dumps(body), timeout=10)


def test_every_protocol_serves_each_model_its_own_numbers(server, trained_layers):
    moons, other = numpy_probabilities(trained_layers, ROWS), numpy_probabilities(flipped(trained_layers), ROWS)
    predict = requests.post(server.url + "/predict", json={"instances": ROWS}, timeout=10).json()
    assert predict["model"] == {"name": "moons", "version": 1}
    np.testing.assert_allclose([p["probability"] for p in predict["predictions"]], moons, rtol=1e-12)
    for name, expected in (("moons", moons), ("other", other)):
        v1 = requests.post(f"{server.url}/v1/models/{name}:predict", json={"instances": ROWS}, timeout=10).json()
        v2 = {o["name"]: o["data"] for o in _v2(server, name).json()["outputs"]}
        assert [p["probability"] for p in v1["predictions"]] == v2["probability"]
        np.testing.assert_allclose(v2["probability"], expected, rtol=1e-12)
    listing = requests.get(server.url + "/models", timeout=5).json()["models"]
    assert [(m["name"], m["served_version"]) for m in listing] == [("moons", 1), ("other", 2)]
    health = requests.get(server.url + "/health", timeout=5).json()
    assert [(m["name"], m["ready"], m["version"]) for m in health["models"]] == [("moons", True, 1),
                                                                                ("other", True, 2)]


def test_metrics_have_a_model_label_and_statistics_sum_over_workers(server):
    for _ in range(20):
        assert _v2(server, "other").status_code == 200
        assert _v2(server, "moons", rows=ROWS[:1]).status_code == 200
    assert _v2(server, "other", rows=[[1.0]]).status_code == 400  # reached the model, then failed

    def stats():
        return requests.get(server.url + "/v2/models/other/versions/2/stats", timeout=5).json()["model_stats"][0]

    summed = wait_until(lambda: (s := stats())["execution_count"] == 20 and s["inference_stats"]["fail"]["count"] == 1
                        and s, timeout=5)
    assert summed, stats()
    assert summed["inference_count"] == 60
    samples = scrape(server)
    assert metric(samples, "moonserve_predictions_total", model="other", model_version="2") == 60
    assert metric(samples, "moonserve_predictions_total", model="moons", model_version="1") == 20
    assert metric(samples, "moonserve_model_loads_total", model="other", result="success") == 2 * 2  # 2 per worker
    assert metric(samples, "moonserve_model_version", model="other") == 2
    assert metric(samples, "moonserve_inference_requests_total", model="other", model_version="2",
                  result="success") == 20


def test_a_model_folder_that_appears_is_served_and_one_that_goes_is_not(server, two_models, trained_layers):
    write_version(two_models, trained_layers, name="later")
    assert wait_until(lambda: _v2(server, "later").status_code == 200 and _v2(server, "later").status_code == 200,
                      timeout=10)
    shutil.rmtree(two_models / "later")
    assert wait_until(lambda: all(_v2(server, "later").status_code == 404 for _ in range(4)), timeout=10)
    (two_models / "Bad Name").mkdir()
    time.sleep(1.5)
    assert server.log().count('"message":"model folder ignored"') == 2  # once per worker
    assert _v2(server, "moons").status_code == 200


class TwoModelLoad(BackgroundThreads):
    """Threads sending V2 inferences to each model in turn, new connection each time."""

    def __init__(self, server):
        super().__init__(4)
        self.server, self.results = server, []

    def _run(self):
        while not self.stop.is_set():
            for name in ("moons", "other"):
                try:
                    response = _v2(self.server, name, ROWS[:1])
                    self.results.append((name, response.status_code, response.json().get("model_version")))
                except (requests.RequestException, ValueError) as error:
                    self.results.append((name, type(error).__name__, None))


def test_a_new_version_of_one_model_swaps_under_load_without_a_failed_request(server, two_models, trained_layers):
    with TwoModelLoad(server) as load:
        time.sleep(0.5)
        write_version(two_models, trained_layers, name="other", accuracy=0.95)  # other 3
        (two_models / "moons" / "2.npz").write_bytes(b"not a model")  # refused, moons keeps 1
        assert wait_until(lambda: all(_v2(server, "other").json()["model_version"] == "3" for _ in range(4)),
                          timeout=10)
        time.sleep(0.5)
    failures = [result for result in load.results if result[1] != 200]
    assert failures == [] and len(load.results) > 50
    assert {version for name, _, version in load.results if name == "moons"} == {"1"}
    assert {version for name, _, version in load.results if name == "other"} == {"2", "3"}


def test_tritonclient_every_call_on_the_second_model(server, trained_layers):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("other") and client.is_model_ready("other", "1")
        assert not client.is_model_ready("nope")
        assert set(client.get_server_metadata()["extensions"]) >= {"statistics", "model_repository"}
        assert client.get_model_metadata("other")["versions"] == ["2", "1"]
        assert client.get_model_metadata("other", "1")["versions"] == ["1"]
        assert client.get_model_config("other")["input"][0]["dims"] == [2]
        assert client.get_model_config("other", "1") == client.get_model_config("other")
        rows = np.random.default_rng(5).normal(size=(40, 2))
        expected = numpy_probabilities(flipped(trained_layers), rows)
        for binary in (False, True):
            tensor = httpclient.InferInput("X", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            outputs = [httpclient.InferRequestedOutput("probability", binary_data=binary),
                       httpclient.InferRequestedOutput("label", binary_data=binary, class_count=0)]
            result = client.infer("other", [tensor], model_version="1", outputs=outputs)
            np.testing.assert_allclose(result.as_numpy("probability").reshape(-1), expected, rtol=1e-12)
            classes = client.infer("other", [tensor], outputs=[
                httpclient.InferRequestedOutput("probability", binary_data=binary, class_count=1)])
            top = [(item.decode() if isinstance(item, bytes) else item).split(":")[1]
                   for item in classes.as_numpy("probability").reshape(-1)]
            assert top == [str(int(p >= 0.5)) for p in expected]
        stats = wait_until(lambda: (s := client.get_inference_statistics("other", "1"))["model_stats"][0]
                           ["execution_count"] == 2 and s, timeout=5)
        assert stats and stats["model_stats"][0]["inference_count"] == 80
        index = client.get_model_repository_index()
        assert {(m["name"], m["version"], m["state"]) for m in index} >= {("other", "1", "READY"),
                                                                          ("moons", "1", "READY")}
        with pytest.raises(InferenceServerException, match="models folder"):
            client.load_model("other")
        with pytest.raises(InferenceServerException, match="unknown model"):
            client.get_model_metadata("nope")
    finally:
        client.close()

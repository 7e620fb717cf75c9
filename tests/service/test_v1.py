"""KServe's V1 protocol, TF Serving's REST API, through Flask's test client: both
formats, every URL form, status and metadata, and TF Serving's errors."""

import json

import numpy as np
import pytest

from tests.service.conftest import flipped, numpy_probabilities

ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5]]


@pytest.fixture
def client(make_app, two_models):
    return make_app().test_client()


def _post(client, path, body):
    return client.post(path, data=body if isinstance(body, (str, bytes)) else json.dumps(body))


def test_row_format_answers_one_object_per_instance(client, trained_layers):
    answer = _post(client, "/v1/models/moons:predict", {"instances": ROWS})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    expected = numpy_probabilities(trained_layers, ROWS)
    predictions = answer.get_json()["predictions"]
    assert [set(p) for p in predictions] == [{"label", "probability"}] * 3
    np.testing.assert_allclose([p["probability"] for p in predictions], expected, rtol=1e-12)
    assert [p["label"] for p in predictions] == [int(p >= 0.5) for p in expected]
    named = _post(client, "/v1/models/moons:predict", {"instances": [{"X": row} for row in ROWS],
                                                       "signature_name": "serving_default"})
    assert named.get_json() == answer.get_json()


def test_columnar_format_answers_one_list_per_output(client):
    rows = _post(client, "/v1/models/moons:predict", {"instances": ROWS}).get_json()["predictions"]
    for body in ({"inputs": ROWS}, {"inputs": {"X": ROWS}}):
        outputs = _post(client, "/v1/models/moons:predict", body).get_json()
        assert outputs == {"outputs": {"label": [p["label"] for p in rows],
                                       "probability": [p["probability"] for p in rows]}}


def test_the_same_rows_answer_the_same_numbers_in_every_protocol(client):
    v1 = _post(client, "/v1/models/moons:predict", {"instances": ROWS}).get_json()["predictions"]
    predict = client.post("/predict", json={"instances": ROWS}).get_json()["predictions"]
    assert v1 == predict


def test_versions_and_labels_in_the_url(client, two_models, trained_layers):
    (two_models / "other" / "labels.json").write_text('{"canary": 1}')
    client.application.extensions["moonserve"].repository.refresh()
    other = numpy_probabilities(flipped(trained_layers), ROWS)
    for path in ("/v1/models/other:predict", "/v1/models/other/versions/2:predict",
                 "/v1/models/other/versions/1:predict", "/v1/models/other/labels/canary:predict"):
        answer = _post(client, path, {"instances": ROWS})
        assert answer.status_code == 200, path
        np.testing.assert_allclose([p["probability"] for p in answer.get_json()["predictions"]], other, rtol=1e-12)
    assert _post(client, "/v1/models/other/labels/nope:predict", {"instances": ROWS}).status_code == 404
    assert _post(client, "/v1/models/other/versions/7:predict", {"instances": ROWS}).status_code == 404


def test_model_status_is_tf_servings(client, two_models):
    (two_models / "other" / "3.npz").write_bytes(b"not a model")
    client.application.extensions["moonserve"].repository.refresh()
    status = client.get("/v1/models/other").get_json()["model_version_status"]
    assert status[1:] == [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
    assert status[0]["version"] == "3" and status[0]["state"] == "END"
    assert status[0]["status"]["error_code"] == "INVALID_ARGUMENT" and "3.npz" in status[0]["status"]["error_message"]
    assert client.get("/v1/models/other/versions/1").get_json()["model_version_status"] == status[2:]
    assert client.get("/v1/models").get_json() == {"models": ["moons", "other"]}


def test_metadata_is_the_signature(client):
    metadata = client.get("/v1/models/other/versions/1/metadata").get_json()
    assert metadata["model_spec"] == {"name": "other", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["X"]["dtype"] == "DT_DOUBLE"
    assert [d["size"] for d in signature["inputs"]["X"]["tensor_shape"]["dim"]] == ["-1", "2"]
    assert {name: info["dtype"] for name, info in signature["outputs"].items()} == {
        "probability": "DT_DOUBLE", "label": "DT_INT64"}
    assert client.get("/v1/models/other/metadata").get_json()["model_spec"]["version"] == "2"


@pytest.mark.parametrize("body, needle", [
    ("", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({}, "exactly one of"),
    ({"instances": ROWS, "inputs": ROWS}, "exactly one of"),
    ({"instances": []}, "1 to 10000 rows"),
    ({"instances": [[1.0]]}, "instances[0] must be [x1, x2]"),
    ({"instances": [[1.0, "2"]]}, "instances[0][1] must be a finite number"),
    ({"instances": [[1.0, True]]}, "instances[0][1] must be a finite number"),
    ('{"instances": [[1.0, NaN]]}', "not valid JSON"),
    ({"instances": [{"Y": [1, 2]}]}, "instances[0] must name the one input 'X'"),
    ({"inputs": {"X": ROWS, "Y": ROWS}}, "inputs must name the one input"),
    ({"instances": ROWS, "signature_name": "other"}, "not found in signature def"),
    ({"instances": ROWS, "extra": 1}, "unknown key 'extra'"),
    ({"instances": [[1, 2]] * 10001}, "1 to 10000 rows"),
])
def test_bad_requests_are_400_with_tf_servings_error_body(client, body, needle):
    answer = _post(client, "/v1/models/moons:predict", body)
    assert answer.status_code == 400 and set(answer.get_json()) == {"error"}
    assert needle in answer.get_json()["error"] and len(answer.get_json()["error"]) < 400


@pytest.mark.parametrize("path, status", [
    ("/v1/models/nope:predict", 404), ("/v1/models/moons/versions/x:predict", 400),
    ("/v1/models/moons/labels/UPPER:predict", 400), ("/v1/models/moons:classify", 400), ("/v1/models/moons/versions/1:regress", 400)])
def test_unknown_models_versions_and_verbs_answer_an_error_body(client, path, status):
    answer = _post(client, path, {"instances": ROWS})
    assert answer.status_code == status and set(answer.get_json()) == {"error"}


def test_v1_requests_are_counted_per_model(client):
    _post(client, "/v1/models/other:predict", {"instances": ROWS})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'moonserve_predictions_total{label="1",model="other",model_version="2",route="stable"}' in text
    assert ('moonserve_requests_total{endpoint="/v1/models/<name>:predict",method="POST",route="stable",'
            'status="200"} 1.0') in text


def test_with_model_names_health_waits_for_every_listed_model(make_app, two_models):
    client = make_app(model_names=("other", "absent")).test_client()
    health = client.get("/health")
    assert health.status_code == 503
    details = health.get_json()["error"]["details"]
    assert [(d["loc"], d["type"]) for d in details] == [("models.absent", "not_ready")]
    assert "no model versions" in details[0]["msg"]
    assert client.get("/v2/health/ready").get_json() == {"ready": False}
    assert client.get("/v1/models").get_json() == {"models": ["moons", "other", "absent"]}
    served = make_app(model_names=("other",)).test_client()
    health = served.get("/health").get_json()
    assert [(m["name"], m["ready"]) for m in health["models"]] == [("moons", True), ("other", True)]


def test_a_get_on_a_method_url_is_a_405_not_a_model_named_after_it(client):
    response = client.get("/v1/models/moons:predict")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert "GET" not in response.headers["Allow"] and "error" in response.get_json()

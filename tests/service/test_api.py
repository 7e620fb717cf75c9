"""The HTTP contract, through Flask's test client."""

import json
import os
import re

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import numpy_probabilities, write_version


@pytest.mark.parametrize("count", [1, 24, 25, 40])  # up to 24 rows in Python floats, more with NumPy
def test_predict_matches_numpy_forward_pass(client, trained_layers, count):
    rows = ([[0.5, -0.4], [1e6, -1e6], [-1.0, 0.5], [2, 0]] + np.random.default_rng(5).normal(size=(36, 2)).tolist())[:count]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["model"] == {"name": "moons", "version": 1}
    expected = numpy_probabilities(trained_layers, rows)
    got = np.array([p["probability"] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert [p["label"] for p in body["predictions"]] == [int(p >= 0.5) for p in expected]


def test_integers_are_numbers_and_the_batch_cap_is_inclusive(make_app):
    client = make_app(max_batch=3).test_client()
    assert client.post("/predict", json={"instances": [[1, 2]] * 3}).status_code == 200
    response = client.post("/predict", json={"instances": [[1, 2]] * 4})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["loc"] == "body.instances"


def _error(response, status, code):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"instances": [[1, 2], [3]]}, "body.instances.1.1"),
        ({"instances": [[1, 2, 3]]}, "body.instances.0"),
        ({"instances": [["1", 2]]}, "body.instances.0.0"),
        ({"instances": [[True, 2]]}, "body.instances.0.0"),
        ({"instances": [[None, 2]]}, "body.instances.0.0"),
        ({"instances": [[1, {"a": 1}]]}, "body.instances.0.1"),
        ({"instances": []}, "body.instances"),
        ({"instances": "many"}, "body.instances"),
        ({"instances": [1, 2]}, "body.instances.0"),
        ({}, "body.instances"),
        ({"instances": [[1, 2]], "extra": 1}, "body.extra"),
        ({"instances": [[1, 2]], "version": "1"}, "body.version"),
        ({"instances": [[1, 2]], "version": 0}, "body.version"),
        ([[1, 2]], "body"),
    ],
)
def test_schema_problems_are_422_with_the_field_path(client, body, loc):
    error = _error(client.post("/predict", json=body), 422, "validation_error")
    assert loc in [detail["loc"] for detail in error["details"]]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(client, literal):
    body = '{"instances": [[0.5, %s]]}' % literal
    error = _error(client.post("/predict", data=body, content_type="application/json"), 422, "validation_error")
    assert error["details"][0]["loc"] == "body.instances.0.1"
    assert error["details"][0]["type"] == "finite_number"


@pytest.mark.parametrize("body", [b"{", b"", b"   ", b'{"instances": [[1, 2]]', b"\xff\xfe", b"nul\x00"])
def test_malformed_json_is_400(client, body):
    _error(client.post("/predict", data=body, content_type="application/json"), 400, "malformed_json")


def test_deeply_nested_json_is_a_client_error(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code in (400, 422)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_wrong_content_type_is_415(client, content_type):
    response = client.post("/predict", data=json.dumps({"instances": [[1, 2]]}), content_type=content_type)
    _error(response, 415, "unsupported_media_type")


def test_content_type_parameters_are_fine(client):
    response = client.post("/predict", data='{"instances": [[1, 2]]}', content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_oversized_body_is_413_before_parsing(make_app):
    client = make_app(max_body_bytes=2048).test_client()
    body = b'{"instances": [' + b"[1.0, 2.0]," * 400 + b"[1.0, 2.0]]}"
    _error(client.post("/predict", data=body, content_type="application/json"), 413, "body_too_large")


def test_versions_by_query_and_body(client, models_dir, trained_layers, app):
    flipped = [(w, b) for w, b in trained_layers[:-1]] + [(-trained_layers[-1][0], -trained_layers[-1][1])]
    write_version(models_dir, flipped, accuracy=0.95)  # recorded as passing: the gate is tested on its own
    app.extensions["moonserve"].repository.refresh()
    rows = {"instances": [[0.5, -0.4]]}
    newest = client.post("/predict", json=rows).get_json()
    first = client.post("/predict?version=1", json=rows).get_json()
    in_body = client.post("/predict", json={**rows, "version": 1}).get_json()
    assert newest["model"]["version"] == 2 and first["model"]["version"] == 1 and in_body == first
    assert newest["predictions"][0]["label"] != first["predictions"][0]["label"]
    _error(client.post("/predict?version=7", json=rows), 404, "version_not_found")
    _error(client.post("/predict?version=abc", json=rows), 404, "version_not_found")  # a label, not set
    _error(client.post("/predict?version=A-1", json=rows), 422, "validation_error")
    _error(client.post("/predict?version=-1", json=rows), 422, "validation_error")
    assert client.post("/predict?version=2", json={**rows, "version": 1}).get_json()["model"]["version"] == 2


def test_no_model_is_503_on_predict_and_health(tmp_path):
    from service.app import create_app
    from service.settings import Settings

    client = create_app(Settings(models_dir=tmp_path / "empty", access_log_flush_s=0), start_reloader=False).test_client()
    assert "no model versions in" in _error(client.get("/health"), 503, "no_model_loaded")["message"]
    _error(client.post("/predict", json={"instances": [[1, 2]]}), 503, "no_model_loaded")
    assert client.get("/health/live").status_code == 200


def test_pinned_version_that_is_absent_says_so(make_app):
    client = make_app(model_version=5).test_client()
    assert "pinned version 5 is not in" in _error(client.get("/health"), 503, "no_model_loaded")["message"]


def test_health_reports_the_served_model(client):
    body = client.get("/health").get_json()
    assert body["status"] == "ready" and body["model"] == {"name": "moons", "version": 1}
    assert body["loaded_at"].endswith("+00:00") and body["uptime_s"] >= 0


def test_unknown_path_and_wrong_method(client):
    _error(client.get("/nope"), 404, "not_found")
    _error(client.get("/models/abc"), 404, "model_not_found")
    _error(client.get("/models/moons/1/extra"), 404, "not_found")
    response = client.get("/predict")
    _error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    _error(client.put("/health"), 405, "method_not_allowed")


def test_models_listing_and_plot(client, models_dir, app, make_app, trained_layers):
    (models_dir / "moons" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (models_dir / "moons" / "2.npz").write_bytes(b"not a model")
    app.extensions["moonserve"].repository.refresh()
    everything = client.get("/models").get_json()
    listing = client.get("/models/moons").get_json()
    assert everything == {"models": [listing]}
    assert listing["name"] == "moons" and listing["served_version"] == 1 and listing["pinned_version"] is None
    by_version = {entry["version"]: entry for entry in listing["versions"]}
    assert by_version[1]["status"] == "served" and by_version[1]["has_plot"] is True
    assert by_version[1]["metadata"]["layer_sizes"] == [2, 3, 1]
    assert by_version[2]["status"] == "refused" and "2.npz" in by_version[2]["reason"]
    assert client.get("/models/1").get_json() == client.get("/models/moons/1").get_json()  # the old URL
    assert client.get("/models/1").get_json()["metadata"]["version"] == 1
    keep_one = make_app(keep_versions=1)
    write_version(models_dir, trained_layers)
    keep_one.extensions["moonserve"].repository.refresh()  # serves 3; 1 stays valid on disk, not loaded
    old_app_entries = {e["version"]: e for e in keep_one.test_client().get("/models/moons").get_json()["versions"]}
    assert old_app_entries[1]["status"] == "on_disk" and old_app_entries[1]["metadata"]["version"] == 1
    plot = client.get("/models/1/plot.png")
    assert plot.status_code == 200 and plot.mimetype == "image/png" and plot.data.startswith(b"\x89PNG")
    plot.close()
    _error(client.get("/models/2/plot.png"), 404, "version_not_found")
    _error(client.get("/models/99"), 404, "version_not_found")
    _error(client.get("/models/99/plot.png"), 404, "version_not_found")


def test_request_id_is_echoed_or_made(client):
    assert client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/health/live", headers={"X-Request-ID": "bad id;"}).headers["X-Request-ID"]
    assert len(made) == 32 and made != "bad id;"
    assert client.get("/nope").headers["X-Request-ID"]


def test_made_request_ids_differ_between_forked_workers():
    """gunicorn forks its workers from one master: ids made in a child after the fork
    must not repeat the parent's (the random module reseeds itself in a child)."""
    from service.telemetry.observability import new_request_id

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, " ".join(new_request_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write_end)
    theirs = b""
    while chunk := os.read(read_end, 65536):
        theirs += chunk
    os.waitpid(child, 0)
    os.close(read_end)
    mine = {new_request_id() for _ in range(100)}
    theirs = set(theirs.decode().split())
    assert len(mine) == len(theirs) == 100 and not mine & theirs
    assert all(re.fullmatch(r"[0-9a-f]{32}", made) for made in mine | theirs)


def test_logs_are_one_json_object_per_request(client, capfd):
    client.post("/predict", json={"instances": [[1, 2]]}, headers={"X-Request-ID": "trace-1"})
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    entry = [line for line in lines if line.get("request_id") == "trace-1"][0]
    assert entry["method"] == "POST" and entry["path"] == "/predict" and entry["status"] == 200
    assert entry["model_version"] == 1 and entry["duration_ms"] >= 0


def _samples(client):
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_predictions_and_rows(client):
    for _ in range(3):
        client.post("/predict", json={"instances": [[0.5, -0.4], [0.0, 1.0]]})
    client.post("/predict", json={"instances": []})
    samples = _samples(client)
    from tests.service.test_gunicorn import metric

    assert metric(samples, "moonserve_requests_total", endpoint="/predict", method="POST", status="200",
                  route="stable") == 3
    assert metric(samples, "moonserve_requests_total", endpoint="/predict", method="POST", status="422",
                  route="none") == 1  # refused before a model was chosen
    assert metric(samples, "moonserve_predictions_total", model="moons", model_version="1", label="1",
                  route="stable") == 3
    assert metric(samples, "moonserve_predictions_total", model="moons", model_version="1", label="0") == 3
    assert metric(samples, "moonserve_prediction_request_rows_count") == 3
    assert metric(samples, "moonserve_prediction_request_rows_sum") == 6
    assert metric(samples, "moonserve_request_duration_seconds_count", endpoint="/predict") == 4
    assert metric(samples, "moonserve_model_loads_total", model="moons", result="success") == 1
    assert metric(samples, "moonserve_model_info", model="moons", version="1") == 1
    assert metric(samples, "moonserve_model_version", model="moons") == 1
    assert metric(samples, "moonserve_requests_in_progress") == 1  # the scrape itself


def test_openapi_document_describes_the_schemas(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    request_schema = document["components"]["schemas"]["PredictRequest"]
    assert request_schema["properties"]["instances"]["maxItems"] == 10000
    assert request_schema["additionalProperties"] is False
    assert set(document["paths"]) >= {"/predict", "/health", "/health/live", "/models", "/models/{name}",
                                      "/models/{name}/{version}", "/metrics", "/openapi.json"}


def test_only_bad_files_boot_an_app_that_says_why_then_serves_the_first_valid_one(tmp_path, trained_layers):
    import zipfile

    folder = tmp_path / "models" / "moons"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "1.npz", "w") as archive:
        archive.writestr("metadata", b"{}")
    app = create_app(Settings(models_dir=tmp_path / "models", reload_interval_s=0, access_log_flush_s=0),
                     start_reloader=False)
    client = app.test_client()
    error = _error(client.get("/health"), 503, "no_model_loaded")
    assert "none of the 1 version file(s)" in error["message"]
    listing = client.get("/models/moons")
    assert listing.status_code == 200 and listing.get_json()["versions"][0]["status"] == "refused"
    assert client.get("/models/1").status_code == 200
    write_version(tmp_path / "models", trained_layers)
    app.extensions["moonserve"].repository.refresh()
    assert client.get("/health").get_json()["model"]["version"] == 2


@pytest.mark.parametrize("kind", ["fifo", "folder", "huge"])
def test_a_plot_that_is_no_picture_is_404_without_blocking(client, models_dir, kind):
    plot = models_dir / "moons" / "1.png"
    plot.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(plot)
    elif kind == "folder":
        plot.mkdir()
    else:
        with open(plot, "wb") as stream:
            stream.truncate(17 * 1024 * 1024)
    _error(client.get("/models/1/plot.png"), 404, "version_not_found")

"""Labels in the service: the stable label picks what is served, any label names a
version in every protocol, the answer says the number, a bad labels file changes
nothing. Flask's test client, and a real gunicorn under load for a label change."""

import json
import os
import time

import requests

from tests.conftest import write_version
from tests.service.gunicorn_server import Load, running_service, wait_until
from tests.service.test_gunicorn import metric, scrape

ROWS = {"instances": [[0.5, -0.4]]}
V2_BODY = json.dumps({"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [0.5, -0.4]}]})


def _labels(models_dir, **labels):
    """Written as the trainer writes it: whole, by a rename (a reload never sees half)."""
    partial = models_dir / "moons" / ".labels.json.partial"
    partial.write_text(json.dumps(labels))
    os.replace(partial, models_dir / "moons" / "labels.json")


def test_stable_is_served_and_every_label_names_its_version(make_app, models_dir, trained_layers):
    for _ in range(2):
        write_version(models_dir, trained_layers)  # 2, 3
    _labels(models_dir, stable=1, canary=2)
    app = make_app()
    client = app.test_client()
    assert client.post("/predict", json=ROWS).get_json()["model"]["version"] == 1
    assert client.get("/health").get_json()["model"]["version"] == 1
    assert client.post("/predict?version=canary", json=ROWS).get_json()["model"]["version"] == 2
    assert client.post("/predict", json={**ROWS, "version": "canary"}).get_json()["model"]["version"] == 2
    assert client.post("/predict?version=3", json=ROWS).get_json()["model"]["version"] == 3
    v2 = client.post("/v2/models/moons/versions/canary/infer", data=V2_BODY).get_json()
    assert v2["model_version"] == "2"
    unknown = client.post("/predict?version=blue", json=ROWS)
    assert unknown.status_code == 404 and "no label 'blue' (labels: canary, stable)" in unknown.get_json()["error"]["message"]


def test_a_stable_label_on_a_rejected_or_missing_version_falls_back_to_the_newest(make_app, models_dir, trained_layers):
    write_version(models_dir, trained_layers, accuracy=0.4)  # 2: rejected
    write_version(models_dir, trained_layers)  # 3
    _labels(models_dir, stable=2)
    client = make_app().test_client()
    assert client.post("/predict", json=ROWS).get_json()["model"]["version"] == 3
    _labels(models_dir, stable=9)
    assert make_app().test_client().post("/predict", json=ROWS).get_json()["model"]["version"] == 3


def test_a_malformed_labels_file_is_refused_and_the_last_good_labels_kept(make_app, models_dir, trained_layers):
    write_version(models_dir, trained_layers)  # 2
    _labels(models_dir, stable=1)
    app = make_app()
    repository = app.extensions["moonserve"].repository
    assert repository.snapshot.default_model.served.version == 1
    (models_dir / "moons" / "labels.json").write_text('{"stable": "one"')
    for _ in range(3):
        repository.refresh()
    snapshot = repository.snapshot.default_model
    assert snapshot.served.version == 1 and snapshot.labels == {"stable": 1}
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'moonserve_model_loads_total{model="moons",result="failure"} 1.0' in text


def test_promote_and_roll_back_under_load_without_a_failed_request(tmp_path, models_dir, trained_layers):
    write_version(models_dir, trained_layers)  # 2
    _labels(models_dir, stable=1)
    with running_service(tmp_path, models_dir, reload_interval_s=0.3) as server:
        with Load(server.url, threads=3) as load:
            time.sleep(0.5)
            _labels(models_dir, stable=2)
            assert wait_until(lambda: load.results and load.results[-1][2] == 2, 10)
            time.sleep(0.8)
            _labels(models_dir, stable=1)
            assert wait_until(lambda: load.results and load.results[-1][2] == 1, 10)
            time.sleep(0.8)
        assert load.failures() == [], load.describe_failures()
        seen = [version for _, _, version in load.results]
        assert seen[0] == 1 and 2 in seen and seen[-1] == 1
        assert metric(scrape(server), "moonserve_model_loads_total", result="failure") == 0


def test_canary_share_and_stickiness_through_gunicorn(tmp_path, models_dir, trained_layers):
    write_version(models_dir, trained_layers)  # 2
    _labels(models_dir, stable=1, canary=2)
    with running_service(tmp_path, models_dir, reload_interval_s=0, canary_percent=20) as server:
        session = requests.Session()
        versions = {}
        for index in range(2000):
            answer = session.post(server.url + "/predict", json=ROWS, headers={"X-Request-ID": f"client-{index}"},
                                  timeout=5)
            assert answer.status_code == 200 and answer.headers["X-Request-ID"] == f"client-{index}"
            versions[index] = answer.json()["model"]["version"]
        share = sum(1 for version in versions.values() if version == 2) / len(versions)
        assert 0.15 <= share <= 0.25, share
        for index in range(0, 2000, 50):  # a retry with the same id gets the same version
            again = session.post(server.url + "/predict", json=ROWS, headers={"X-Request-ID": f"client-{index}"},
                                 timeout=5)
            assert again.json()["model"]["version"] == versions[index]
        named = session.post(server.url + "/predict?version=canary", json=ROWS, timeout=5).json()
        assert named["model"]["version"] == 2
        samples = scrape(server)
        canary_answers = sum(1 for version in versions.values() if version == 2)
        assert metric(samples, "moonserve_requests_total", endpoint="/predict", route="canary") >= canary_answers
        assert metric(samples, "moonserve_requests_total", endpoint="/predict", route="requested") == 1
        assert metric(samples, "moonserve_predictions_total", model_version="2", route="canary") >= canary_answers
        print(f"canary share {share:.3f} of {len(versions)} requests at CANARY_PERCENT=20")


def test_promoting_the_canary_then_dropping_its_label_under_load(tmp_path, models_dir, trained_layers):
    write_version(models_dir, trained_layers)  # 2
    _labels(models_dir, stable=1, canary=2)
    with running_service(tmp_path, models_dir, reload_interval_s=0.3, canary_percent=30) as server:
        with Load(server.url, threads=3) as load:
            time.sleep(1.0)
            _labels(models_dir, stable=2, canary=2)  # promote: label stable 2
            time.sleep(0.3)
            _labels(models_dir, stable=2)  # then label --delete canary
            assert wait_until(lambda: len(load.results) > 20 and all(v == 2 for _, _, v in load.results[-10:]), 10)
            time.sleep(0.8)
        assert load.failures() == [], load.describe_failures()
        early = [version for sent, _, version in load.results[:40]]
        assert {1, 2} <= set(early)  # both served while the canary ran

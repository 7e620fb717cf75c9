"""The promotion gate (MIN_ACCURACY): a version below it is never served nor
selectable, is listed with its reason, and counted once per worker."""

import requests

from tests.service.gunicorn_server import running_service, wait_until
from tests.service.test_gunicorn import metric, scrape
from tests.conftest import write_version


def test_a_version_below_min_accuracy_is_rejected_and_a_newer_valid_one_served(tmp_path, models_dir, trained_layers):
    write_version(models_dir, trained_layers, accuracy=0.5)  # 2: as the lr-5 ReLU run recorded
    with running_service(tmp_path, models_dir, reload_interval_s=0.3) as server:
        answers = [requests.post(server.url + "/predict", json={"instances": [[1, 0]]}, timeout=5).json()
                   for _ in range(10)]
        assert {answer["model"]["version"] for answer in answers} == {1}
        asked = requests.post(server.url + "/predict?version=2", json={"instances": [[1, 0]]}, timeout=5)
        assert asked.status_code == 404 and "rejected: training accuracy 0.5000 < MIN_ACCURACY 0.9000" in \
            asked.json()["error"]["message"]
        v2 = requests.post(server.url + "/v2/models/moons/versions/2/infer", timeout=5, json={
            "inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [1, 0]}]})
        assert v2.status_code == 404 and "rejected" in v2.json()["error"]
        listing = {entry["version"]: entry for entry in requests.get(server.url + "/models/moons", timeout=5).json()["versions"]}
        assert listing[2]["status"] == "rejected"
        assert listing[2]["reason"] == "training accuracy 0.5000 < MIN_ACCURACY 0.9000"
        assert listing[1]["status"] == "served"
        write_version(models_dir, trained_layers)  # 3: passes
        assert wait_until(lambda: all(requests.post(server.url + "/predict", json={"instances": [[1, 0]]}, timeout=5)
                                      .json()["model"]["version"] == 3 for _ in range(6)), 10)
        samples = scrape(server)
        assert metric(samples, "moonserve_model_loads_total", model="moons", result="rejected") == 2  # once per worker
        assert metric(samples, "moonserve_model_loads_total", model="moons", result="success") == 4
        assert server.log().count('"message":"model rejected"') == 2


def test_the_gate_can_be_turned_off_and_a_pin_to_a_rejected_version_is_not_served(make_app, models_dir, trained_layers):
    write_version(models_dir, trained_layers, accuracy=0.5)
    open_gate = make_app(min_accuracy=0).test_client()
    assert open_gate.post("/predict", json={"instances": [[1, 0]]}).get_json()["model"]["version"] == 2
    pinned = make_app(model_version=2).test_client()
    health = pinned.get("/health")
    assert health.status_code == 503
    assert health.get_json()["error"]["message"] == \
        "pinned version 2 was rejected: training accuracy 0.5000 < MIN_ACCURACY 0.9000"


def test_only_rejected_versions_say_so_in_health(tmp_path, trained_layers):
    from service.app import create_app
    from service.settings import Settings

    write_version(tmp_path / "only-rejected", trained_layers, accuracy=0.42)
    app = create_app(Settings(models_dir=tmp_path / "only-rejected", reload_interval_s=0, access_log_flush_s=0),
                     start_reloader=False)
    message = app.test_client().get("/health").get_json()["error"]["message"]
    assert "passes the gate (1 rejected, e.g. version 1: training accuracy 0.4200 < MIN_ACCURACY 0.9000)" in message


def test_a_pin_or_stable_label_that_cannot_be_served_is_one_warning(make_app, models_dir, trained_layers, caplog):
    import logging

    write_version(models_dir, trained_layers, accuracy=0.3)  # 2: rejected
    (models_dir / "moons" / "labels.json").write_text('{"stable": 2}')
    with caplog.at_level(logging.WARNING, logger="moonserve.registry"):
        app = make_app()
        for _ in range(3):
            app.extensions["moonserve"].repository.refresh()
        make_app(model_version=9)
    messages = [(record.getMessage(), getattr(record, "fields", {}).get("model_version")) for record in caplog.records]
    assert messages.count(("stable label not servable", 2)) == 1
    assert messages.count(("pinned version not servable", 9)) == 1

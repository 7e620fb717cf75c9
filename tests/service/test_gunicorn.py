"""The real service under gunicorn with two workers, over loopback HTTP."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import numpy_probabilities, write_version
from tests.service.gunicorn_server import (
    PROJECT_ROOT, Load, free_port, ready, running_service, stop_process, wait_until,
)


def scrape(server) -> dict:
    text = requests.get(server.url + "/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(samples, metric_name, **labels) -> float:
    """The sum of ``metric_name`` over every series whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (name, series), value in samples.items() if name == metric_name and wanted <= set(series))


def _predict(server, rows, **params):
    return requests.post(server.url + "/predict", json={"instances": rows}, params=params, timeout=10)


@pytest.fixture
def server(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, reload_interval_s=1) as running:
        yield running


def test_predictions_match_numpy_and_counters_add_up_over_workers(server, trained_layers):
    rng = np.random.default_rng(7)
    batches = [rng.normal(size=(int(size), 2)).tolist() for size in rng.integers(1, 50, size=60)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda rows: _predict(server, rows), batches))
    assert all(response.status_code == 200 for response in responses)
    for rows, response in zip(batches, responses):
        got = [p["probability"] for p in response.json()["predictions"]]
        np.testing.assert_allclose(got, numpy_probabilities(trained_layers, rows), rtol=1e-12)
    samples = scrape(server)
    assert len([f for f in os.listdir(server.metrics_dir) if f.startswith("counter_")]) == 2
    assert metric(samples, "moonserve_requests_total", endpoint="/predict", method="POST", status="200") == 60
    predicted = sum(metric(samples, "moonserve_predictions_total", model="moons", model_version="1", label=label) for label in "01")
    assert predicted == sum(len(rows) for rows in batches)
    assert metric(samples, "moonserve_prediction_request_rows_count") == 60
    assert metric(samples, "moonserve_model_loads_total", model="moons", result="success") == 2  # one per worker
    assert metric(samples, "moonserve_model_info", model="moons", version="1") == 1
    assert metric(samples, "moonserve_requests_in_progress") == 1  # this scrape


def test_new_version_is_served_within_the_interval_and_a_bad_one_is_refused(server, models_dir, trained_layers):
    with Load(server.url, threads=2) as load:
        time.sleep(0.5)
        written_at = time.monotonic()
        write_version(models_dir, trained_layers)
        time.sleep(2.5)
        (models_dir / "moons" / "3.npz").write_bytes(os.urandom(4096))
        time.sleep(2.5)
    results = load.results
    assert load.failures() == [] and len(results) > 100, load.describe_failures()
    old_after = [sent for sent, _, version in results if version == 1 and sent > written_at]
    switched_by = max(old_after, default=written_at) - written_at
    assert switched_by <= 1 + 1, f"version 1 still answered {switched_by:.2f} s after version 2 was written"
    assert {version for sent, _, version in results if sent > written_at + 2} == {2}
    samples = scrape(server)
    assert metric(samples, "moonserve_model_loads_total", model="moons", result="failure") == 2  # each worker refused 3.npz once
    assert metric(samples, "moonserve_model_info", model="moons", version="2") == 1
    assert metric(samples, "moonserve_model_info", model="moons", version="1") == 0
    assert '"model refused"' in server.log() and "3.npz" in server.log()


def test_counters_survive_a_killed_worker(server):
    for _ in range(20):
        assert _predict(server, [[1.0, 0.0]]).status_code == 200
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), timeout=20)
    assert wait_until(lambda: all(_predict(server, [[1.0, 0.0]]).status_code == 200 for _ in range(4)), timeout=20)
    samples = scrape(server)
    answered = metric(samples, "moonserve_requests_total", endpoint="/predict", method="POST", status="200")
    assert answered >= 24 and answered == metric(samples, "moonserve_prediction_request_rows_count")


def test_empty_folder_is_503_until_a_model_appears(tmp_path, trained_layers):
    models_dir = tmp_path / "empty-models"
    with running_service(tmp_path, models_dir, ready_path="/health/live", reload_interval_s=1) as running:
        health = requests.get(running.url + "/health", timeout=5)
        assert health.status_code == 503 and "no model versions" in health.json()["error"]["message"]
        assert _predict(running, [[1.0, 0.0]]).status_code == 503
        write_version(models_dir, trained_layers)
        assert wait_until(lambda: all(_predict(running, [[1.0, 0.0]]).status_code == 200 for _ in range(4)),
                          timeout=5)


def test_a_bad_setting_stops_start_up_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py", "service.wsgi:app"],
        cwd=PROJECT_ROOT, env={**os.environ, "MAX_BATCH": "lots", "RELOAD_INTERVAL_S": "-1"},
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MAX_BATCH" in lines[0] and "RELOAD_INTERVAL_S" in lines[0]


def test_a_metrics_folder_it_made_itself_is_removed_at_exit(tmp_path, models_dir):
    """Without PROMETHEUS_MULTIPROC_DIR the config makes a temporary folder; it must not
    be left behind at every start."""
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py", "service.wsgi:app"], cwd=PROJECT_ROOT,
        env={**env, "TMPDIR": str(scratch), "MODELS_DIR": str(models_dir), "HOST": "127.0.0.1", "PORT": str(port),
             "WORKERS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        made = lambda: list(scratch.glob("moonserve-metrics-*/*.db"))  # noqa: E731
        assert wait_until(lambda: made() and ready(f"http://127.0.0.1:{port}", "/health"), 30)
    finally:
        stop_process(process)
    assert process.returncode == 0 and list(scratch.iterdir()) == []

"""Faults while serving, against a real gunicorn: a killed worker, bad model files,
SIGTERM under load. Bounded in time; traffic only to 127.0.0.1."""

import http.client
import json
import os
import signal
import time

import numpy as np
import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import write_version
from tests.service.gunicorn_server import Load, running_service, wait_until
from tests.service.test_gunicorn import metric, scrape
from trainer.artifacts import encode


def test_a_worker_killed_under_load_is_replaced_and_counters_stay_right(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, reload_interval_s=0) as server:
        with Load(server.url, threads=4) as load:
            time.sleep(1.0)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            assert wait_until(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2, 20)
            time.sleep(1.5)
        succeeded = sum(1 for r in load.results if r[1] == 200)
        # at most the requests in flight on the victim
        assert len(load.failures()) <= 4, (load.describe_failures(), server.log()[-3000:])
        assert any(r[0] > killed_at + 0.5 and r[1] == 200 for r in load.results)
        counted = metric(scrape(server), "moonserve_requests_total", endpoint="/predict", method="POST", status="200")
        assert succeeded <= counted <= succeeded + len(load.failures())


def _bad_files(folder, staging, trained_layers):
    """Each bad kind of file, as the next version number, each made in ``staging``
    and renamed into ``folder`` whole; returns the names."""
    arrays = encode(trained_layers, {"name": "moons", "version": 0, "format_version": 1, "created_at": "x",
                                     "layer_sizes": [2, 3, 1], "activation": "sigmoid"})
    staging.mkdir()

    def save(version, changes):
        path = staging / f"{version}.npz"
        metadata = str(arrays["metadata"]).replace('"version": 0', f'"version": {version}')
        with open(path, "wb") as stream:
            np.savez(stream, **{**arrays, "metadata": np.array(metadata), **changes})
        return path

    truncated = save(2, {})
    truncated.write_bytes(truncated.read_bytes()[:300])
    (staging / "3.npz").write_bytes(os.urandom(2048))
    save(4, {"w1": np.array([object(), None], dtype=object)})
    save(5, {"w2": np.zeros((4, 1))})
    save(6, {"b1": np.full((1, 3), np.nan)})
    os.mkfifo(staging / "7.npz")
    (staging / "8.npz").mkdir()
    names = [f"{version}.npz" for version in range(2, 9)]
    for name in names:
        os.rename(staging / name, folder / name)
    return names


def test_bad_model_files_are_refused_while_serving_goes_on(tmp_path, models_dir, trained_layers):
    with running_service(tmp_path, models_dir, reload_interval_s=0.5) as server:
        with Load(server.url, threads=2) as load:
            time.sleep(0.3)
            names = _bad_files(models_dir / "moons", tmp_path / "staging", trained_layers)
            time.sleep(1.5)
            assert all(r[2] == 1 for r in load.results if r[1] == 200)
            written_at = time.monotonic()
            write_version(models_dir, trained_layers)  # version 9: valid
            assert wait_until(lambda: load.results and load.results[-1][2] == 9, 5)
            os.unlink(models_dir / "moons" / "9.npz")  # a version file that disappears
            time.sleep(1.5)
        assert load.failures() == [], load.describe_failures()
        versions = [version for sent, _, version in load.results]
        assert set(versions) <= {1, 9}
        assert all(v == 1 for sent, _, v in load.results[-5:])  # back on the newest valid file
        assert all(v == 1 for sent, _, v in load.results if sent < written_at)
        samples = scrape(server)
        assert metric(samples, "moonserve_model_loads_total", model="moons", result="failure") == 2 * len(names)
        log = server.log()
        assert all(f"{name}: " in log for name in names), log[-3000:]


def _in_progress(server) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(server.metrics_dir))
    return registry.get_sample_value("moonserve_requests_in_progress") or 0.0


def _start_upload(port: int, body: bytes) -> http.client.HTTPConnection:
    """Send a /predict request's headers and the first half of its body: the server
    has begun handling it and waits for the rest, so it is in flight for certain."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body[: len(body) // 2])
    return connection


def test_sigterm_lets_requests_in_flight_finish(tmp_path, models_dir):
    """Two uploads are half sent when SIGTERM arrives (two, so that both have a thread
    whichever worker took them). The server serves both once their bodies are
    complete, exits cleanly, and only then refuses connections."""
    rows = np.random.default_rng(0).normal(size=(20_000, 2)).round(5).tolist()
    body = json.dumps({"instances": rows}).encode()
    with running_service(tmp_path, models_dir, reload_interval_s=0, max_batch=20_000,
                         max_body_bytes=10_000_000, graceful_timeout_s=20) as server:
        uploads = [_start_upload(server.port, body) for _ in range(2)]
        assert wait_until(lambda: _in_progress(server) == 2, 10), "the two uploads were not both being handled"
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # let the shutdown begin before the bodies complete
        answers = []
        for upload in uploads:
            upload.send(body[len(body) // 2:])
            response = upload.getresponse()
            answers.append((response.status, len(json.loads(response.read())["predictions"])))
            upload.close()
        assert answers == [(200, len(rows))] * 2
        assert server.process.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/health/live", timeout=2)


def _file_the_old_reader_choked_on(path):
    """A header declaring a terabyte array: the old reader let NumPy try to allocate
    it, the MemoryError aborted refresh(), and a worker restarting beside it failed."""
    import zipfile

    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 60000000000000), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
        archive.writestr("w1.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)


def _served_version(server):
    response = requests.post(server.url + "/predict", json={"instances": [[0, 1]]}, timeout=5)
    return response.json()["model"]["version"] if response.status_code == 200 else None


def test_a_bad_file_never_stops_serving_nor_a_worker_from_booting(tmp_path, trained_layers):
    """The server starts with only a bad file (it boots, and says why it is not
    ready), serves the first valid file that appears, keeps serving a newer valid
    one beside another bad file, and a worker killed with the bad files present is
    replaced by one that boots and serves."""
    folder = tmp_path / "models" / "moons"
    folder.mkdir(parents=True)
    _file_the_old_reader_choked_on(folder / "1.npz")
    with running_service(tmp_path, tmp_path / "models", ready_path="/health/live", reload_interval_s=0.3) as server:
        health = requests.get(server.url + "/health", timeout=5)
        assert health.status_code == 503 and "none of the 1 version file(s)" in health.json()["error"]["message"]
        assert requests.get(server.url + "/models", timeout=5).status_code == 200
        write_version(tmp_path / "models", trained_layers)  # 2
        _file_the_old_reader_choked_on(folder / "3.npz")
        write_version(tmp_path / "models", trained_layers)  # 4
        assert wait_until(lambda: all(_served_version(server) == 4 for _ in range(6)), 10)
        with Load(server.url, threads=2) as load:
            time.sleep(0.5)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            assert wait_until(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2, 20)
            assert wait_until(lambda: server.booted_workers() >= 3, 20), server.log()[-2000:]
            time.sleep(1.0)
        assert server.process.poll() is None, server.log()[-2000:]
        # at most those in flight on the victim
        assert len(load.failures()) <= 2, (load.describe_failures(), server.log()[-3000:])
        assert {version for _, status, version in load.results if status == 200} == {4}
        listing = requests.get(server.url + "/models/moons", timeout=5)
        assert listing.status_code == 200
        statuses = {entry["version"]: entry["status"] for entry in listing.json()["versions"]}
        assert statuses[1] == statuses[3] == "refused" and statuses[4] == "served"
        assert metric(scrape(server), "moonserve_model_loads_total", model="moons", result="failure") >= 2 * 2 + 1
        assert "Worker failed to boot" not in server.log()

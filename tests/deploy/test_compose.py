"""The compose deployment for real: build the image, run the trainer job and the API,
train a new version while it runs, scale to three replicas, tear everything down.

Slow (an image build), so marked ``docker`` and run by ``scripts/e2e.sh``; skipped,
with the reason, where no Docker engine can be had.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from tests.deploy.conftest import IMAGE, run as _run
from tests.service.gunicorn_server import PROJECT_ROOT, BackgroundThreads, free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]
ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5], [2.0, 0.25]]


def _compose_command(env) -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True, env=env).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed")


class Stack:
    def __init__(self, env):
        self.project = f"moonserve-e2e-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port), "RELOAD_INTERVAL_S": "1"}
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = [*_compose_command(env), "-p", self.project, "-f", str(PROJECT_ROOT / "docker-compose.yml")]

    def compose(self, *args, timeout=600, check=True):
        return _run([*self.base, *args], self.env, timeout=timeout, check=check, cwd=PROJECT_ROOT)

    def containers(self) -> list[str]:
        return self.compose("ps", "-q", "api").stdout.split()

    def inspect(self, container: str) -> dict:
        return json.loads(_run(["docker", "inspect", container], self.env).stdout)[0]

    def healthy(self, count: int) -> bool:
        ids = self.containers()
        return len(ids) == count and all(
            self.inspect(c)["State"].get("Health", {}).get("Status") == "healthy" for c in ids)

    def upstreams(self, since: int = 0) -> list[str]:
        """The replica address of each request the proxy logged, from its ``since``-th line."""
        lines = [line.split("|", 1)[-1].strip() for line in self.compose("logs", "--no-color", "proxy").stdout.splitlines()]
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry["upstream"] for entry in entries[since:] if entry["path"] == "/predict"]

    def model_probabilities(self, rows) -> tuple[int, list[float]]:
        """The newest model on the volume, read with the trainer's reader, run in NumPy."""
        script = ("import json, sys; import numpy as np; from trainer.artifacts import read_model, list_versions;"
                  "v = max(list_versions('/models', 'moons')); m = read_model(f'/models/moons/{v}.npz');"
                  "from trainer.network import predict_proba;"
                  f"print(json.dumps([v, predict_proba(m.layers, np.array({rows!r}), m.activation).tolist()]))")
        out = _run(["docker", "run", "--rm", "-v", f"{self.project}_models:/models:ro", IMAGE, "python", "-c",
                    script], self.env).stdout
        version, probabilities = json.loads(out.strip().splitlines()[-1])
        return version, probabilities


def _answers(url: str) -> bool:
    try:
        return requests.post(url + "/predict", json={"instances": ROWS}, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _predict(url: str) -> dict:
    response = requests.post(url + "/predict", json={"instances": ROWS}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


class SteadyLoad(BackgroundThreads):
    """Two clients sending predictions through the proxy until stopped; every answer kept."""

    def __init__(self, url: str):
        super().__init__(2, join_s=15)
        self.url, self.results = url, []

    def _run(self):
        while not self.stop.is_set():
            try:
                response = requests.post(self.url + "/predict", json={"instances": ROWS[:1]}, timeout=10)
                self.results.append(response.status_code)
            except requests.RequestException as error:
                self.results.append(type(error).__name__)
            self.stop.wait(0.01)


def test_compose_stack_trains_serves_reloads_and_scales_behind_one_endpoint(docker_env, image):
    stack = Stack(docker_env)
    try:
        stack.compose("up", "-d", "--no-build", "proxy", timeout=900)
        assert wait_until(lambda: stack.healthy(1), timeout=180, interval=1), stack.compose("logs").stdout[-3000:]
        trainer_state = stack.compose("ps", "-a", "trainer").stdout
        assert re.search(r"Exit 0|Exited \(0\)", trainer_state), trainer_state

        url = stack.url
        assert wait_until(lambda: _answers(url), timeout=30, interval=0.5), stack.compose("logs", "proxy").stdout
        version, expected = stack.model_probabilities(ROWS)
        body = _predict(url)
        assert version == 1 and body["model"]["version"] == 1
        assert [p["probability"] for p in body["predictions"]] == pytest.approx(expected, rel=1e-12)

        api = stack.containers()[0]
        started = stack.inspect(api)["State"]["StartedAt"]
        stack.compose("run", "--rm", "trainer", timeout=600)
        assert wait_until(lambda: _predict(url)["model"]["version"] == 2, timeout=15, interval=0.25)
        version, expected = stack.model_probabilities(ROWS)
        assert version == 2
        assert [p["probability"] for p in _predict(url)["predictions"]] == pytest.approx(expected, rel=1e-12)
        state = stack.inspect(api)
        assert state["State"]["StartedAt"] == started and state["RestartCount"] == 0

        with SteadyLoad(url) as load:
            stack.compose("up", "-d", "--no-build", "--scale", "api=3", "proxy", timeout=600)
            assert wait_until(lambda: stack.healthy(3), timeout=180, interval=1), stack.compose("ps").stdout
            seen = len(stack.upstreams())
            # `up` runs the one-shot trainer again, as compose does for a completed
            # dependency, so every replica must be on the newest version, whichever it is.
            newest, _ = stack.model_probabilities(ROWS)
            assert newest >= 2
            assert wait_until(lambda: all(_predict(url)["model"]["version"] == newest for _ in range(6)), timeout=15)
            assert wait_until(lambda: len(set(stack.upstreams(seen))) == 3, timeout=20, interval=1), \
                stack.upstreams(seen)[-20:]
            stack.compose("up", "-d", "--no-build", "--scale", "api=1", "proxy", timeout=600)
            assert wait_until(lambda: len(stack.containers()) == 1, timeout=120, interval=1)
            time.sleep(3)  # past the proxy's DNS validity: the stopped replicas' addresses are gone
        failures = [result for result in load.results if result != 200]
        assert failures == [] and len(load.results) > 100, (failures[:10], len(load.results))
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)
    leftovers = _run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}"],
                     docker_env).stdout.split()
    volumes = _run(["docker", "volume", "ls", "-q", "--filter", f"name={stack.project}"], docker_env).stdout.split()
    assert leftovers == [] and volumes == []

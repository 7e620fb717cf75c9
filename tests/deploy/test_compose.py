"""The compose deployment for real: build the image, run the trainer job and the API,
train a new version while it runs, scale to three replicas, tear everything down.

Slow (an image build), so marked ``docker`` and run by ``scripts/e2e.sh``; skipped,
with the reason, where no Docker engine can be had.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
import requests

from tests.service.gunicorn_server import PROJECT_ROOT, free_port, stop_process, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]
IMAGE = "moonserve:latest"
ROWS = [[0.5, -0.4], [0.0, 1.0], [-1.0, 0.5], [2.0, 0.25]]


def _run(command, env, timeout=600, check=True, **kwargs):
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def docker_env():
    """An environment whose ``docker`` reaches an engine: the machine's, or a dockerd
    started here with its own socket and data folder, stopped at the end."""
    if not shutil.which("docker"):
        pytest.skip("no docker client on this machine (apt-get install docker.io)")
    env = dict(os.environ)
    if subprocess.run(["docker", "info"], capture_output=True, env=env).returncode == 0:
        yield env
        return
    if not shutil.which("dockerd") or os.geteuid() != 0:
        pytest.skip("no Docker engine running, and dockerd cannot be started here (needs root and docker.io)")
    root = tempfile.mkdtemp(prefix="msd-", dir="/tmp")
    env["DOCKER_HOST"] = f"unix://{root}/docker.sock"
    log = open(f"{root}/dockerd.log", "wb")
    daemon = subprocess.Popen(["dockerd", "--data-root", f"{root}/data", "--exec-root", f"{root}/exec",
                               "-H", env["DOCKER_HOST"], "--pidfile", f"{root}/dockerd.pid"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_until(lambda: subprocess.run(["docker", "info"], capture_output=True, env=env).returncode == 0,
                          timeout=60, interval=0.5):
            pytest.skip(f"dockerd did not start: {open(f'{root}/dockerd.log').read()[-1500:]}")
        yield env
    finally:
        stop_process(daemon, timeout=60)
        log.close()
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: str) -> None:
    """Unmount what dockerd left mounted under ``root`` (overlay layers, the network
    namespace file), deepest first, so the folder can be removed."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(root + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True)


def _base_image() -> str:
    first = next(line for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines() if line.startswith("FROM "))
    return first.split()[1]


@pytest.fixture(scope="session")
def image(docker_env):
    """The project's image, built with ``--network host`` as the machine reaches PyPI.

    The base image is the real one where it is here or can be pulled, else a
    debootstrap stand-in under the same tag (scripts/standin-python-image.sh)."""
    base = _base_image()
    if _run(["docker", "image", "inspect", base], docker_env, check=False).returncode != 0:
        pulled = _run(["docker", "pull", base], docker_env, timeout=120, check=False)
        if pulled.returncode != 0:
            if not shutil.which("debootstrap"):
                pytest.skip(f"{base} cannot be pulled and debootstrap is missing for a stand-in")
            _run(["bash", str(PROJECT_ROOT / "scripts" / "standin-python-image.sh"), base], docker_env, timeout=900)
    _run(["docker", "build", "--network", "host", "-t", IMAGE, str(PROJECT_ROOT)], docker_env, timeout=1200)
    return IMAGE


def _compose_command(env) -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True, env=env).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed")


class Stack:
    def __init__(self, env):
        self.project = f"moonserve-e2e-{uuid.uuid4().hex[:8]}"
        base = free_port()
        self.env = {**env, "API_PORTS": f"{base}-{base + 9}", "RELOAD_INTERVAL_S": "1"}
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

    def url(self, index: int = 1) -> str:
        published = self.compose("port", f"--index={index}", "api", "8000").stdout.strip()
        return f"http://127.0.0.1:{published.rsplit(':', 1)[1]}"

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


def _predict(url: str) -> dict:
    response = requests.post(url + "/predict", json={"instances": ROWS}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_compose_stack_trains_serves_reloads_and_scales(docker_env, image):
    stack = Stack(docker_env)
    try:
        stack.compose("up", "-d", "--no-build", "api", timeout=900)
        assert wait_until(lambda: stack.healthy(1), timeout=180, interval=1), stack.compose("logs").stdout[-3000:]
        trainer_state = stack.compose("ps", "-a", "trainer").stdout
        assert re.search(r"Exit 0|Exited \(0\)", trainer_state), trainer_state

        url = stack.url()
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

        stack.compose("up", "-d", "--no-build", "--scale", "api=3", "api", timeout=600)
        assert wait_until(lambda: stack.healthy(3), timeout=180, interval=1), stack.compose("ps").stdout
        urls = {stack.url(index) for index in (1, 2, 3)}
        assert len(urls) == 3
        # `up` runs the one-shot trainer again, as compose does for a completed
        # dependency, so every replica must be on the newest version, whichever it is.
        newest, _ = stack.model_probabilities(ROWS)
        assert newest >= 2
        for replica in urls:
            assert wait_until(lambda url=replica: _predict(url)["model"]["version"] == newest, timeout=10, interval=0.25)
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)
    leftovers = _run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}"],
                     docker_env).stdout.split()
    volumes = _run(["docker", "volume", "ls", "-q", "--filter", f"name={stack.project}"], docker_env).stdout.split()
    assert leftovers == [] and volumes == []

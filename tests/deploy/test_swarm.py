"""Docker swarm mode for real: the stack file on a one-node swarm of the test's dockerd,
two model images, steady requests through the proxy the whole time while the api
scales 2 -> 3, rolls from model image A to B, and scales down to 1.

Marked ``docker`` (minutes; run by ``scripts/e2e.sh``). The swarm is made here and
left afterwards, with everything the test made; a swarm that was already active is
used and left as it was, only the stack removed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests

from tests.conftest import write_version
from tests.deploy.conftest import PROXY_IMAGE, run
from tests.service.gunicorn_server import PROJECT_ROOT, BackgroundThreads, free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
ROW = {"instances": [[0.5, -0.4]]}


@pytest.fixture
def swarm(docker_env):
    state = json.loads(run(["docker", "info", "--format", "{{json .Swarm}}"], docker_env).stdout)
    made = state.get("LocalNodeState") != "active"
    if made:
        joined = run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], docker_env, check=False)
        if joined.returncode != 0:
            pytest.skip(f"docker swarm init failed here: {joined.stderr.strip()[-300:]}")
    try:
        yield docker_env
    finally:
        if made:
            run(["docker", "swarm", "leave", "--force"], docker_env, check=False)


class Load(BackgroundThreads):
    """Two clients sending one-row predictions through the proxy; (time, status, version)."""

    def __init__(self, url: str):
        super().__init__(2, join_s=15)
        self.url, self.results, self._lock = url, [], threading.Lock()

    def _run(self):
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                response = requests.post(self.url + "/predict", json=ROW, timeout=10)
                outcome = (sent, response.status_code, response.json()["model"]["version"]
                           if response.status_code == 200 else response.text[:200])
            except (requests.RequestException, ValueError, KeyError) as error:
                outcome = (sent, type(error).__name__, None)
            with self._lock:
                self.results.append(outcome)
            self.stop.wait(0.02)


def _model_image(env, tmp_path, layers, versions: int, tag: str) -> str:
    folder = tmp_path / tag.replace(":", "-")
    for _ in range(versions):
        write_version(folder, layers)
    run(["bash", str(PROJECT_ROOT / "scripts" / "model-image.sh"), str(folder), tag], env, timeout=300)
    return tag


def _running(env, service: str) -> list[dict]:
    tasks = run(["docker", "service", "ps", service, "--filter", "desired-state=running", "--format", "{{json .}}"],
                env).stdout.splitlines()
    return [json.loads(line) for line in tasks if line.strip()]


def _healthy_replicas(env, stack: str, count: int, image: str) -> bool:
    """``count`` api containers of ``image``, each healthy (the swarm gates on it too)."""
    ids = run(["docker", "ps", "-q", "--filter", f"label=com.docker.stack.namespace={stack}",
               "--filter", f"label=com.docker.swarm.service.name={stack}_api"], env).stdout.split()
    if len(ids) != count:
        return False
    states = [json.loads(run(["docker", "inspect", container], env).stdout)[0] for container in ids]
    return all(s["State"].get("Health", {}).get("Status") == "healthy" and s["Config"]["Image"] == image
               for s in states)


def _proxy_upstreams(env, stack: str) -> list[str]:
    lines = run(["docker", "service", "logs", "--raw", f"{stack}_proxy"], env).stdout.splitlines()
    return [json.loads(line)["upstream"] for line in lines if line.startswith("{") and '"/predict"' in line]


def test_swarm_stack_scales_and_rolls_a_model_image_without_a_failed_request(swarm, image, tmp_path,
                                                                            trained_layers):
    env = swarm
    stack = f"ms{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:6]
    image_a = _model_image(env, tmp_path, trained_layers, 1, f"moonserve-models:a-{tag}")
    image_b = _model_image(env, tmp_path, trained_layers, 2, f"moonserve-models:b-{tag}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    deploy_env = {**env, "IMAGE": image_a, "PROXY_IMAGE": PROXY_IMAGE, "PORT": str(port), "API_REPLICAS": "2",
                  "RELOAD_INTERVAL_S": "1"}
    started = time.monotonic()
    try:
        run(["docker", "stack", "deploy", "--detach=true", "-c", str(PROJECT_ROOT / "deploy" / "swarm" / "stack.yml"),
             stack], deploy_env, timeout=120)
        assert wait_until(lambda: _healthy_replicas(env, stack, 2, image_a), timeout=180, interval=1), \
            run(["docker", "service", "ps", "--no-trunc", f"{stack}_api"], env).stdout
        assert wait_until(lambda: _answers(url), timeout=60, interval=0.5), _logs(env, stack)
        with Load(url) as load:
            time.sleep(2)
            run(["docker", "service", "scale", "--detach=true", f"{stack}_api=3"], env, timeout=120)
            assert wait_until(lambda: _healthy_replicas(env, stack, 3, image_a), timeout=120, interval=1)
            time.sleep(4)  # past the proxy's DNS validity: the third replica takes requests
            rollout_started = time.monotonic()
            run(["docker", "service", "update", "--detach=true", "--image", image_b, f"{stack}_api"], env, timeout=120)
            assert wait_until(lambda: _healthy_replicas(env, stack, 3, image_b), timeout=300, interval=1), \
                run(["docker", "service", "ps", "--no-trunc", f"{stack}_api"], env).stdout
            time.sleep(4)  # the old tasks' addresses leave the proxy's DNS cache
            rollout_ended = time.monotonic()
            run(["docker", "service", "scale", "--detach=true", f"{stack}_api=1"], env, timeout=120)
            assert wait_until(lambda: _healthy_replicas(env, stack, 1, image_b), timeout=120, interval=1)
            time.sleep(4)
        upstreams = _proxy_upstreams(env, stack)
    finally:
        run(["docker", "stack", "rm", stack], env, check=False)
        wait_until(lambda: run(["docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={stack}"],
                               env).stdout.strip() == "", timeout=120, interval=1)
        run(["docker", "image", "rm", image_a, image_b], env, check=False)
    results = sorted(load.results)
    failures = [r for r in results if r[1] != 200]
    versions = [version for _, status, version in results if status == 200]
    switches = sum(1 for before, after in zip(versions, versions[1:]) if before != after)
    figures = {"requests": len(results), "failed": len(failures), "seconds": round(time.monotonic() - started),
               "per_version": {v: versions.count(v) for v in sorted(set(versions))}, "switches": switches,
               "per_replica": {u: upstreams.count(u) for u in sorted(set(upstreams))}}
    print("swarm figures:", json.dumps(figures))
    assert failures == [], (failures[:10], figures)
    assert set(versions) == {1, 2} and len(results) > 200
    assert all(version == 1 for sent, _, version in results if sent < rollout_started)
    assert all(version == 2 for sent, _, version in results if sent > rollout_ended)
    # every replica ever started answered some: 3 of A, 3 of B (one of which is kept)
    replicas = {u.split(",")[-1].strip() for u in upstreams if u}
    assert len(replicas) >= 5, figures


def _answers(url: str) -> bool:
    try:
        return requests.post(url + "/predict", json=ROW, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _logs(env, stack: str) -> str:
    return "\n".join(run(["docker", "service", "logs", "--raw", "--tail", "30", f"{stack}_{name}"], env,
                         check=False).stdout for name in ("proxy", "api"))

"""Real Prometheus (Debian's package) for the monitoring tests; a Docker engine and the
project's images for the container tests (``-m docker``, run by scripts/e2e.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.service.gunicorn_server import PROJECT_ROOT, stop_process, wait_until

IMAGE = "moonserve:latest"
PROXY_IMAGE = "moonserve-proxy:latest"


def _install_prometheus() -> str | None:
    """Install Debian's prometheus package if it is missing; None if it can't be."""
    if shutil.which("promtool") and shutil.which("prometheus"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "prometheus is not installed and this user cannot apt-get install it"
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if result.returncode != 0:
            return f"apt-get could not install prometheus: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def prometheus_tools():
    problem = _install_prometheus()
    if problem:
        pytest.skip(problem)
    return shutil.which("prometheus"), shutil.which("promtool")


def run(command, env, timeout=600, check=True, **kwargs):
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


def _base_images() -> list[str]:
    """The FROM images of the service's and the proxy's Dockerfiles (not build stages)."""
    bases = []
    for dockerfile in (PROJECT_ROOT / "Dockerfile", PROJECT_ROOT / "deploy" / "proxy" / "Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM ") and line.split()[1] not in bases:
                bases.append(line.split()[1])
    return bases


@pytest.fixture(scope="session")
def image(docker_env, pytestconfig):
    """The project's images (service and proxy), built with ``--network host`` as the
    machine reaches PyPI and Debian's mirrors.

    Base images are the real ones where they are here or can be pulled, else one
    debootstrap stand-in under each missing tag (scripts/standin-python-image.sh)."""
    missing = []
    for base in _base_images():
        if run(["docker", "image", "inspect", base], docker_env, check=False).returncode != 0 and \
                run(["docker", "pull", base], docker_env, timeout=120, check=False).returncode != 0:
            missing.append(base)
    if missing:
        if not shutil.which("debootstrap"):
            pytest.skip(f"{', '.join(missing)} cannot be pulled and debootstrap is missing for a stand-in")
        run(["bash", str(PROJECT_ROOT / "scripts" / "standin-python-image.sh"), *missing], docker_env, timeout=900)
    run(["docker", "build", "--network", "host", "-t", IMAGE, str(PROJECT_ROOT)], docker_env, timeout=1200)
    run(["docker", "build", "--network", "host", "-t", PROXY_IMAGE, str(PROJECT_ROOT / "deploy" / "proxy")],
         docker_env, timeout=600)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    for tag in (IMAGE, PROXY_IMAGE):  # the size the README states, shown in this run's log
        size = run(["docker", "image", "ls", tag, "--format", "{{.Size}}"], docker_env).stdout.strip()
        with capture.global_and_fixture_disabled():
            print(f"\nimage {tag}: {size} (docker image ls)")
    return IMAGE

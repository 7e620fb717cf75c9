"""Start the real service under gunicorn on a free loopback port, and drive it, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path, metrics_dir: Path):
        self.process, self.port, self.log_path, self.metrics_dir = process, port, log_path, metrics_dir
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def booted_workers(self) -> int:
        """Workers whose app exists: each registers its counters in the metrics folder."""
        return len([name for name in os.listdir(self.metrics_dir) if name.startswith("counter_")]) \
            if self.metrics_dir.is_dir() else 0

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> tuple[bytes, bytes]:
    """Send ``request`` as raw bytes to 127.0.0.1:``port``, read until the server closes;
    ``(head, body)`` of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


def ready(url: str, path: str) -> bool:
    try:
        return requests.get(url + path, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def running_service(tmp_path: Path, models_dir: Path, ready_path: str = "/health", **settings):
    """Yield a ``Server`` once ``ready_path`` answers 200; stop it (SIGTERM) afterwards."""
    port = free_port()
    metrics_dir = tmp_path / f"metrics-{port}"
    log_path = tmp_path / f"gunicorn-{port}.log"
    env = {**os.environ, "MODELS_DIR": str(models_dir), "HOST": "127.0.0.1", "PORT": str(port),
           "WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           **{key.upper(): str(value) for key, value in settings.items()}}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "service" / "gunicorn.conf.py"),
             "service.wsgi:app"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, log_path, metrics_dir)
    try:
        if not wait_until(lambda: process.poll() is not None or ready(server.url, ready_path), timeout=30) \
                or process.poll() is not None:
            raise RuntimeError(f"gunicorn did not become ready:\n{server.log()}")
        workers = int(env["WORKERS"])
        if not wait_until(lambda: server.booted_workers() >= workers, timeout=30):
            raise RuntimeError(f"not every worker built its app:\n{server.log()}")
        yield server
    finally:
        stop_process(process)


class BackgroundThreads:
    """``count`` threads running ``_run`` from ``with`` until its end, when ``stop`` is
    set and they are joined (for at most ``join_s`` each, if given)."""

    def __init__(self, count: int, join_s: float | None = None):
        self.stop, self._join_s = threading.Event(), join_s
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self):
        raise NotImplementedError

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(self._join_s)


class Load(BackgroundThreads):
    """Client threads sending one-row predictions, a new connection each, until stopped.

    ``results`` holds ``(sent, status, version)``: the HTTP status (or the client's
    exception name) and the version that answered; ``failures`` those that are not a
    200 carrying a version, and ``describe_failures`` what each of them said."""

    def __init__(self, url: str, threads: int = 4):
        super().__init__(threads)
        self.url, self.results, self._said = url, [], []

    def _run(self):
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                response = requests.post(self.url + "/predict", json={"instances": [[0.5, -0.4]]}, timeout=10)
            except requests.RequestException as error:
                self._note(sent, type(error).__name__, None, str(error))
                continue
            try:
                version = response.json()["model"]["version"]
            except (ValueError, KeyError, TypeError):
                version = None
            status = response.status_code
            if status == 200 and version is None:
                status = "200 without a version"
            self._note(sent, status, version, response.text)

    def _note(self, sent: float, status, version, said: str) -> None:
        self.results.append((sent, status, version))
        if status != 200:
            self._said.append(f"{sent:.3f} {status}: {said[:200]}")

    def failures(self):
        return [r for r in self.results if r[1] != 200]

    def describe_failures(self, shown: int = 5) -> str:
        """The first ``shown`` failures, each with what the server or the client said."""
        return f"{len(self._said)} of {len(self.results)} requests failed:\n" + "\n".join(self._said[:shown])

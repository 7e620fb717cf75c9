"""Start the front proxy's nginx (deploy/proxy, rendered by its own entrypoint) in front
of an upstream on loopback, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.service.gunicorn_server import PROJECT_ROOT, free_port, wait_until

PROXY = PROJECT_ROOT / "deploy" / "proxy"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class Proxy:
    def __init__(self, process, port, log_path):
        self.process, self.port, self.log_path = process, port, log_path
        self.url = f"http://127.0.0.1:{port}"

    def access_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]


def start_proxy(tmp_path: Path, upstream: str, **settings) -> Proxy:
    """nginx listening on a free loopback port, proxying to ``upstream`` (host:port)."""
    port = free_port()
    run_dir = tmp_path / f"proxy-{port}"
    run_dir.mkdir()
    run_dir.chmod(0o777)  # nginx's workers drop root, and write request bodies there
    log_path = tmp_path / f"proxy-{port}.log"
    env = {"PATH": f"{os.path.dirname(NGINX)}:/usr/bin:/bin",
           "MOONSERVE_PROXY_TEMPLATE": str(PROXY / "nginx.conf.template"), "MOONSERVE_PROXY_RUN_DIR": str(run_dir), "PROXY_PORT": str(port), "API_UPSTREAM": upstream,
           "RESOLVER": "127.0.0.1", **{key.upper(): str(value) for key, value in settings.items()}}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["sh", str(PROXY / "entrypoint.sh")], env=env, stdout=log, stderr=subprocess.STDOUT)
    proxy = Proxy(process, port, log_path)

    def listening():
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    if not wait_until(lambda: process.poll() is not None or listening(), timeout=10) or process.poll() is not None:
        raise RuntimeError(f"nginx did not start:\n{log_path.read_text()}")
    return proxy

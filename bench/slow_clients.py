"""How many slow or idle connections deny service to a normal client, and for how long.

    python bench/slow_clients.py [--url http://127.0.0.1:8000] [--counts 2,4,8,16,64,200]

Against the service alone (2 workers x 2 threads, started here on a free loopback
port) or, with ``--url``, against whatever listens there (the compose stack's proxy).
For each kind of hostile client and each count it opens that many connections, then
sends one-row predictions from a normal client for ``--seconds`` and reports how
many failed and the longest wait. Kinds:

- ``slow-headers``: sends a request line, then a header byte every second (slowloris);
- ``idle``: connects and sends nothing;
- ``no-read``: pipelines up to 16 requests whose answers are about 500 KB each
  (10,000 rows) on one keep-alive connection, and never reads them.

Traffic only to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deploy.proxy_server import start_proxy  # noqa: E402
from tests.service.gunicorn_server import BackgroundThreads, running_service, stop_process  # noqa: E402
from trainer.artifacts import write_model  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import load_dataset  # noqa: E402
from trainer.training import train  # noqa: E402

BIG_BODY = json.dumps({"instances": np.random.default_rng(0).normal(size=(10_000, 2)).round(4).tolist()}).encode()
KINDS = ("slow-headers", "idle", "no-read")
PIPELINED = 16


class Attackers(BackgroundThreads):
    """``count`` hostile connections of one kind, kept up (reopened when the server
    closes one) until ``stop``."""

    def __init__(self, host: str, port: int, kind: str, count: int):
        super().__init__(count, join_s=5)
        self.host, self.port, self.kind = host, port, kind
        self.closed_by_server = 0

    def _connect(self) -> socket.socket:
        client = socket.socket()
        if self.kind == "no-read":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(2)
        client.connect((self.host, self.port))
        return client

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with self._connect() as client:
                    self._attack(client)
            except OSError:
                pass
            self.closed_by_server += 1
            self.stop.wait(0.05)

    def _attack(self, client: socket.socket) -> None:
        if self.kind == "idle":
            while not self.stop.is_set():
                client.settimeout(0.5)
                try:
                    if client.recv(1) == b"":
                        return
                except socket.timeout:
                    continue
        elif self.kind == "slow-headers":
            client.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\n")
            while not self.stop.wait(1.0):
                client.sendall(b"X")
        else:
            request = (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(BIG_BODY) + BIG_BODY)
            for _ in range(PIPELINED):
                client.settimeout(5)
                client.sendall(request)  # blocks once the server stops reading; reconnects after 5 s
                if self.stop.is_set():
                    return
            self.stop.wait()  # the answers are never read


def probe(url: str, seconds: float) -> dict:
    """One-row predictions, a new connection each, for ``seconds``: failures and waits."""
    waits, failures, deadline = [], 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            ok = requests.post(url + "/predict", json={"instances": [[0.5, -0.4]]}, timeout=15).status_code == 200
        except requests.RequestException:
            ok = False
        waits.append(time.monotonic() - started)
        failures += not ok
        time.sleep(0.05)
    return {"requests": len(waits), "failed": failures, "max_wait_s": max(waits), "median_wait_s": float(np.median(waits))}


def measure(url: str, counts: list[int], seconds: float) -> list[dict]:
    host, port = url.split("//")[1].split(":")
    rows = []
    for kind in KINDS:
        for count in counts:
            with Attackers(host, int(port), kind, count) as attackers:
                time.sleep(1.0)  # let them take hold
                result = probe(url, seconds)
            rows.append({"kind": kind, "count": count, **result, "reopened": attackers.closed_by_server})
            print(f"{kind:>12} x{count:<4} requests {result['requests']:3d}  failed {result['failed']:3d}  "
                  f"median {result['median_wait_s'] * 1000:7.1f} ms  max {result['max_wait_s']:6.2f} s  "
                  f"(attackers reconnected {attackers.closed_by_server} times)", flush=True)
            time.sleep(1.0)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="measure this server instead of starting one")
    parser.add_argument("--counts", default="2,4,8,16,64,200")
    parser.add_argument("--seconds", type=float, default=8.0, help="normal traffic per measurement")
    parser.add_argument("--proxy", action="store_true",
                        help="measure through the front proxy's nginx (deploy/proxy) in front of the service")
    args = parser.parse_args()
    counts = [int(part) for part in args.counts.split(",")]
    if args.url:
        measure(args.url.rstrip("/"), counts, args.seconds)
        return 0
    with tempfile.TemporaryDirectory(prefix="moonserve-slow-") as folder, ExitStack() as stack:
        data = load_dataset(ROOT / "data" / "moon_data.csv")
        result = train(data.x, data.y, TrainConfig(iterations=300))
        write_model(Path(folder) / "models", "moons", result.layers,
                    {"created_at": "bench", "activation": "sigmoid", "metrics": result.metrics})
        server = stack.enter_context(running_service(Path(folder), Path(folder) / "models", reload_interval_s=0,
                                                     workers=2, threads=2, log_level="warning"))
        url = server.url
        if args.proxy:
            proxy = start_proxy(Path(folder), server.url.removeprefix("http://"))
            stack.callback(stop_process, proxy.process)
            url = proxy.url
        print(f"service: 2 workers x 2 threads on {server.url}" + (f", through nginx on {url}" if args.proxy else ""))
        measure(url, counts, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

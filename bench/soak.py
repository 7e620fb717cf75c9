"""Soak test: the real service at a fixed request rate while new model versions land.

    python bench/soak.py [--seconds 60] [--rate 200] [--switch-every 15]

Starts gunicorn (2 workers) on a free loopback port, drives POST /predict from this
process at a fixed rate with mixed batch sizes (1, 10, 100, 1000 rows), writes a new
model version every --switch-every seconds, and reports what was sent, what came
back, latency, the versions seen, and whether the service's own request counter
equals the number of requests sent. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.service.gunicorn_server import running_service  # noqa: E402
from tests.service.test_gunicorn import metric, scrape  # noqa: E402
from trainer.artifacts import write_model  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import load_dataset  # noqa: E402
from trainer.training import train  # noqa: E402

BATCH_SIZES, BATCH_WEIGHTS = (1, 10, 100, 1000), (0.7, 0.2, 0.08, 0.02)


def new_version(models_dir: Path, seed: int) -> int:
    data = load_dataset(ROOT / "data" / "moon_data.csv")
    result = train(data.x, data.y, TrainConfig(iterations=300, seed=seed))
    return write_model(models_dir, "moons", result.layers, {"created_at": "soak", "activation": "sigmoid",
                                                            "metrics": result.metrics})[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--switch-every", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="moonserve-soak-", ignore_cleanup_errors=True) as workdir:
        return _soak(args, Path(workdir))


def _soak(args, workdir: Path) -> int:
    models_dir = workdir / "models"
    new_version(models_dir, seed=3)
    rng = np.random.default_rng(0)
    bodies = {size: {"instances": rng.normal(size=(size, 2)).round(6).tolist()} for size in BATCH_SIZES}
    tickets: queue.Queue = queue.Queue()
    results, lock = [], threading.Lock()

    with running_service(workdir, models_dir, reload_interval_s=1, log_level="warning") as server:
        def client():
            session = requests.Session()
            while (ticket := tickets.get()) is not None:
                size = ticket
                started = time.perf_counter()
                try:
                    response = session.post(server.url + "/predict", json=bodies[size], timeout=10)
                    outcome = (response.status_code, response.json()["model"]["version"]
                               if response.status_code == 200 else None)
                except (requests.RequestException, ValueError) as error:
                    outcome = (type(error).__name__, None)
                with lock:
                    results.append((size, time.perf_counter() - started, *outcome))

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        sizes = rng.choice(BATCH_SIZES, p=BATCH_WEIGHTS, size=int(args.seconds * args.rate) + 1)
        start = time.monotonic()
        next_switch, switches, seed, sent = args.switch_every, [], 4, 0
        while (elapsed := time.monotonic() - start) < args.seconds:
            due = int(elapsed * args.rate)
            while sent < due:
                tickets.put(int(sizes[sent]))
                sent += 1
            if elapsed >= next_switch:
                switches.append((round(elapsed, 1), new_version(models_dir, seed)))
                seed, next_switch = seed + 1, next_switch + args.switch_every
            time.sleep(0.001)
        for _ in threads:
            tickets.put(None)
        for thread in threads:
            thread.join()
        samples = scrape(server)

    statuses = collections.Counter(status for _, _, status, _ in results)
    versions = collections.Counter(version for *_, version in results if version is not None)
    latencies = sorted(latency for _, latency, *_ in results)
    counted = sum(value for (name, labels), value in samples.items()
                  if name == "moonserve_requests_total" and dict(labels).get("endpoint") == "/predict")
    succeeded = statuses.get(200, 0)
    print(f"soak: {args.seconds:g} s at {args.rate:g} req/s target, {args.clients} keep-alive clients, "
          f"batch sizes {dict(zip(BATCH_SIZES, BATCH_WEIGHTS))}")
    print(f"sent {len(results)} (achieved {len(results) / args.seconds:.1f} req/s), succeeded {succeeded}, "
          f"failed {len(results) - succeeded}")
    print(f"status counts: {dict(statuses)}")
    print(f"latency p50 {statistics.median(latencies) * 1000:.2f} ms, "
          f"p99 {latencies[int(0.99 * (len(latencies) - 1))] * 1000:.2f} ms, max {latencies[-1] * 1000:.2f} ms")
    print(f"version switches (at s, version): {switches}; versions seen: {dict(sorted(versions.items()))}")
    print(f"service's moonserve_requests_total for /predict: {counted:.0f}; requests sent: {len(results)}; "
          f"equal: {counted == len(results)}")
    print(f"model loads: success {metric(samples, 'moonserve_model_loads_total', result='success'):.0f}, "
          f"failure {metric(samples, 'moonserve_model_loads_total', result='failure'):.0f}")
    return 0 if succeeded == len(results) and counted == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Serving benchmark: the real service against two floors, same gunicorn settings.

    python bench/serve_bench.py [--rounds 3] [--seconds 5] [--connections 32]

Starts three gunicorn servers on loopback with ``service/gunicorn.conf.py``: a bare
WSGI callable returning a fixed JSON, a Flask app returning it, and the service
(metrics and JSON request logs on, logs to a file). Drives each in turn with wrk
(one-row POST /predict), alternating rounds (with ``--proxy``, also the service through
the front proxy's nginx), and prints medians of requests/s, p50
and p99 and the ratios to the floors. Then measures one 10,000-row request at a time
on one connection, as rows/s end to end. Last, it checks that logging really was on:
the service's access lines, counted after it has exited, against the requests its own
counter saw. Needs ``wrk`` (Debian package ``wrk``).

Every run also prints each worker's share of a core (``worker CPU``), and a pooled-client
section drives the service with 1, 2, 4 and 8 keep-alive connections, with
``BALANCE_CONNECTIONS`` on and off (service/transport/accept_balance.py). With
``--fast-parser`` the Flask floor and the service run a second time with gunicorn's C
HTTP parser (``--http-parser fast``: needs ``pip install gunicorn-h1c``), for A/B.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deploy.proxy_server import start_proxy  # noqa: E402
from worker_cpu import cpu_split, worker_cpu_seconds  # noqa: E402
from tests.service.gunicorn_server import free_port, stop_process, wait_until  # noqa: E402
from trainer.artifacts import write_model  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import load_dataset  # noqa: E402
from trainer.training import train  # noqa: E402

ONE_ROW = json.dumps({"instances": [[0.5, -0.4]]})


class Target(str):
    """A server's URL that also knows its gunicorn master's pid."""

    master_pid: int


@contextmanager
def gunicorn(app: str, workdir: Path, label: str, env_extra: dict):
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "info",
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{label}"), **env_extra}
    log = open(workdir / f"{label}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "service" / "gunicorn.conf.py"),
         "--pythonpath", str(ROOT / "bench"), app], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return requests.post(url + "/predict", data=ONE_ROW, headers={"Content-Type": "application/json"},
                                 timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        if not wait_until(ready, timeout=30):
            raise RuntimeError(f"{label} did not start: {(workdir / f'{label}.log').read_text()[-2000:]}")
        target = Target(url)
        target.master_pid = process.pid
        yield target
    finally:
        stop_process(process)
        log.close()


def wrk(url: str, body: str | bytes, connections: int, seconds: float, threads: int = 2,
        path: str = "/predict", headers: dict | None = None) -> dict:
    """Drive ``POST url+path`` with ``body`` (read from a file, so binary is fine)."""
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        body_file, script = Path(folder) / "body", Path(folder) / "script.lua"
        body_file.write_bytes(body.encode() if isinstance(body, str) else body)
        lines = ['wrk.method = "POST"', f'local f = io.open("{body_file}", "rb")', "wrk.body = f:read(\"*all\")",
                 "f:close()"]
        for name, value in ({"Content-Type": "application/json"} | (headers or {})).items():
            lines.append(f'wrk.headers["{name}"] = "{value}"')
        script.write_text("\n".join(lines) + "\n")
        output = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
             str(script), url + path], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def v2_bodies(rows: np.ndarray) -> dict[str, tuple[bytes, dict]]:
    """V2 infer bodies for ``rows``: JSON, and binary tensors in and out."""
    json_body = json.dumps({"inputs": [{"name": "X", "shape": list(rows.shape), "datatype": "FP64",
                                        "data": rows.tolist()}]}).encode()
    raw = rows.astype("<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "X", "shape": list(rows.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return {"json": (json_body, {}),
            "binary": (header + raw, {"Inference-Header-Content-Length": str(len(header)),
                                      "Content-Type": "application/octet-stream"})}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _requests_counted(url: str) -> int:
    """Requests the service answered, other than scrapes, by its own counter."""
    text = requests.get(url + "/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == "moonserve_requests_total" and sample.labels["endpoint"] != "/metrics"))


def _access_lines(log: Path) -> int:
    """Access lines the service wrote, other than for scrapes (read after it has exited)."""
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if '"logger":"moonserve.access"' in line and '"path":"/metrics"' not in line)


def make_models(folder: Path) -> None:
    data = load_dataset(ROOT / "data" / "moon_data.csv")
    result = train(data.x, data.y, TrainConfig(iterations=500))
    write_model(folder, "moons", result.layers, {"created_at": "bench", "activation": "sigmoid",
                                                 "metrics": result.metrics})  # the gate judges them


def measured(url, work):
    """``work()``'s result, and each worker's share of a core meanwhile (a proxy: none)."""
    master = getattr(url, "master_pid", None)
    before, started = (worker_cpu_seconds(master), time.monotonic()) if master else ({}, 0.0)
    result = work()
    return result, cpu_split(before, worker_cpu_seconds(master), time.monotonic() - started) if master else []


def pooled_runs(service_url, workdir: Path, common: dict, seconds: float) -> dict:
    """One-row requests on 1, 2, 4 and 8 keep-alive connections, with the connection
    balance on (the running service) and off (a second service started for it)."""
    runs = {}
    with gunicorn("service.wsgi:app", workdir, "service_unbalanced", common | {"BALANCE_CONNECTIONS": "false"}) as off:
        for balance, url in (("on", service_url), ("off", off)):
            for connections in (1, 2, 4, 8):
                runs[balance, connections] = measured(url, lambda: wrk(url, ONE_ROW, connections, seconds,
                                                                       threads=min(connections, 2)))
    return runs


def _shares(split: list[float]) -> str:
    return " ".join(f"{share:.2f}" for share in split)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--big-requests", type=int, default=40)
    parser.add_argument("--fast-parser", action="store_true",
                        help="also run the Flask floor and the service with gunicorn's C parser (gunicorn-h1c)")
    parser.add_argument("--proxy", action="store_true",
                        help="also measure the service through the front proxy (deploy/proxy; needs nginx)")
    return with_wrk_and_workdir("serve_bench", _run, parser.parse_args(argv))


def with_wrk_and_workdir(program: str, run, args) -> int:
    """``run(args, workdir)`` in a fresh temporary folder; exit 2 with a one-line error
    when wrk is not installed."""
    if not shutil.which("wrk"):
        print(f"{program}: error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix=f"moonserve-{program}-", ignore_cleanup_errors=True) as workdir:
        return run(args, Path(workdir))


def _run(args, workdir: Path) -> int:
    make_models(workdir / "models")
    common = {"WORKERS": "2", "MODELS_DIR": str(workdir / "models"), "RELOAD_INTERVAL_S": "5"}
    fast = {"GUNICORN_CMD_ARGS": "--http-parser fast"}
    targets = [("bare WSGI", "floors:bare", {}), ("Flask fixed", "floors:flask_fixed", {}),
               ("service", "service.wsgi:app", {})]
    if args.fast_parser:
        targets += [("Flask fast", "floors:flask_fixed", fast), ("service fast", "service.wsgi:app", fast)]
    results = {label: [] for label, _, _ in targets}
    splits = {label: [] for label, _, _ in targets}
    with ExitStack() as stack:
        urls = {label: stack.enter_context(gunicorn(app, workdir, label.replace(" ", "_"), common | extra))
                for label, app, extra in targets}
        if args.proxy:
            proxy = start_proxy(workdir, urls["service"].removeprefix("http://"))
            stack.callback(stop_process, proxy.process)
            urls["via proxy"] = proxy.url
            results["via proxy"] = []
        for label in urls:  # warm-up
            wrk(urls[label], ONE_ROW, args.connections, 1)
        for _ in range(args.rounds):
            for label in urls:
                run, split = measured(urls[label], lambda url=urls[label]: wrk(url, ONE_ROW, args.connections, args.seconds))
                results[label].append(run)
                splits[label].append(split)
        pooled = pooled_runs(urls["service"], workdir, common, args.seconds)
        big = json.dumps({"instances": np.random.default_rng(0).normal(size=(10_000, 2)).round(6).tolist()})
        session = requests.Session()
        timings = []
        for _ in range(args.big_requests):
            started = time.perf_counter()
            response = session.post(urls["service"] + "/predict", data=big,
                                    headers={"Content-Type": "application/json"})
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.json()["predictions"]) == 10_000
        big_wrk = wrk(urls["service"], big, 1, args.seconds, threads=1)
        v2_results = {}
        for count in (1, 10_000):
            rows = np.random.default_rng(1).normal(size=(count, 2))
            for kind, (body, headers) in v2_bodies(rows).items():
                connections = args.connections if count == 1 else 1
                run = wrk(urls["service"], body, connections, args.seconds, threads=2 if count == 1 else 1,
                          path="/v2/models/moons/infer", headers=headers)
                v2_results[(count, kind, connections)] = run
        answered = _requests_counted(urls["service"])
    logged = _access_lines(workdir / "service.log")
    print(f"wrk -c{args.connections}, {args.rounds} alternating rounds of {args.seconds:g} s, medians; "
          f"gunicorn {common['WORKERS']} gthread workers")
    print(f"service access log: {logged:,} lines for the {answered:,} requests its counter saw "
          f"(ACCESS_LOG_FLUSH_S={os.environ.get('ACCESS_LOG_FLUSH_S', 'default')})")
    print(f"{'target':12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}  worker CPU (cores, last round)")
    summary = {}
    for label, runs in results.items():
        summary[label] = {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50_ms", "p99_ms")}
        errors = sum(run["errors"] for run in runs)
        print(f"{label:12} {summary[label]['rps']:9.0f} {summary[label]['p50_ms']:8.2f} "
              f"{summary[label]['p99_ms']:8.2f} {errors:8d}  {_shares(splits[label][-1])}")
    service = summary["service"]["rps"]
    print(f"service / Flask floor: {service / summary['Flask fixed']['rps']:.2f}; "
          f"service / bare WSGI: {service / summary['bare WSGI']['rps']:.2f} (ratios of the medians)")
    paired = [run["rps"] / floor["rps"] for run, floor in zip(results["service"], results["Flask fixed"])]
    if "via proxy" in summary:
        print(f"via proxy / service: {summary['via proxy']['rps'] / service:.2f} req/s, p99 "
              f"{summary['via proxy']['p99_ms'] / summary['service']['p99_ms']:.2f}x (nginx on the same 2 cores)")
    print(f"service / Flask floor round by round: {' '.join(f'{ratio:.2f}' for ratio in paired)}; "
          f"median {statistics.median(paired):.2f}")
    if "service fast" in summary:
        print(f"C parser / Python parser: Flask floor {summary['Flask fast']['rps'] / summary['Flask fixed']['rps']:.2f}, "
              f"service {summary['service fast']['rps'] / service:.2f} req/s; p99 service "
              f"{summary['service fast']['p99_ms'] / summary['service']['p99_ms']:.2f}x")
    print("pooled keep-alive clients, one-row /predict (wrk -cN), connection balance on / off:")
    for (balance, connections), (run, split) in pooled.items():
        print(f"  balance {balance:3} -c{connections}: {run['rps']:7.0f} req/s, p99 {run['p99_ms']:6.2f} ms, "
              f"worker CPU {_shares(split)}")
    for balance in ("on", "off"):
        print(f"  balance {balance}: -c8 / -c1 = {pooled[balance, 8][0]['rps'] / pooled[balance, 1][0]['rps']:.2f}")
    if timings:
        median_big = statistics.median(timings)
        print(f"10,000-row request, one at a time (requests client, keep-alive): median {median_big * 1000:.1f} ms, "
              f"{10_000 / median_big:,.0f} rows/s")
    print(f"10,000-row request, wrk -c1: {big_wrk['rps']:.1f} req/s = {big_wrk['rps'] * 10_000:,.0f} rows/s, "
          f"p50 {big_wrk['p50_ms']:.1f} ms")
    for (count, kind, connections), run in v2_results.items():
        print(f"V2 infer {kind:6} {count:>6} row(s), wrk -c{connections}: {run['rps']:8.0f} req/s = "
              f"{run['rps'] * count:>13,.0f} rows/s, p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
              f"non-2xx {run['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

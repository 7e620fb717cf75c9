"""Moonserve against other servers: the same model, the same weights, the same JSON.

    python bench/peers.py [--rounds 3] [--seconds 4] [--only fastapi,mlserver] [--venvs DIR]

Each peer runs in a virtual environment of its own (made on first use under
``--venvs``, default ``~/.cache/moonserve-peers``, from the pins in ``PEERS`` and the
NumPy this interpreter has; never the project's environment), serving the model
``bench/peer_apps/`` defines for it: Moonserve's model file read by the project's
reader, and the plain NumPy forward pass. Targets:

- the floors: a bare WSGI callable and a Flask app, each returning a fixed answer, on
  Moonserve's gunicorn settings (``bench/floors.py``);
- Moonserve, by ``/predict`` and by V2 JSON (``/v2/models/moons/infer``);
- FastAPI + uvicorn[standard] (2 workers), BentoML (2 workers), LitServe (2 workers)
  by their ``/predict`` with ``{"instances": [[x1, x2], ...]}``; MLServer by V2 JSON
  (a custom runtime; ``uvloop<0.22`` until MLServer#2286 is fixed).

One server runs at a time: each round starts each target, drives it, and stops it,
targets in turn, so none idles beside another under load. Per target: one-row
requests with wrk (``-c32``), req/s, p50 and p99; the server's CPU per request (the
server and every process under it, user and system, from /proc); 10,000-row requests one at a
time (wrk ``-c1``), as rows/s; and, in the first round, whether its probabilities for
10,000 rows equal the NumPy reference (``trainer.network.forward`` in this process)
to the bit, else by how many units in the last place at most, and the largest
relative difference (Moonserve computes exp its own way, the same for any batch:
``trainer/inference.py``). Medians over rounds.
Needs ``wrk``; Linux (/proc).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from serve_bench import make_models, with_wrk_and_workdir, wrk  # noqa: E402
from tests.service.gunicorn_server import free_port, wait_until  # noqa: E402
from trainer.artifacts import read_model  # noqa: E402
from trainer.network import forward  # noqa: E402

PEERS = {
    "fastapi": ["fastapi==0.163.2", "uvicorn[standard]==0.54.0"],
    "bentoml": ["bentoml==1.4.40"],
    "mlserver": ["mlserver==1.7.1", "uvloop<0.22"],
    "litserve": ["litserve==0.2.19"],
}
"""Each peer's pins (NumPy is added at this interpreter's version)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    label: str
    command: list[str]
    path: str = "/predict"
    v2: bool = False
    """Requests and answers in V2 JSON (else ``{"instances": ...}`` in, predictions out)."""
    venv: str | None = None
    """The peer whose environment runs it; None: this interpreter's."""
    package: str | None = None
    """The package whose version is shown; None: the peer's own (``venv``)."""
    env: dict = field(default_factory=dict)
    fixed: bool = False
    """A floor: its answer is fixed, so only one-row speed is measured."""
    prepare: Callable[[int], None] | None = None
    """Called with the port before the server starts (MLServer reads it from a file)."""


def body(rows: np.ndarray, v2: bool) -> bytes:
    if v2:
        return json.dumps({"inputs": [{"name": "X", "shape": list(rows.shape), "datatype": "FP64",
                                       "data": rows.ravel().tolist()}]}).encode()
    return json.dumps({"instances": rows.tolist()}).encode()


def probabilities_of(answer: dict, v2: bool) -> np.ndarray:
    if v2:
        output = next(o for o in answer["outputs"] if o["name"] == "probability")
        return np.asarray(output["data"], dtype=np.float64).ravel()
    return np.asarray([p["probability"] for p in answer["predictions"]], dtype=np.float64)


def ulps_apart(a: np.ndarray, b: np.ndarray) -> int:
    """The largest distance in units in the last place between two arrays of doubles
    in [0, 1] (non-negative, so their bit patterns order as the values do)."""
    return int(np.max(np.abs(a.view(np.int64) - b.view(np.int64)))) if len(a) == len(b) else -1


def venv_python(name: str, folder: Path) -> Path:
    """The peer's interpreter, its environment made first if it is not there yet."""
    pins = PEERS[name] + [f"numpy=={np.__version__}"]
    home = folder / f"{name}-{hashlib.sha256(' '.join(pins).encode()).hexdigest()[:10]}"
    python = home / "bin" / "python"
    if not python.exists():
        print(f"peers: making {home} ({' '.join(pins)})", file=sys.stderr)
        beside_python = Path(sys.executable).with_name("uv")
        uv = shutil.which("uv") or (str(beside_python) if beside_python.exists() else None)
        if uv:
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(home)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *pins], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    return python


def version_of(python: Path, package: str) -> str:
    return subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, user + system CPU in clock ticks)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def descendants(root: int) -> set[int]:
    """``root`` and every process under it (BentoML's workers start sessions of their own)."""
    table, found, frontier = _processes(), {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found & set(table)


def tree_cpu_seconds(root: int) -> float:
    """User and system CPU of ``root`` and every live process under it."""
    table = _processes()
    return sum(table[pid][1] for pid in descendants(root) if pid in table) / CLOCK_TICKS


def stop_tree(process: subprocess.Popen) -> None:
    """SIGTERM to the server and everything under it, SIGKILL to what is left after 30 s."""
    tree = descendants(process.pid)
    for pid in tree:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    if not wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in tree), timeout=30):
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    process.wait()


@contextmanager
def running(target: Target, python: Path, workdir: Path, model_file: Path):
    port = free_port()
    if target.prepare:
        target.prepare(port)
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONPATH": f"{ROOT}:{BENCH}",
           "MOONS_MODEL": str(model_file), "BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(workdir / "bentoml"),
           **{key: value.format(port=port, workdir=workdir) for key, value in target.env.items()}}
    command = [str(python) if part == "{python}" else part.format(port=port, workdir=workdir)
               for part in target.command]
    log = open(workdir / f"{target.label.replace(' ', '_').replace('/', '')}.log", "ab")
    process = subprocess.Popen(command, cwd=BENCH, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    one = body(np.array([[0.5, -0.4]]), target.v2)

    def answers():
        try:
            return requests.post(url + target.path, data=one, headers={"Content-Type": "application/json"},
                                 timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        if not wait_until(answers, timeout=120, interval=0.25):
            raise RuntimeError(f"{target.label} did not answer within 120 s; see {log.name}")
        yield url, process.pid
    finally:
        stop_tree(process)
        log.close()


def measure(target: Target, url: str, server_pid: int, seconds: float, big_rows: np.ndarray,
            reference: np.ndarray | None) -> dict:
    one = body(np.array([[0.5, -0.4]]), target.v2)
    wrk(url, one, 32, 1, path=target.path)  # warm-up
    cpu_before, started = tree_cpu_seconds(server_pid), time.monotonic()
    run = wrk(url, one, 32, seconds, path=target.path)
    elapsed = time.monotonic() - started
    result = {"rps": run["rps"], "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"], "errors": run["errors"],
              "cpu_us": (tree_cpu_seconds(server_pid) - cpu_before) / (run["rps"] * elapsed) * 1e6}
    if target.fixed:
        return result
    big = body(big_rows, target.v2)
    run = wrk(url, big, 1, seconds, threads=1, path=target.path)
    result["rows_per_s"], result["errors"] = run["rps"] * len(big_rows), result["errors"] + run["errors"]
    if reference is not None:
        answer = requests.post(url + target.path, data=big, headers={"Content-Type": "application/json"}, timeout=60)
        answer.raise_for_status()
        served = probabilities_of(answer.json(), target.v2)
        result["ulps"] = ulps_apart(served, reference)
        if result["ulps"] > 0:
            result["relative"] = float(np.max(np.abs(served - reference) / reference))
    return result


def targets(workdir: Path) -> list[Target]:
    gunicorn = ["{python}", "-m", "gunicorn", "-c", str(ROOT / "service" / "gunicorn.conf.py")]
    service_env = {"MODELS_DIR": str(workdir / "models"), "WORKERS": "2", "LOG_LEVEL": "info",
                   "PROMETHEUS_MULTIPROC_DIR": "{workdir}/metrics-{port}"}
    mlserver = workdir / "mlserver"
    return [
        Target("bare WSGI", gunicorn + ["floors:bare"], env=service_env, fixed=True, package="gunicorn"),
        Target("Flask fixed", gunicorn + ["floors:flask_fixed"], env=service_env, fixed=True, package="gunicorn"),
        Target("Moonserve", gunicorn + ["service.wsgi:app"], env=service_env, package="moonserve"),
        Target("Moonserve V2", gunicorn + ["service.wsgi:app"], path="/v2/models/moons/infer", v2=True,
               env=service_env, package="moonserve"),
        Target("FastAPI", ["{python}", "-m", "uvicorn", "peer_apps.fastapi_app:app", "--host", "127.0.0.1",
                           "--port", "{port}", "--workers", "2", "--no-access-log", "--log-level", "warning"],
               venv="fastapi"),
        Target("BentoML", ["{python}", "-m", "bentoml", "serve", "peer_apps.bentoml_service:Moons",
                           "--host", "127.0.0.1", "--port", "{port}"], venv="bentoml"),
        Target("MLServer V2", ["{python}", "-m", "mlserver.cli.main", "start", str(mlserver)],
               path="/v2/models/moons/infer", v2=True, venv="mlserver",
               prepare=lambda port: write_mlserver_settings(mlserver, port)),
        Target("LitServe", ["{python}", "-m", "peer_apps.litserve_app"], venv="litserve"),
    ]


def write_mlserver_settings(folder: Path, port: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port()}))
    (folder / "model-settings.json").write_text(json.dumps({
        "name": "moons", "implementation": "peer_apps.mlserver_runtime.MoonsRuntime"}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--only", help="comma-separated labels (case-insensitive prefixes) to run, e.g. moonserve,fastapi")
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "moonserve-peers")
    return with_wrk_and_workdir("peers", _run, parser.parse_args(argv))


def _run(args, workdir: Path) -> int:
    make_models(workdir / "models")
    model_file = workdir / "models" / "moons" / "1.npz"
    model = read_model(model_file)
    big_rows = np.random.default_rng(0).normal(size=(10_000, 2)).round(6)
    reference = forward(model.layers, big_rows, model.metadata.get("activation", "sigmoid"))[-1][:, 0]
    chosen = targets(workdir)
    if args.only:
        wanted = [name.strip().lower() for name in args.only.split(",")]
        chosen = [t for t in chosen if any(t.label.lower().startswith(name) for name in wanted)]
    pythons = {t.label: venv_python(t.venv, args.venvs) if t.venv else Path(sys.executable) for t in chosen}
    versions = {t.label: version_of(pythons[t.label], t.package or t.venv) for t in chosen}
    results: dict[str, list[dict]] = {t.label: [] for t in chosen}
    for round_number in range(args.rounds):
        for target in chosen:
            with running(target, pythons[target.label], workdir, model_file) as (url, server_pid):
                results[target.label].append(measure(target, url, server_pid, args.seconds, big_rows,
                                                     reference if round_number == 0 else None))
            print(f"peers: round {round_number + 1}: {target.label}: {results[target.label][-1]}", file=sys.stderr)
    print_table(results, versions, args)
    return 0


def print_table(results: dict, versions: dict, args) -> None:
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, NumPy "
          f"{np.__version__}; medians of {args.rounds} alternating rounds, one server at a time; one-row: wrk -c32 "
          f"{args.seconds:g} s; 10,000 rows: wrk -c1")
    print(f"{'server':14} {'version':9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} "
          f"{'10k rows/s':>11} {'vs NumPy':>16} {'non-2xx':>8}")
    for label, runs in results.items():
        def median(key):
            return statistics.median(run[key] for run in runs) if key in runs[0] else None
        rows = median("rows_per_s")
        ulps = runs[0].get("ulps")
        exact = ("-" if ulps is None else "bit-equal" if ulps == 0 else "wrong length" if ulps < 0
                 else f"{ulps} ulp, {runs[0]['relative']:.0e}")
        print(f"{label:14} {versions[label] or '-':9} {median('rps'):8.0f} {median('p50_ms'):7.2f} "
              f"{median('p99_ms'):7.2f} {median('cpu_us'):10.0f} {f'{rows:,.0f}' if rows else '-':>11} "
              f"{exact:>16} {sum(run['errors'] for run in runs):8d}")


if __name__ == "__main__":
    sys.exit(main())

"""What one request costs inside the WSGI app: the service against the Flask floor.

    python bench/request_cost.py [--rounds 7] [--requests 5000] [--profile]

No server and no sockets: each target is called as gunicorn calls it (an environ in,
the body iterated and closed), one one-row ``POST /predict`` after another, so the
figures are the app's own CPU per request, without the HTTP parsing and the system
calls that ``serve_bench.py`` also counts. Targets, in alternating rounds (the best
round of each is printed, the least disturbed by the rest of the machine):

- ``Flask fixed``: ``bench/floors.py``'s Flask app, returning a fixed body;
- ``service``: the app as gunicorn serves it, metrics in multiprocess mode (the
  folder is set before prometheus-client is imported, as ``gunicorn.conf.py`` does)
  and the access log on (written to /dev/null);
- ``service, no access log``: the same with the access log off (LOG_LEVEL=warning);
- ``through Flask``, ``no bookkeeping``, ``fixed answer``, ``fixed, no bookkeeping``:
  the service with parts taken out (``bench/service_variants.py``), as
  ``bench/service_parts.py`` runs them under gunicorn.

``--profile`` then prints cProfile's top functions for the service.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="moonserve-cost-metrics-"))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floors import flask_fixed  # noqa: E402
from serve_bench import make_models  # noqa: E402
from service_variants import build  # noqa: E402
from service.settings import Settings  # noqa: E402

BODY = b'{"instances": [[0.5, -0.4]]}'


def environ() -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(BODY)), "wsgi.input": io.BytesIO(BODY),
            "HTTP_HOST": "127.0.0.1:8000", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "REMOTE_ADDR": "127.0.0.1"}


def _start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        raise AssertionError(f"the target answered {status}")


def per_request_us(app, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        body = app(environ(), _start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
    return (time.perf_counter() - started) / requests * 1e6


def service_app(models: Path, log_level: str, variant: str = "full"):
    app = build(variant, Settings(models_dir=models, log_level=log_level, reload_interval_s=0), start_reloader=False)
    access_log = getattr(app.wsgi_app, "access_log", None)
    if access_log is not None:
        access_log._fd = os.open(os.devnull, os.O_WRONLY)  # the lines are made, then discarded
    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=5000, help="requests per target per round")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="moonserve-cost-") as folder:
        models = Path(folder) / "models"
        make_models(models)
        targets = {"Flask fixed": flask_fixed, "service": service_app(models, "info"),
                   "through Flask": service_app(models, "info", "through_flask"),
                   "service, no access log": service_app(models, "warning"),
                   "no bookkeeping": service_app(models, "info", "no_observer"),
                   "fixed answer": service_app(models, "info", "fixed_view"),
                   "fixed, no bookkeeping": service_app(models, "info", "fixed_view_no_observer")}
        for app in targets.values():
            per_request_us(app, args.requests // 5)  # warm-up
        gc.collect()  # as gunicorn.conf.py's post_worker_init does in each worker
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        best = {label: float("inf") for label in targets}
        for _ in range(args.rounds):
            for label, app in targets.items():
                best[label] = min(best[label], per_request_us(app, args.requests))
        floor = best["Flask fixed"]
        print(f"one-row POST /predict in-process, best of {args.rounds} alternating rounds of {args.requests}:")
        for label, cost in best.items():
            print(f"  {label:24} {cost:6.1f} us/request  {cost - floor:+6.1f} us  {cost / floor:5.2f}x the floor")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(per_request_us, targets["service"], args.requests * 4)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

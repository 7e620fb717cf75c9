"""What each part of the service costs under gunicorn, against the Flask floor.

    python bench/service_parts.py [--rounds 5] [--seconds 4] [--connections 32]

``bench/request_cost.py`` prices the parts inside the app, without sockets; this runs
them as served: one gunicorn per target (``service/gunicorn.conf.py``, 2 workers, the
access log to a file), wrk one-row ``POST /predict``, alternating rounds. The targets
are the Flask floor twice (the second is a control: how far two runs of the same
server differ here), the service, the service with every prediction through Flask's
view (no fast path), with the access log off, and with parts taken out
(``bench/service_variants.py``): without its per-request bookkeeping (request ids,
request metrics, access log), with a fixed answer in place of the prediction, and
without both. Prints, for each, the median req/s, the median of its
round-by-round ratios to the floor, the workers' CPU per request, and the median p99
against the floor's. Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from serve_bench import ONE_ROW, gunicorn, make_models, measured, with_wrk_and_workdir, wrk
from service_variants import VARIANT_ENV

TARGETS = (
    ("Flask floor", "floors:flask_fixed", {}),
    ("Flask floor again", "floors:flask_fixed", {}),
    ("service", "service.wsgi:app", {}),
    ("through Flask", "service_variants:app", {VARIANT_ENV: "through_flask"}),
    ("no access log", "service.wsgi:app", {"LOG_LEVEL": "warning"}),
    ("no bookkeeping", "service_variants:app", {VARIANT_ENV: "no_observer"}),
    ("fixed answer", "service_variants:app", {VARIANT_ENV: "fixed_view"}),
    ("fixed, no bookkeeping", "service_variants:app", {VARIANT_ENV: "fixed_view_no_observer"}),
)


def _run(args, workdir: Path) -> int:
    make_models(workdir / "models")
    common = {"WORKERS": "2", "MODELS_DIR": str(workdir / "models"), "RELOAD_INTERVAL_S": "5"}
    rps = {label: [] for label, _, _ in TARGETS}
    p99 = {label: [] for label, _, _ in TARGETS}
    cores = {label: [] for label, _, _ in TARGETS}
    with ExitStack() as stack:
        urls = {label: stack.enter_context(gunicorn(app, workdir, f"part{index}", common | extra))
                for index, (label, app, extra) in enumerate(TARGETS)}
        for url in urls.values():  # warm-up
            wrk(url, ONE_ROW, args.connections, 1)
        for _ in range(args.rounds):
            for label, url in urls.items():
                run, split = measured(url, lambda url=url: wrk(url, ONE_ROW, args.connections, args.seconds))
                rps[label].append(run["rps"])
                p99[label].append(run["p99_ms"])
                cores[label].append(sum(split))
    floor = rps["Flask floor"]
    print(f"one-row POST /predict, wrk -c{args.connections}, {args.rounds} alternating rounds of "
          f"{args.seconds:g} s; gunicorn 2 gthread workers")
    print(f"{'target':22} {'req/s':>7} {'/ floor':>8}  {'rounds':24} {'CPU/req':>8} {'p99 ms':>7} {'/ floor':>8}")
    for label, runs in rps.items():
        ratios = [run / base for run, base in zip(runs, floor)]
        cpu = statistics.median(used / run for used, run in zip(cores[label], runs)) * 1e6
        print(f"{label:22} {statistics.median(runs):7.0f} {statistics.median(ratios):8.3f}  "
              f"{' '.join(f'{ratio:.2f}' for ratio in ratios):24} {cpu:6.0f} us {statistics.median(p99[label]):7.2f} "
              f"{statistics.median(p99[label]) / statistics.median(p99['Flask floor']):8.2f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--connections", type=int, default=32)
    return with_wrk_and_workdir("service_parts", _run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

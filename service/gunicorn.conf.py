"""Gunicorn settings, from the same environment variables as the app (``Settings``).

Run: ``gunicorn -c service/gunicorn.conf.py service.wsgi:app``.
"""

import gc
import os
import shutil
import sys
import tempfile

from pydantic import ValidationError

from service.settings import Settings, describe_error
from service.transport.accept_balance import AcceptBalance

try:
    _settings = Settings()
except ValidationError as _error:
    print(f"moonserve: {describe_error(_error)}", file=sys.stderr)
    sys.exit(2)

# prometheus-client picks its multiprocess mode when first imported, so the folder
# must be in the environment before any worker imports it.
_made_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_dir = tempfile.mkdtemp(prefix="moonserve-metrics-")

bind = [_settings.bind]
workers = _settings.workers
# gthread (a thread pool per worker with keep-alive), with deadlines on slow clients
# and JSON protocol errors: service/gunicorn_worker.py. worker_connections caps the
# connections one worker holds so that keep-alive clients spread over workers.
worker_class = "service.gunicorn_worker.MoonserveWorker"
threads = _settings.threads
worker_connections = _settings.worker_connections
keepalive = _settings.keepalive_s
timeout = _settings.timeout_s
graceful_timeout = _settings.graceful_timeout_s
# The app is built in each worker after fork (no preload), so each worker has its
# own model registry and reload thread.
preload_app = False
accesslog = None
errorlog = "-"
loglevel = _settings.log_level
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
proc_name = "moonserve"
# No gunicornc control socket: every instance would share one default path.
control_socket_disable = True


# Shared memory for the workers' connection counts (service/transport/accept_balance.py),
# mapped here in the master so every forked worker shares it; room for the workers
# being replaced while their successors start.
_accept_balance = AcceptBalance(slots=2 * _settings.workers + 2) if _settings.balance_connections else None


def pre_fork(server, worker):
    if _accept_balance is not None:
        taken = {getattr(other, "balance_slot", None) for other in server.WORKERS.values()}
        worker.accept_balance, worker.balance_slot = _accept_balance, _accept_balance.free_slot(taken)


def on_starting(server):
    """Empty the metrics folder before any worker starts: stale files from an earlier
    run would otherwise be summed into this one's counters."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def post_worker_init(worker):
    """Freeze what start-up allocated, so the collector no longer walks it on every
    full collection, and collect young objects less often: a 10,000-row request
    makes tens of thousands of short-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def on_exit(server):
    """Remove the metrics folder if this file made it; one the environment gave stays."""
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


def child_exit(server, worker):
    """A worker has gone (however it went): free its slot in the connection table at
    once, so no worker defers to it, and retire its live gauges' files."""
    from prometheus_client import multiprocess

    if _accept_balance is not None and hasattr(worker, "balance_slot"):
        _accept_balance.release(worker.balance_slot)
    multiprocess.mark_process_dead(worker.pid)

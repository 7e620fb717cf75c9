#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project from its lock files: what serving
# and training need (requirements/runtime.txt), or with `test` also the test tools
# (requirements/test.txt). Every package is pinned and hash-checked (--require-hashes);
# the project itself is installed editable on top, with no dependency resolution.
# Idempotent; says what it does on stderr. Usage: scripts/setup.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
lock=requirements/runtime.txt
what="the service and the trainer"
if [ "${1:-}" = test ]; then
  lock=requirements/test.txt
  what="the service, the trainer and the test tools"
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version 2>&1)" >&2
  "$PYTHON" -m venv .venv
fi
echo "setup: installing $what into .venv from $lock (pinned, hash-checked; a minute the first time, seconds after)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { .venv/bin/python -m pip install --require-hashes --only-binary :all: -r "$lock" \
       && .venv/bin/python -m pip install --no-deps -e .; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup: pip install failed (output above)" >&2
  exit 1
fi
.venv/bin/python -c "import trainer, service, flask, gunicorn, numpy, pydantic_settings, prometheus_client, orjson"

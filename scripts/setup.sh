#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project: what serving and training need,
# or with `test` also the test tools. Idempotent; says what it does on stderr.
# Usage: scripts/setup.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
target=.
what="the service and the trainer"
if [ "${1:-}" = test ]; then
  target=".[test]"
  what="the service, the trainer and the test tools"
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version 2>&1)" >&2
  "$PYTHON" -m venv .venv
fi
echo "setup: installing $what into .venv (pip; a minute the first time, seconds after)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e "$target"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup: pip install failed (output above)" >&2
  exit 1
fi
.venv/bin/python -c "import trainer, service, flask, gunicorn, numpy, pydantic_settings, prometheus_client, orjson"

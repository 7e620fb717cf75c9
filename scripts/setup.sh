#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install --quiet -e '.[test]' 2>&1 | grep -vE "is ignored|^\s*$" || true
.venv/bin/python -c "import trainer, flask, gunicorn, numpy, pydantic_settings, prometheus_client, orjson"

#!/usr/bin/env bash
# The main job: install, train a first model if none is there, then serve on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m trainer train --if-missing --models-dir "${MODELS_DIR:-models}" --name "${MODEL_NAME:-moons}"
exec .venv/bin/gunicorn -c service/gunicorn.conf.py service.wsgi:app

#!/usr/bin/env bash
# The main job: install, train a first model if none is there, then serve on
# 127.0.0.1:8000 (HOST and PORT override; the service has no authentication).
set -euo pipefail
export HOST=${HOST:-127.0.0.1}
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m trainer train --if-missing --models-dir "${MODELS_DIR:-models}" --name "${MODEL_NAME:-moons}"
exec .venv/bin/gunicorn -c service/gunicorn.conf.py service.wsgi:app

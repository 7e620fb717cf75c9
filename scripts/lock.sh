#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml after changing a dependency there:
#   requirements/runtime.txt  serving and training (the image, scripts/serve.sh)
#   requirements/test.txt     the same plus the `test` extra (scripts/test.sh, CI)
# uv resolves for every platform and for Python 3.11 and later (--universal), so one lock
# serves Linux, macOS and the image; each pin carries the hashes of all its files.
# `scripts/lock.sh --upgrade` moves every pin to the newest release pyproject.toml allows;
# without it, pins stay where they are unless pyproject.toml no longer allows them.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
if ! command -v "$UV" >/dev/null; then
  [ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet "uv>=0.5"
  UV=.venv/bin/uv
fi
common=(--python-version 3.11 --universal --generate-hashes --quiet "$@")
"$UV" pip compile pyproject.toml "${common[@]}" -o requirements/runtime.txt
"$UV" pip compile pyproject.toml --extra test "${common[@]}" -o requirements/test.txt
echo "lock: wrote requirements/runtime.txt and requirements/test.txt" >&2

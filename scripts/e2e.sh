#!/usr/bin/env bash
# The container end-to-end tests (the compose stack, then the swarm stack): installs Debian's docker.io, docker-compose and
# debootstrap where it can (root), then builds the image and runs the compose stack.
# The test starts its own dockerd when none runs, and skips with the reason if it can't.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
   && ! { command -v dockerd && command -v docker-compose && command -v debootstrap; } >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
fi
exec .venv/bin/python -m pytest -m docker tests/deploy/test_compose.py tests/deploy/test_swarm.py "$@"

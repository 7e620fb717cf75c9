#!/usr/bin/env bash
# Install, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# The proxy's tests run Debian's nginx for real, the manifests' tests kubectl's
# kustomize, the page tests Chromium; Debian's packages are installed here when they are missing and we may (root).
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
# the page tests drive Debian's Chromium through its chromedriver
command -v chromium >/dev/null && command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing ${missing[*]} (Debian's) for the proxy, manifest and page tests" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  { systemctl stop nginx || service nginx stop || pkill -x nginx; } >/dev/null 2>&1 || true
fi
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Build a model image: the service image (BASE, default moonserve:latest) plus the
# models folder MODELS_DIR, tagged TAG. See deploy/model-image/Dockerfile.
# Usage: [BASE=image] scripts/model-image.sh MODELS_DIR TAG
set -euo pipefail
models=${1:?usage: $0 MODELS_DIR TAG}
tag=${2:?usage: $0 MODELS_DIR TAG}
[ -d "$models" ] || { echo "model-image: $models is not a folder" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
docker build --quiet -f "$here/deploy/model-image/Dockerfile" --build-arg "BASE=${BASE:-moonserve:latest}" \
  -t "$tag" "$models" >/dev/null
echo "$tag"

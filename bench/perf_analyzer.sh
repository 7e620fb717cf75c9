#!/usr/bin/env bash
# Triton's perf_analyzer against the real service (a benchmark, not a CI test).
#
# perf_analyzer's wheels need glibc >= 2.38 and this project's machines may have less
# (Debian 12 has 2.36), so it runs inside a Debian 13 (trixie) root made with
# debootstrap from Debian's own packages; the service runs on the host, on 127.0.0.1.
# Needs root (debootstrap, mounts). The root is kept in $PA_ROOT for the next run.
#
#   sudo bash bench/perf_analyzer.sh                 # the README's table
#   sudo PA_ARGS="-x 1 --async -b 4" bash bench/perf_analyzer.sh   # one custom run
#   sudo BALANCE_CONNECTIONS=false bash bench/perf_analyzer.sh       # gunicorn's own accepting, for A/B
# Each concurrency is its own perf_analyzer run, with each worker's share of a core
# over it (bench/worker_cpu.py) beside the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${PA_ROOT:-/var/tmp/moonserve-trixie}
PORT=${PORT:-18931}
CONCURRENCY=${CONCURRENCY:-1 2 4 8}

if [ ! -x "$ROOT/opt/pa/bin/python" ]; then
  command -v debootstrap >/dev/null || { echo "perf_analyzer.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates trixie "$ROOT" \
    http://deb.debian.org/debian >/dev/null
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/root python3 -m venv /opt/pa
  chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/root /opt/pa/bin/pip install -q perf-analyzer
fi
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"

# The binary itself: the Python wrapper around it loses its exit code.
BINARY=$(chroot "$ROOT" sh -c 'ls /opt/pa/lib/python3*/site-packages/perf_analyzer/bin/perf_analyzer')

MODELS=$(mktemp -d)
SERVER=
trap 'umount "$ROOT/proc" "$ROOT/dev" 2>/dev/null || true; [ -z "$SERVER" ] || kill "$SERVER"; rm -rf "$MODELS"' EXIT
.venv/bin/python -m trainer train --models-dir "$MODELS" --no-plot >/dev/null
MODELS_DIR=$MODELS HOST=127.0.0.1 PORT=$PORT LOG_LEVEL=warning RELOAD_INTERVAL_S=0 \
  .venv/bin/gunicorn -c service/gunicorn.conf.py service.wsgi:app >"$MODELS/gunicorn.log" 2>&1 &
SERVER=$!
sleep 0.2
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null && break; sleep 0.1; done

run() {
  chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/root "$BINARY" -m moons -u "127.0.0.1:$PORT" -i http \
    --measurement-interval 3000 --stability-percentage 20 "$@"
}

if [ -n "${PA_ARGS:-}" ]; then
  # shellcheck disable=SC2086
  run $PA_ARGS
  exit
fi
for tensors in json binary; do
  flag=()
  [ "$tensors" = json ] && flag=(--input-tensor-format json --output-tensor-format json)
  echo "== $tensors tensors (BALANCE_CONNECTIONS=${BALANCE_CONNECTIONS:-true})"
  echo "| concurrency | infer/s | p50 ms | p99 ms | worker CPU (cores) | spread |"
  echo "|---:|---:|---:|---:|---|---:|"
  for concurrency in $CONCURRENCY; do
    .venv/bin/python bench/worker_cpu.py "$SERVER" -- chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/root \
      "$BINARY" -m moons -u "127.0.0.1:$PORT" -i http --measurement-interval 3000 --stability-percentage 20 \
      "${flag[@]}" --concurrency-range "$concurrency" -f "/tmp/$tensors.csv" >"$MODELS/$tensors.out" 2>"$MODELS/split"
    python3 - "$ROOT/tmp/$tensors.csv" "$(tail -1 "$MODELS/split")" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
shares, spread = sys.argv[2].removeprefix("worker CPU: ").split(" of a core; spread ")
print(f"| {row['Concurrency']} | {float(row['Inferences/Second']):,.0f} | {int(row['p50 latency']) / 1000:.2f} | "
      f"{int(row['p99 latency']) / 1000:.2f} | {shares} | {spread} |")
EOF
  done
done

#!/usr/bin/env bash
# Build a stand-in for the Dockerfiles' base images where they cannot be pulled: a Debian
# bookworm minbase root with Python 3.11 (debootstrap), imported under every TAG given
# (python:3.11-slim-bookworm for the service, debian:bookworm-slim for the proxy: one
# root, a superset of both, made once).
# Usage: [MIRROR=...] scripts/standin-python-image.sh TAG [TAG...]   (needs root, debootstrap, docker)
set -euo pipefail
tag=${1:?usage: $0 TAG [TAG...]}
mirror=${MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >&2
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
ln -sf /usr/bin/python3 "$root/usr/local/bin/python3"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >&2
for other in "${@:2}"; do
  docker tag "$tag" "$other" >&2
done
echo "$@"

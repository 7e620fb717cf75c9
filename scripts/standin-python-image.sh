#!/usr/bin/env bash
# Build a stand-in for the Dockerfile's base image where it cannot be pulled: a Debian
# bookworm minbase root with Python 3.11 (debootstrap), imported under the same tag.
# Usage: scripts/standin-python-image.sh TAG [MIRROR]   (needs root, debootstrap, docker)
set -euo pipefail
tag=${1:?usage: $0 TAG [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
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
echo "$tag"

#!/bin/sh
# Render nginx.conf.template from the API's environment variables and run nginx in the
# foreground. MOONSERVE_PROXY_RENDER_ONLY=1 only prints the rendered file's path.
set -eu
template=${MOONSERVE_PROXY_TEMPLATE:-/etc/moonserve/nginx.conf.template}
run_dir=${MOONSERVE_PROXY_RUN_DIR:-/tmp/moonserve-proxy}
mkdir -p "$run_dir"
ms() { awk -v s="$1" 'BEGIN { if (s !~ /^[0-9]+(\.[0-9]+)?$/) exit 1; printf "%dms", s * 1000 }' \
  || { echo "moonserve-proxy: $2 must be a number of seconds, got '$1'" >&2; exit 2; }; }
case "${MAX_BODY_BYTES:=2097152}" in *[!0-9]*|'') echo "moonserve-proxy: MAX_BODY_BYTES must be a number of bytes" >&2; exit 2;; esac
sed -e "s|@RUN_DIR@|$run_dir|g" \
    -e "s|@PORT@|${PROXY_PORT:-8000}|g" \
    -e "s|@API_UPSTREAM@|${API_UPSTREAM:-api:8000}|g" \
    -e "s|@RESOLVER@|${RESOLVER:-127.0.0.11}|g" \
    -e "s|@MAX_BODY_BYTES@|$MAX_BODY_BYTES|g" \
    -e "s|@HEADER_TIMEOUT@|$(ms "${HEADER_TIMEOUT_S:-2}" HEADER_TIMEOUT_S)|g" \
    -e "s|@BODY_TIMEOUT@|$(ms "${BODY_TIMEOUT_S:-10}" BODY_TIMEOUT_S)|g" \
    -e "s|@SEND_TIMEOUT@|$(ms "${SEND_TIMEOUT_S:-10}" SEND_TIMEOUT_S)|g" \
    -e "s|@KEEPALIVE@|$(ms "${KEEPALIVE_S:-5}" KEEPALIVE_S)|g" \
    "$template" > "$run_dir/nginx.conf"
if [ "${MOONSERVE_PROXY_RENDER_ONLY:-0}" = 1 ]; then
  echo "$run_dir/nginx.conf"
  exit 0
fi
exec nginx -e stderr -c "$run_dir/nginx.conf" -g 'daemon off;'

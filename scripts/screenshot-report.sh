#!/usr/bin/env bash
# Render an HTML report in Debian's chromium, headless, and save a screenshot: the
# check that the self-contained report really opens in a browser, offline.
#   scripts/screenshot-report.sh REPORT.html OUT.png [WIDTHxHEIGHT]
set -euo pipefail
html=$(realpath "${1:?REPORT.html}")
png=$(realpath -m "${2:?OUT.png}")
size=${3:-1400x1800}
command -v chromium >/dev/null || {
  echo "chromium missing: apt-get install chromium (scripts/peers/install.sh does)" >&2
  exit 2
}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: CI runs as root. No network is needed: the file has no external asset.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --window-size="${size/x/,}" \
  --screenshot="$png" "file://$html" >/dev/null 2>&1
[ -s "$png" ] || { echo "no screenshot written" >&2; exit 1; }
echo "screenshot: $png ($(stat -c %s "$png") octets)"

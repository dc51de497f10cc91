#!/usr/bin/env bash
# Run .clusterfuzzlite/build.sh here, as the ClusterFuzzLite builder would (stable Rust,
# no sanitizer), and check that every cargo-fuzz target came out as a binary in $OUT,
# with its dictionary and options.
#   scripts/check-cflite-build.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
command -v zip >/dev/null || { echo "zip missing (apt-get install zip)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$root" "$work/smtpspec"
SRC=$work OUT=$work/out bash "$root/.clusterfuzzlite/build.sh"
missing=0
for t in $(cd "$root/fuzz" && cargo fuzz list); do
  if [ -x "$work/out/$t" ] && [ -s "$work/out/$t.dict" ] && [ -s "$work/out/$t.options" ]; then
    echo "built: $t ($(du -h "$work/out/$t" | cut -f1))"
  else
    echo "MISSING: $t" >&2
    missing=1
  fi
done
exit $missing

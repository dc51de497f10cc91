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
mapfile -t targets < <(cd "$root/fuzz" && cargo fuzz list)
[ ${#targets[@]} -gt 0 ] || { echo "cargo fuzz list gave no target" >&2; exit 1; }
for t in "${targets[@]}"; do
  for f in "$t" "$t.dict" "$t.options"; do
    [ -s "$work/out/$f" ] || { echo "MISSING: $f" >&2; missing=1; }
  done
  [ -x "$work/out/$t" ] && echo "built: $t ($(du -h "$work/out/$t" | cut -f1)), with $t.dict and $t.options"
done
exit $missing

#!/usr/bin/env bash
# How the harness's wall time compares with its slowest case: a run that takes the
# target's concurrency should last little more than the longest case in it. Runs the
# catalogue against the embedded server with every reply 200 ms late (`--variant
# slow-replies`) and, given one, against a target profile; prints wall time, the
# slowest case and the ratio (a figure, not a test).
#   scripts/harness-scale.sh [PROFILE.yaml ...]
# SMTPSPEC_BIN=path uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SMTPSPEC_BIN:-target/release/smtpspec}
if [ -z "${SMTPSPEC_BIN:-}" ]; then cargo build --release -q -p smtpspec; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
measure() { # LABEL ARGS...
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$bin" run "$@" --format json --output "$work/r.json" --color never > /dev/null 2>&1 || true
  end=$(date +%s.%N)
  python3 - "$label" "$start" "$end" "$work/r.json" <<'PY'
import json, sys
label, start, end, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(path))
ran = [c for c in r["cases"] if c["verdict"] != "skip"]
slowest = max(ran, key=lambda c: c["duration_ms"])
wall = end - start
total = sum(c["duration_ms"] for c in ran) / 1000
pacing = r.get("pacing") or {}
print(f"{label}: {len(ran)} cases ran in {wall:.1f} s wall; slowest case {slowest['id']} "
      f"{slowest['duration_ms'] / 1000:.1f} s; wall / slowest = {wall / (slowest['duration_ms'] / 1000):.2f}; "
      f"sum of case times {total:.1f} s; at once: {pacing.get('initial', '?')} to {pacing.get('last', '?')}")
PY
}
measure "embedded, every reply 200 ms late (--variant slow-replies)" --variant slow-replies
measure "embedded, as shipped" 
for p in "$@"; do
  measure "$p" --target "$p"
done

#!/usr/bin/env bash
# Network fuzzer throughput: `smtpspec fuzz` against the embedded reference server for
# SECONDS (default 20), a fixed seed, and the figures of its stats.json printed.
#   scripts/fuzz-bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
cargo build --release -q -p smtpspec
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
target/release/smtpspec fuzz --duration "${secs}s" --seed 1 --output-dir "$out" >/dev/null 2>&1 || status=$?
python3 - "$out/stats.json" "$status" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"embedded reference server: {s['sessions']} sessions in {s['elapsed_s']:.1f} s = "
      f"{s['sessions_per_s']:.0f} sessions/s, {s['signature_bits']} distinct states, "
      f"corpus {s['corpus']}, findings {s['findings']}, throttled {s['throttled']}, "
      f"unanswered steps {s['unanswered_steps']} (exit {sys.argv[2]})")
if sys.argv[2] != "0":
    sys.exit("the reference server must give no finding")
PY

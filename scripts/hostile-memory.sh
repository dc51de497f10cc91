#!/usr/bin/env bash
# Peak memory and wall time of `smtpspec run` against hostile targets (no reply, an
# endless line, endless continuation lines, a dripping greeting, immediate close).
# Prints one line per target; a figure, not a test.
#   scripts/hostile-memory.sh [TIMEOUT] [PATHS...]
set -euo pipefail
cd "$(dirname "$0")/.."
timeout=${1:-2s}; shift || true
paths=("$@"); [ ${#paths[@]} -gt 0 ] || paths=(scenarios)
bin=target/release/smtpspec
[ -x "$bin" ] || cargo build --release -q -p smtpspec
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt install time)"; exit 2; }
port=26000
printf '%-10s %8s %8s %s\n' target peak_MB wall_s verdicts
for mode in silent endless multiline drip reset; do
  port=$((port + 1))
  python3 scripts/hostile-targets.py "$mode" "$port" 120 & pid=$!
  sleep 0.3
  stats=$(mktemp)
  set +e
  /usr/bin/time -f '%M %e' -o "$stats" "$bin" run "${paths[@]}" --target "127.0.0.1:$port" \
        --timeout "$timeout" --color never > "$stats.out" 2>&1
  code=$?
  # The counts and the verdict sentence after them (the grade line follows them).
  out=$(awk '/^[0-9]+ cases: / { c = $0; getline v; print c " — " v; exit }' "$stats.out")
  [ -n "$out" ] || out=$(tail -1 "$stats.out")
  rm -f "$stats.out"
  set -e
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  read -r kb secs < <(tail -1 "$stats"); rm -f "$stats"
  printf '%-10s %8.1f %8s %s (exit %s)\n' "$mode" "$(echo "$kb/1024" | bc -l)" "$secs" "$out" "$code"
done

#!/usr/bin/env bash
# Client fuzzing against the real clients: `smtpspec fuzz --client` once per client
# profile under scenarios/targets/clients/ (all modes each profile gives), then one
# line per client: sessions, rate, exits, distinct behaviours, findings by class.
#
#   scripts/fuzz-clients.sh [DURATION] [OUT_DIR] [CLIENT...]    # default: 5m fuzz-clients
#
# Needs the clients: scripts/peers/install.sh (root). A client whose program is missing
# fails its campaign (exit 3 from smtpspec), and the script says so and exits 1.
# SEED fixes the generator (default 1); PARALLEL runs that many campaigns at once
# (default 1: each campaign already starts up to 4 clients at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5m}
out=${2:-fuzz-clients}
shift 2 || shift $# || true
clients=("$@")
if [ ${#clients[@]} -eq 0 ]; then
  for p in scenarios/targets/clients/*.yaml; do clients+=("$(basename "$p" .yaml)"); done
fi
seed=${SEED:-1}
parallel=${PARALLEL:-1}
cargo build --release -q -p smtpspec
bin=target/release/smtpspec
mkdir -p "$out"

campaign() {  # CLIENT
  local c=$1 status=0
  "$bin" fuzz --client "scenarios/targets/clients/$c.yaml" --duration "$duration" \
    --seed "$seed" --output-dir "$out/$c" > "$out/$c.log" 2>&1 || status=$?
  echo "$status" > "$out/$c.status"
}

running=0
for c in "${clients[@]}"; do
  campaign "$c" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '%-11s %8s %7s %6s  %-40s %s\n' client sessions "per s" states exits findings
for c in "${clients[@]}"; do
  status=$(cat "$out/$c.status")
  if [ "$status" -gt 1 ]; then
    echo "$c: the campaign failed (exit $status): $(tail -1 "$out/$c.log")" >&2
    failed=1
    continue
  fi
  python3 - "$out/$c/stats.json" "$c" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
exits = ",".join(f"{k}:{v}" for k, v in s["exits"].items())
found = ",".join(f"{k}:{v}" for k, v in s["findings"].items()) or "none"
print(f"{sys.argv[2]:<11} {s['sessions']:>8} {s['sessions_per_s']:>7.1f} "
      f"{s['signature_bits']:>6}  {exits:<40} {found}")
PY
done
echo "findings and transcripts: $out/<client>/findings/"
exit "$failed"

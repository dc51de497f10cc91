#!/usr/bin/env bash
# Network fuzzer throughput, side by side in one run: `smtpspec fuzz` against the
# embedded reference server, then against Postfix's fuzz profile
# (scripts/peers/postfix.sh: error sleep, error limits and in_flow_delay lifted), each
# for SECONDS (default 20) with a fixed seed; the figures of each stats.json printed.
#   scripts/fuzz-bench.sh [SECONDS]
# The embedded server must give no finding. Postfix's findings are printed, not judged
# here. Postfix's replies come at the pace of its process wake-ups, so its run keeps 48
# sessions in flight (--jobs 48); the embedded run uses the default 16.
# Without Postfix (scripts/peers/install.sh) the second figure is missing: said loudly,
# and an error when CI is set.
# The binary is built with the `dist` profile (fat LTO, one codegen unit: what a
# release ships); SMTPSPEC_BENCH_PROFILE=release reuses the everyday build (CI does,
# to save the ten-minute fat link).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
profile=${SMTPSPEC_BENCH_PROFILE:-dist}
cargo build --profile "$profile" -q -p smtpspec
bin=target/$profile/smtpspec
echo "smtpspec built with the $profile profile"
out=$(mktemp -d)
chmod 755 "$out"
trap 'scripts/peers/postfix.sh stop "$out/pf" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

report() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
name, path, status = sys.argv[1], sys.argv[2], sys.argv[3]
s = json.load(open(path))
print(f"{name}: {s['sessions']} sessions in {s['elapsed_s']:.1f} s = "
      f"{s['sessions_per_s']:.0f} sessions/s, {s['signature_bits']} distinct states, "
      f"corpus {s['corpus']}, findings {s['findings']}, throttled {s['throttled']}, "
      f"closed after a refusal {s['closed_after_refusal']}, "
      f"unanswered steps {s['unanswered_steps']}, unconfirmed {s.get('unconfirmed', 0)} "
      f"{s.get('unconfirmed_by') or ''} (exit {status})")
PY
}

status=0
$bin fuzz --duration "${secs}s" --seed 1 --output-dir "$out/embedded" \
  >/dev/null 2>&1 || status=$?
report "embedded reference server" "$out/embedded/stats.json" "$status"
if [ "$status" != 0 ]; then
  echo "the reference server must give no finding:" >&2
  cat "$out"/embedded/findings/* >&2 2>/dev/null || true
  exit 1
fi

if ! command -v postfix >/dev/null; then
  echo "POSTFIX MISSING: no Postfix figure (run scripts/peers/install.sh)" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 0
fi
scripts/peers/postfix.sh start "$out/pf" 25291 25293 25295 25297 >/dev/null
status=0
$bin fuzz --target "$out/pf/postfix-fuzz.yaml" --jobs 48 \
  --duration "${secs}s" --seed 1 --output-dir "$out/postfix" >/dev/null 2>&1 || status=$?
[ "$status" -le 1 ] || { echo "smtpspec fuzz exited $status against Postfix" >&2; exit 1; }
report "Postfix $(postconf -d -h mail_version) (fuzz profile)" "$out/postfix/stats.json" "$status"
for f in "$out"/postfix/findings/*.yaml; do
  [ -e "$f" ] && echo "  finding: $(basename "$f" .yaml): $(sed -n 3p "$f" | cut -c3-)"
done
python3 - "$out/embedded/stats.json" "$out/postfix/stats.json" <<'PY'
import json, sys
e, p = (json.load(open(f))["sessions_per_s"] for f in sys.argv[1:])
print(f"ratio: the embedded server takes {e / p:.1f}x the sessions/s of Postfix")
PY

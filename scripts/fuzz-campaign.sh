#!/usr/bin/env bash
# The network fuzzer against every server peer the project installs, then across
# them: one campaign each against Postfix (its default and hardened services), Exim
# and aiosmtpd, then a differential campaign across the four and the reference
# server; each for SECONDS (default 600, the full size, run by hand; CI runs it for
# a few seconds). Prints each campaign's figures, its findings (class and what) and
# the differential matrix; every finding, reproducer and transcript stays under OUT.
#   scripts/fuzz-campaign.sh [SECONDS] [OUT]
# Peers come from scripts/peers/install.sh; a missing one is said loudly, and is an
# error when CI is set. A campaign that cannot fuzz its target (exit 3) fails the
# script; findings (exit 1) are what it is for, and are printed, not judged.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
chmod 755 "$out"
peers=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}
cargo build --release -q -p smtpspec
bin=target/release/smtpspec

aio_pid=
cleanup() {
  scripts/peers/postfix.sh stop "$out/pf" >/dev/null 2>&1 || true
  scripts/peers/exim.sh stop "$out/exim" >/dev/null 2>&1 || true
  [ -z "$aio_pid" ] || kill "$aio_pid" 2>/dev/null || true
}
trap cleanup EXIT

missing() {
  echo "$1 MISSING: its campaign is left out (run scripts/peers/install.sh)" >&2
  [ -z "${CI:-}" ] || exit 1
}

targets=()
if command -v postfix >/dev/null; then
  scripts/peers/postfix.sh start "$out/pf" 25371 25373 25375 25376 >/dev/null
  targets+=("postfix-default=$out/pf/postfix-default.yaml" "postfix-hardened=$out/pf/postfix-hardened.yaml")
else
  missing POSTFIX
fi
if [ -x "$peers/exim/usr/sbin/exim4" ]; then
  scripts/peers/exim.sh start "$out/exim" 25377 >/dev/null
  targets+=("exim=$out/exim/exim.yaml")
else
  missing EXIM
fi
if [ -x "$peers/venv/bin/python3" ]; then
  "$peers/venv/bin/python3" scripts/peers/aiosmtpd_peer.py --listen 127.0.0.1:25379 \
    --dir "$out/aiosmtpd" --profile "$out/aiosmtpd.yaml" >"$out/aiosmtpd.log" 2>&1 &
  aio_pid=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/25379) 2>/dev/null && [ -s "$out/aiosmtpd.yaml" ] && break
    sleep 0.1
  done
  targets+=("aiosmtpd=$out/aiosmtpd.yaml")
else
  missing AIOSMTPD
fi

summary() {
  python3 - "$@" <<'PY'
import json, pathlib, sys
name, out, status = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
s = json.load(open(out / "stats.json"))
print(f"{name}: {s['sessions']} sessions in {s['elapsed_s']:.0f} s "
      f"({s['sessions_per_s']:.0f}/s), {s['signature_bits']} states, corpus {s['corpus']}, "
      f"findings {s['findings'] or 'none'}, throttled {s['throttled']}, "
      f"closed after a refusal {s['closed_after_refusal']}, "
      f"unanswered steps {s['unanswered_steps']}, unconfirmed {s.get('unconfirmed_by') or 0}, "
      f"slowed after errors {s.get('slowed_after_errors', 0)} (exit {status})")
for f in sorted((out / "findings").glob("*.yaml")):
    titles = [l.split("title:", 1)[1].strip().strip('"')
              for l in f.read_text(errors="replace").splitlines() if "title:" in l]
    print(f"  {f.stem}: {titles[0] if titles else ''}")
PY
}

seed=11
# campaign NAME ARGS...: one `smtpspec fuzz` into $out/NAME, its summary printed;
# its own output in $out/NAME.fuzz.log (not a peer's log, which is watched).
campaign() {
  local name=$1 status=0
  shift
  "$bin" fuzz "$@" --duration "${secs}s" --seed "$seed" --output-dir "$out/$name" \
    >"$out/$name.fuzz.log" 2>&1 || status=$?
  if [ "$status" -gt 1 ]; then
    echo "smtpspec fuzz exited $status ($name):" >&2
    tail -5 "$out/$name.fuzz.log" >&2
    exit 1
  fi
  summary "$name" "$out/$name" "$status"
}

for t in "${targets[@]}"; do
  name=${t%%=*}; profile=${t#*=}
  # Postfix's and Exim's profiles name their pid file and logs; aiosmtpd's process
  # and output are named here.
  watch=()
  [ "$name" != aiosmtpd ] || watch=(--watch-pid "$aio_pid" --watch-log "$out/aiosmtpd.log")
  campaign "$name" --target "$profile" ${watch[@]+"${watch[@]}"}
done

if [ "${#targets[@]}" -ge 2 ]; then
  args=()
  for t in "${targets[@]}"; do args+=(--target "${t#*=}"); done
  echo "differential: ${targets[*]%%=*} and the reference server"
  campaign differential "${args[@]}" --timeout 1s
  sed -n '1,/^$/p;/^|/p' "$out/differential/disagreements.md" | head -20 || true
fi
echo "everything is under $out"

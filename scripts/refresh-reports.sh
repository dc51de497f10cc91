#!/usr/bin/env bash
# Regenerate the committed reports under reports/: the catalogue against the reference
# server, Postfix (default, hardened, TLS required), aiosmtpd, Exim and nodemailer's
# smtp-server, the client suites against six clients (reports/clients/), Postfix as a
# sender and Postfix (default, hardened) and Exim as relays (reports/senders/), as JSON
# without transcripts (CI compares verdicts with scripts/compare-reports.py), plus the
# matrix in HTML and Markdown and the smuggling chains, relays × receivers
# (reports/chains.md). Needs the peers: scripts/peers/install.sh (root).
#   scripts/refresh-reports.sh [OUT_DIR]      # default: reports/
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-reports}
mkdir -p "$out"
cargo build --release -q -p smtpspec
bin=target/release/smtpspec
work=$(mktemp -d)
chmod 755 "$work"
trap 'scripts/peers/postfix.sh stop "$work/pf" >/dev/null 2>&1 || true; scripts/peers/exim.sh stop "$work/exim" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/peers/postfix.sh start "$work/pf" 25251 25253 >/dev/null
scripts/peers/exim.sh start "$work/exim" 25255 >/dev/null
normalize() {  # SRC DST: drop transcripts, times and ports; verdicts and reasons stay
  python3 - "$1" "$2" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
r["started"] = r["finished"] = "1970-01-01T00:00:00Z"
r["target"]["address"] = re.sub(r":\d+$", ":PORT", r["target"]["address"])
for c in r["cases"]:
    c["transcript"] = []
    c["duration_ms"] = 0
    c["reason"] = re.sub(r"smtpspec-[a-z0-9-]+-[0-9a-f]{8,}", "TOKEN", c["reason"])
    c["reason"] = re.sub(r"queued as [A-Za-z0-9.-]+", "queued as ID", c["reason"])
    c["reason"] = re.sub(r"OK id=[A-Za-z0-9-]+", "OK id=ID", c["reason"])
    c["reason"] = re.sub(r"/tmp/[A-Za-z0-9._/-]+", "/tmp/...", c["reason"])
    c.pop("retries", None)
r.pop("pacing", None)
json.dump(r, open(sys.argv[2], "w"), indent=2)
open(sys.argv[2], "a").write("\n")
PY
  echo "${2#"$out/"}: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['summary'])" "$2")"
}
# SMTPSPEC_RAW_DIR=DIR keeps the reports with their transcripts there (the evidence
# reports/REVIEW.md quotes).
raw=${SMTPSPEC_RAW_DIR:-}
run() {  # name, then smtpspec arguments (run ... or client ...)
  local name=$1 status=0; shift
  case ${1:-} in client) ;; *) set -- run "$@" ;; esac
  "$bin" "$@" --format json --output "$work/$name.json" 2>/dev/null || status=$?
  [ "$status" -le 1 ] || { echo "smtpspec exited $status for $name" >&2; exit 1; }
  normalize "$work/$name.json" "$out/$name.json"
  if [ -n "$raw" ]; then mkdir -p "$(dirname "$raw/$name.json")"; cp "$work/$name.json" "$raw/$name.json"; fi
}
run reference
run postfix-default --target "$work/pf/postfix-default.yaml"
run postfix-hardened --target "$work/pf/postfix-hardened.yaml"
run postfix-tls-required --target "$work/pf/postfix-tls-required.yaml"
run aiosmtpd --target scenarios/targets/aiosmtpd.yaml
run exim --target "$work/exim/exim.yaml"
run smtp-server --target scenarios/targets/smtp-server.yaml
reports=("$out/reference.json" "$out/postfix-default.json" "$out/postfix-hardened.json"
  "$out/postfix-tls-required.json"
  "$out/aiosmtpd.json" "$out/exim.json" "$out/smtp-server.json")
"$bin" report "${reports[@]}" --format html --output "$out/matrix.html"
"$bin" report "${reports[@]}" --format markdown --output "$out/matrix.md"
# The clients (smtpspec plays the server): scenarios/targets/clients/*.yaml.
mkdir -p "$out/clients" "$work/clients"
clients=()
for c in swaks msmtp curl smtplib nodemailer lettre; do
  run "clients/$c" client --client "scenarios/targets/clients/$c.yaml"
  clients+=("$out/clients/$c.json")
done
"$bin" report "${clients[@]}" --format html --output "$out/clients/matrix.html"
"$bin" report "${clients[@]}" --format markdown --output "$out/clients/matrix.md"
# Postfix as the sender of the delivery cases, in a network namespace through the
# fake DNS (scripts/peers/postfix-mx.sh); Postfix hardened and Exim as relays of the
# relay-chain smuggling cases (POSTFIX_MX_SENDER=hardened, scripts/peers/exim-mx.sh).
mkdir -p "$out/senders" "$work/senders"
sender() {  # name, then the script and its environment
  local name=$1 status=0; shift
  env SMTPSPEC_BIN="$(pwd)/$bin" "$@" "$work/mx-$name" --format json \
    --output "$work/senders/$name.json" >/dev/null 2>&1 || status=$?
  [ "$status" -le 1 ] || { echo "$* exited $status" >&2; exit 1; }
  normalize "$work/senders/$name.json" "$out/senders/$name.json"
  if [ -n "$raw" ]; then mkdir -p "$raw/senders"; cp "$work/senders/$name.json" "$raw/senders/$name.json"; fi
}
sender postfix scripts/peers/postfix-mx.sh
sender postfix-hardened POSTFIX_MX_SENDER=hardened scripts/peers/postfix-mx.sh
sender exim scripts/peers/exim-mx.sh
# The smuggling chains: each relay against each receiver.
relays=("$out/senders/postfix.json" "$out/senders/postfix-hardened.json" "$out/senders/exim.json")
"$bin" report --chains "${relays[@]}" "${reports[@]}" --output "$out/chains.md"
echo "reports written to $out/"

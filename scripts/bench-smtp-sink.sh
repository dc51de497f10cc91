#!/usr/bin/env bash
# Throughput of the reference server next to Postfix's smtp-sink, in the same run,
# driven by Postfix's smtp-source over loopback. Prints msgs/s for each and the ratio.
#
#   scripts/bench-smtp-sink.sh [MESSAGES] [SESSIONS] [SIZE] [ROUNDS]
#
# Defaults: 10000 messages, 8 parallel sessions, 1000-octet messages, 3 rounds. Each
# round runs every server once, interleaved, and the median round is reported:
#   1. smtp-sink                                  (Postfix's event-loop sink)
#   2. aiosmtpd with its Sink handler             (the Python peer, a second anchor)
#   3. smtpspec serve --store discard --threads 1 (same work, one thread, like smtp-sink)
#   4. smtpspec serve --store discard             (the default shape for this machine)
#   5. smtpspec serve --store discard --threads N (one worker per core, N = cores)
#   6. smtpspec serve --maildir DIR               (durable: group commit, see the fsyncs)
# smtp-source runs on the same machine and takes a core of its own.
# Needs postfix installed (scripts/peers/install.sh). Traffic stays on 127.0.0.1.
set -euo pipefail

messages=${1:-10000}
sessions=${2:-8}
size=${3:-1000}
rounds=${4:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v smtp-source >/dev/null || { echo "bench: smtp-source missing; run scripts/peers/install.sh" >&2; exit 2; }
# The `dist` profile (fat LTO): what a release ships. SMTPSPEC_BENCH_PROFILE=release
# measures the everyday build instead.
profile=${SMTPSPEC_BENCH_PROFILE:-dist}
cargo build --profile "$profile" -q -p smtpspec --manifest-path "$root/Cargo.toml"
bin="$root/target/$profile/smtpspec"

# smtp-source and smtp-sink read main.cf; the package ships none.
mkdir -p "$work/etc"
: > "$work/etc/main.cf"
export MAIL_CONFIG="$work/etc"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on $1" >&2
  exit 1
}

measure() { # port -> msgs/s
  local start end
  start=$(date +%s.%N)
  smtp-source -s "$sessions" -m "$messages" -l "$size" -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1"
  end=$(date +%s.%N)
  python3 -c "print(f'{$messages/($end-$start):.0f}')"
}

p_sink=$(free_port)
smtp-sink -u nobody "127.0.0.1:$p_sink" 256 & pids+=($!)
p_one=$(free_port)
"$bin" serve --listen "127.0.0.1:$p_one" --store discard --threads 1 >/dev/null 2>&1 & pids+=($!)
p_discard=$(free_port)
"$bin" serve --listen "127.0.0.1:$p_discard" --store discard >/dev/null 2>&1 & pids+=($!)
p_cores=$(free_port)
"$bin" serve --listen "127.0.0.1:$p_cores" --store discard --threads "$(nproc)" >/dev/null 2>&1 & pids+=($!)
p_maildir=$(free_port)
"$bin" serve --listen "127.0.0.1:$p_maildir" --maildir "$work/Maildir" > "$work/maildir.log" 2>&1 &
maildir_pid=$!; pids+=($maildir_pid)
names="sink one discard cores maildir"
peers=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}
if "$peers/venv/bin/python3" -c 'import aiosmtpd' 2>/dev/null; then
  p_aio=$(free_port)
  "$peers/venv/bin/python3" -m aiosmtpd -n -l "127.0.0.1:$p_aio" -c aiosmtpd.handlers.Sink & pids+=($!)
  names="sink aio one discard cores maildir"
else
  echo "bench: aiosmtpd missing ($peers/venv): that anchor is left out" >&2
fi
for name in $names; do port_var="p_$name"; wait_port "${!port_var}"; done

echo "smtp-source: $messages messages of $size octets over $sessions sessions, $rounds rounds, $(nproc) cores"
declare -A runs
for r in $(seq "$rounds"); do
  for name in $names; do
    port_var="p_$name"
    runs[$name]+="$(measure "${!port_var}") "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
sink=$(median "${runs[sink]}")
ratio() { python3 -c "print(f'{$1/$sink:.2f}x')"; }
stored=$(find "$work/Maildir/new" -type f | wc -l)
printf '%-44s %8s msgs/s  (runs: %s)\n' "smtp-sink (Postfix)" "$sink" "${runs[sink]}"
for name in $names; do
  [ "$name" = sink ] && continue
  case $name in
    aio) label="aiosmtpd (Sink handler)" ;;
    one) label="smtpspec serve --store discard --threads 1" ;;
    discard) label="smtpspec serve --store discard (default)" ;;
    cores) label="smtpspec serve --store discard --threads $(nproc)" ;;
    maildir) label="smtpspec serve --maildir (fsync)" ;;
  esac
  m=$(median "${runs[$name]}")
  printf '%-44s %8s msgs/s  %s of smtp-sink  (runs: %s)\n' "$label" "$m" "$(ratio "$m")" "${runs[$name]}"
done
# The Maildir server says at shutdown how many fsyncs its messages took.
kill -TERM "$maildir_pid"; wait "$maildir_pid" 2>/dev/null || true
grep -o 'stored .*' "$work/maildir.log" | sed 's/^/Maildir: /'
echo "Maildir: $stored files in new/ (expected $((messages * rounds)))"

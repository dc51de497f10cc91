#!/usr/bin/env bash
# Throughput of the reference server next to Postfix's smtp-sink and aiosmtpd, in the
# same run, under two loads, with the issue's goals checked in the median of the rounds.
#
#   scripts/bench-smtp-sink.sh [MESSAGES] [SESSIONS] [SIZE] [ROUNDS]
#
# Defaults: 10000 messages, 8 parallel sessions, 1000-octet messages, 3 rounds. Each
# round runs every server under each load once, interleaved; the median is reported.
# Servers:
#   sink      smtp-sink                                   (Postfix's event-loop sink)
#   aio       aiosmtpd with its Sink handler              (the Python peer, a second anchor)
#   one       smtpspec serve --store discard --threads 1  (one thread, like smtp-sink)
#   discard   smtpspec serve --store discard              (the default shape here)
#   cores     smtpspec serve --store discard --threads N  (one worker per core)
#   maildir   smtpspec serve --maildir DIR                (durable: an fdatasync per file,
#                                                          one directory sync per round)
#   mdfs      smtpspec serve --maildir DIR --maildir-sync file-system  (one syncfs per round)
# Loads:
#   smtp-source   Postfix's generator: a connection per message, one command at a time
#                 (MESSAGES messages); its round trips set much of the pace
#   pipelined     harness/examples/smtp-load.rs: sessions kept open, content and the
#                 next MAIL RCPT DATA in one write (RFC 2920), so the server's work sets
#                 the pace (20 x MESSAGES to the discarding servers, MESSAGES to the rest)
# Both generators run on the same machine and take CPU of their own. smtp-source's
# share of a core is printed next to each of its rates: near 100%, the generator sets
# the pace and the ratios under it say more about smtp-source than about the servers
# (the CPU/msg column then compares the servers). Before the rounds, a probe times the
# spool disk's two syncs a durable message waits for; the Maildir figures depend on it,
# and on the file system's history (the SMTPSPEC_BENCH_DIR note below).
# Needs postfix installed (scripts/peers/install.sh). Traffic stays on 127.0.0.1.
set -euo pipefail

messages=${1:-10000}
sessions=${2:-8}
size=${3:-1000}
rounds=${4:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
# The Maildirs go where SMTPSPEC_BENCH_DIR says (default /var/tmp): file creation on
# ext4 slows down by half or more in a place where many files were just deleted (a
# busy /tmp), so the durable figures depend on where, and on that file system's history.
spool=$(mktemp -d -p "${SMTPSPEC_BENCH_DIR:-/var/tmp}" smtpspec-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$spool"
}
trap cleanup EXIT

command -v smtp-source >/dev/null || { echo "bench: smtp-source missing; run scripts/peers/install.sh" >&2; exit 2; }
# The `dist` profile (fat LTO): what a release ships. SMTPSPEC_BENCH_PROFILE=release
# measures the everyday build instead.
profile=${SMTPSPEC_BENCH_PROFILE:-dist}
cargo build --profile "$profile" -q -p smtpspec --manifest-path "$root/Cargo.toml" --bin smtpspec --example smtp-load
bin="$root/target/$profile/smtpspec"
load="$root/target/$profile/examples/smtp-load"

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

# smtp-source's own CPU time goes with each rate: a generator near a whole core sets the
# pace, and then no server can go faster than it, however little the server costs.
# `time` reports on the shell's stderr, which is captured; smtp-source's own stderr goes
# to the terminal (descriptor 3) and its failure stops the bench. LC_ALL=C: `time`
# writes the locale's decimal mark.
source_rate() { # port -> "msgs/s client-CPU-%" under smtp-source
  local LC_ALL=C TIMEFORMAT='%R %U %S' times real user sys
  times=$({ time smtp-source -s "$sessions" -m "$messages" -l "$size" \
    -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1" >/dev/null 2>&3; } 3>&2 2>&1) ||
    { echo "bench: smtp-source against port $1 failed" >&2; return 1; }
  read -r real user sys <<<"$times"
  python3 -c "print(f'{$messages/$real:.0f} {($user+$sys)*100/$real:.0f}')"
}
pipelined_rate() { # port count [--pipeline] -> msgs/s under the generator
  "$load" "127.0.0.1:$1" --sessions "$sessions" --messages "$2" --size "$size" ${3:-} |
    sed -E 's/.*: ([0-9]+) msgs\/s/\1/'
}

start_serve() { # name, then serve's arguments
  local name=$1 port
  shift
  port=$(free_port)
  "$bin" serve --listen "127.0.0.1:$port" "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  printf -v "p_$name" '%s' "$port"
  printf -v "pid_$name" '%s' "$!"
}
p_sink=$(free_port)
smtp-sink -u nobody "127.0.0.1:$p_sink" 256 & pids+=($!); pid_sink=$!
start_serve one --store discard --threads 1
start_serve discard --store discard
start_serve cores --store discard --threads "$(nproc)"
start_serve maildir --maildir "$spool/Maildir"
start_serve mdfs --maildir "$spool/Maildir-fs" --maildir-sync file-system
names="sink one discard cores maildir mdfs"
peers=${SMTPSPEC_PEERS:-/opt/smtpspec-peers}
if "$peers/venv/bin/python3" -c 'import aiosmtpd' 2>/dev/null; then
  p_aio=$(free_port)
  "$peers/venv/bin/python3" -m aiosmtpd -n -l "127.0.0.1:$p_aio" -c aiosmtpd.handlers.Sink & pids+=($!); pid_aio=$!
  names="sink aio one discard cores maildir mdfs"
else
  echo "bench: aiosmtpd missing ($peers/venv): that anchor is left out" >&2
fi
for name in $names; do port_var="p_$name"; wait_port "${!port_var}"; done

# What the spool's disk costs a durable message, before the rounds: a file
# created, written and fdatasync'd, then renamed and its directory fsync'd (the two
# ordered syncs every acknowledged Maildir message waits for), 200 of each.
disk_syncs() { # dir -> "data-sync-us name-sync-us"
  python3 - "$1" "$size" <<'PY'
import os, sys, time
d, size, n = sys.argv[1], int(sys.argv[2]), 200
os.makedirs(f"{d}/tmp")
os.makedirs(f"{d}/new")
data = b"x" * size
start = time.perf_counter()
for i in range(n):
    f = os.open(f"{d}/tmp/{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(f, data)
    os.fdatasync(f)
    os.close(f)
mid = time.perf_counter()
new = os.open(f"{d}/new", os.O_RDONLY)
for i in range(n):
    os.rename(f"{d}/tmp/{i}", f"{d}/new/{i}")
    os.fsync(new)
end = time.perf_counter()
print(f"{(mid - start) * 1e6 / n:.0f} {(end - mid) * 1e6 / n:.0f}")
PY
}
read -r data_sync name_sync <<<"$(disk_syncs "$spool/probe")"
rm -rf "$spool/probe"
[ -n "$name_sync" ] || { echo "bench: the disk probe in $spool failed" >&2; exit 1; }
echo "spool: $spool ($(df -PT "$spool" | awk 'NR == 2 {print $2}')): a $size-octet file written and fdatasync'd ${data_sync} us, renamed and its directory fsync'd ${name_sync} us"

many=$((messages * 20))
echo "$rounds rounds; $sessions sessions; $size-octet messages; $(nproc) cores"
echo "smtp-source: $messages messages per server; pipelined: $many to the discarding servers, $messages to the others"
# The server's own CPU time per message (user + system, from /proc): what the server
# costs, whoever sets the pace.
tick=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
per_message() { python3 -c "print(f'{($2-$1)*1e6/$tick/$3:.1f}')"; }
declare -A source pipelined source_cpu pipelined_cpu source_client
for r in $(seq "$rounds"); do
  for name in $names; do
    port_var="p_$name"
    pid_var="pid_$name"
    before=$(cpu_ticks "${!pid_var}")
    out=$(source_rate "${!port_var}")
    read -r rate client <<<"$out"
    source[$name]+="$rate "
    source_client[$name]+="$client "
    after=$(cpu_ticks "${!pid_var}")
    source_cpu[$name]+="$(per_message "$before" "$after" "$messages") "
    case $name in sink|one|discard|cores) n=$many ;; *) n=$messages ;; esac
    # aiosmtpd does not offer PIPELINING (RFC 2920 §3.1: then the client must not
    # pipeline): its sessions stay open but send one command at a time.
    flag=--pipeline; [ "$name" = aio ] && flag=
    before=$(cpu_ticks "${!pid_var}")
    pipelined[$name]+="$(pipelined_rate "${!port_var}" "$n" $flag) "
    after=$(cpu_ticks "${!pid_var}")
    pipelined_cpu[$name]+="$(per_message "$before" "$after" "$n") "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
label() {
  case $1 in
    sink) echo "smtp-sink (Postfix)" ;;
    aio) [ "$load" = source ] && echo "aiosmtpd (Sink handler)" || echo "aiosmtpd (no PIPELINING: unpipelined)" ;;
    one) echo "serve --store discard --threads 1" ;;
    discard) echo "serve --store discard (default)" ;;
    cores) echo "serve --store discard --threads $(nproc)" ;;
    maildir) echo "serve --maildir (fdatasync per file)" ;;
    mdfs) echo "serve --maildir --maildir-sync file-system" ;;
  esac
}
declare -A ratio rate per_msg client_cpu
for load in source pipelined; do
  declare -n runs=$load
  declare -n cpu=${load}_cpu
  sink=$(median "${runs[sink]}")
  echo
  # smtp-source's own share of a core is a column of its table only.
  share_head=""
  if [ $load = source ]; then
    echo "load: smtp-source (its own CPU: the share of one core it used while it ran)"
    share_head=$(printf '%11s  ' smtp-source)
  else
    echo "load: pipelined (smtp-load --pipeline)"
  fi
  printf '  %-44s %8s %8s  %9s  %s%s\n' server msgs/s ratio "CPU/msg" "$share_head" "runs (msgs/s)"
  for name in $names; do
    rate[$load.$name]=$(median "${runs[$name]}")
    ratio[$load.$name]=$(python3 -c "print(f'{${rate[$load.$name]}/$sink:.2f}')")
    per_msg[$load.$name]=$(median "${cpu[$name]}")
    share=""
    if [ $load = source ]; then
      client_cpu[$name]=$(median "${source_client[$name]}")
      share=$(printf '%10s%%  ' "${client_cpu[$name]}")
    fi
    printf '  %-44s %8s %7sx  %6s us  %s%s\n' "$(label "$name")" "${rate[$load.$name]}" \
      "${ratio[$load.$name]}" "${per_msg[$load.$name]}" "$share" "${runs[$name]}"
  done
done
# The Maildir servers say at shutdown how many fsyncs their messages took.
echo
for name in maildir mdfs; do
  pid_var="pid_$name"
  kill -TERM "${!pid_var}"; wait "${!pid_var}" 2>/dev/null || true
  printf '%-8s %s\n' "$name:" "$(grep -o 'stored .*' "$work/$name.log")"
done
expected=$((messages * rounds * 2))
for dir in Maildir Maildir-fs; do
  stored=$(find "$spool/$dir/new" -type f | wc -l)
  echo "$dir: $stored files in new/ (expected $expected)"
done

# The goals (issue: performance), each in the median of the rounds. A goal not met
# says what held it back, where the bench measured it.
goal() { # label, load.name, minimum
  local got=${ratio[$2]} why=""
  local verdict="met"
  if ! python3 -c "import sys; sys.exit(0 if $got >= $3 else 1)"; then
    verdict="NOT met"
    why=$(limit "$2")
  fi
  printf '  %-58s %5sx  (goal >= %sx)  %s\n' "$1" "$got" "$3" "$verdict"
  [ -z "$why" ] || echo "      $why"
}
limit() { # load.name -> what limited it, if the bench measured it
  local name=${1#*.}
  case $1 in
    source.maildir|source.mdfs)
      # Each session's messages follow one another, and each waits for its data's
      # sync, then its name's, on top of the exchange itself: named when the probe's
      # two syncs are a quarter of an exchange's time or more.
      local exchange mode_note=""
      exchange=$(python3 -c "print(round($sessions * 1e6 / ${rate[source.sink]}))")
      if python3 -c "import sys; sys.exit(0 if 4 * ($data_sync + $name_sync) >= $exchange else 1)"; then
        [ "$name" = mdfs ] && mode_note=" (this mode syncs with syncfs, the probe with fdatasync and fsync: a stand-in)"
        echo "each message waits for its data's sync, then its name's: ~${data_sync} + ${name_sync} us on this disk$mode_note, against $exchange us for a whole exchange per session with smtp-sink"
        return 0
      fi ;;
  esac
  case $1 in
    source.*)
      # From 85% of a core on, the generator is taken to set the pace.
      local c=${client_cpu[$name]}
      [ "$c" -ge 85 ] || return 0
      # At a whole core, with no wait for any server, smtp-source would deliver at
      # most its rate divided by its share: the ceiling any server has under it.
      local ceiling
      ceiling=$(python3 -c "print(f'{${rate[$1]} * 100 / $c / ${rate[source.sink]}:.2f}')")
      echo "smtp-source used $c% of a core here and ${client_cpu[sink]}% under smtp-sink: the generator set the pace (at a whole core it would reach about ${ceiling}x here); CPU per message: ${per_msg[$1]} us here, ${per_msg[source.sink]} us smtp-sink" ;;
  esac
}
echo
echo "goals, median of $rounds round(s):"
goal "default serve, pipelined load" pipelined.discard 1.0
goal "default serve, smtp-source load" source.discard 1.0
goal "serve --threads 1, pipelined load" pipelined.one 1.2
goal "serve --threads 1, smtp-source load" source.one 1.2
goal "Maildir (fdatasync per file), smtp-source load" source.maildir 0.5
goal "Maildir (one syncfs per round), smtp-source load" source.mdfs 0.5

# Sourced by the cargo-fuzz scripts (fuzz-smoke.sh, fuzz-minimise.sh, and
# .clusterfuzzlite/build.sh, which writes the same as <target>.dict and <target>.options):
# how the targets are built, and which dictionary and longest input each gets, decided
# in one place.
#
# The targets build without libFuzzer's comparison tracing and run with a dictionary
# of SMTP tokens (fuzz/dict/) instead. Measured on a 2-core machine, 30 s per run:
# tracing took half the time of reply_parse (the hooks on every byte compare), and the
# untraced build with a dictionary reached the same edge coverage or more — from the
# committed seeds (reply_parse 301 edges either way; server_session 1,321 against
# 1,269) and from an empty corpus (reply_parse 301 against 288; server_session 1,253
# against 1,233) — at 1.3 to 3 times the executions per second.
# FUZZ_TRACE_COMPARES=1 builds with tracing again (no dictionary then).

fuzz_build_flags=(--sanitizer none)
if [ "${FUZZ_TRACE_COMPARES:-0}" != 1 ]; then
  fuzz_build_flags+=(--no-trace-compares)
fi

# The longest input per target, where libFuzzer's default (4,096) only costs time.
# reply_parse: a reply line is at most 512 octets (RFC 5321 §4.5.3.1.5) and the parser
# keeps no state across lines but the reply's code, so a longer input repeats what a
# shorter one reaches. Measured from the committed seeds, 20 s each: 247 edges at 1,024
# and at 4,096, 209k exec/s at 4,096 against 312k at 1,024; what 4,096 adds is only
# hit counts of more lines (1,386 features against 1,302). The two limits a longer
# input could reach, the 4 KiB line cut and the 1,000-line reply, need over 4,100 and
# 5,000 octets, out of reach at 4,096 too: unit tests cover them.
fuzz_max_len() {
  case $1 in
    reply_parse) echo 1024 ;;
  esac
}

# The dictionary of target $1, a file in fuzz/dict/.
fuzz_dict_name() {
  case $1 in
    reply_*) echo replies.dict ;;
    *) echo commands.dict ;;
  esac
}

# The libFuzzer arguments for target $1: its dictionary (unless tracing is on) and
# its longest input (if it has its own).
fuzz_run_args() {
  local len
  len=$(fuzz_max_len "$1")
  [ -n "$len" ] && echo "-max_len=$len"
  [ "${FUZZ_TRACE_COMPARES:-0}" = 1 ] && return 0
  echo "-dict=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz/dict" && pwd)/$(fuzz_dict_name "$1")"
}

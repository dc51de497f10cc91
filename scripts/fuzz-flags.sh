# Sourced by the cargo-fuzz scripts (fuzz-smoke.sh, fuzz-minimise.sh): how the targets
# are built and which dictionary each gets, decided in one place.
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

# The libFuzzer arguments for target $1: its dictionary, unless tracing is on.
fuzz_dict_args() {
  [ "${FUZZ_TRACE_COMPARES:-0}" = 1 ] && return 0
  local dict
  case $1 in
    reply_parse) dict=replies.dict ;;
    *) dict=commands.dict ;;
  esac
  echo "-dict=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz/dict" && pwd)/$dict"
}

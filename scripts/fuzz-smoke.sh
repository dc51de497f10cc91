#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time and print exec/s per target.
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Works on stable Rust: libFuzzer's sanitizers need nightly, so targets build with
# --sanitizer none; and without comparison tracing, with a dictionary (fuzz-flags.sh
# says why). New corpus entries go to
# fuzz/corpus/<target>/ (git ignores all but the committed seed-* files); crashes go to
# fuzz/artifacts/<target>/ and make this script exit 1.
#
# By default targets build as cargo-fuzz does: optimised, with debug assertions and
# overflow checks on (an overflow is a finding). FUZZ_RELEASE=1 drops the assertions
# (cargo fuzz -O) to measure the parsers' raw throughput.
set -euo pipefail

secs=${1:-10}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked >&2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# shellcheck source=fuzz-flags.sh
. "$root/scripts/fuzz-flags.sh"
mode=()
[ "${FUZZ_RELEASE:-0}" = 1 ] && mode=(-O)
cargo fuzz build "${mode[@]}" "${fuzz_build_flags[@]}" >&2

status=0
printf '%-16s %10s %12s %10s %s\n' target seconds runs exec/s result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  mapfile -t run_args < <(fuzz_run_args "$t")
  if cargo fuzz run "${mode[@]}" "${fuzz_build_flags[@]}" "$t" "corpus/$t" -- \
      "${run_args[@]}" -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log)"
    status=1
  fi
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  printf '%-16s %10s %12s %10s %s\n' "$t" "$secs" "${runs:-?}" "${rate:-?}" "$result"
  [ "$result" = ok ] && rm -f "$log"
done
exit $status

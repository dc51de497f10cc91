#!/usr/bin/env bash
# A long libFuzzer campaign per cargo-fuzz target, then its corpus minimised
# (`cargo fuzz cmin`) and kept as the committed seeds (fuzz/corpus/<target>/seed-*).
# Prints, per target: executions, exec/s, crashes, corpus size before and after.
#
#   scripts/fuzz-minimise.sh [RUNS] [TARGET...]      # default: 10000000 runs, every target
#
# Targets build as cargo-fuzz does (optimised, debug assertions and overflow checks
# on). A crash stops that target's campaign, leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit 1; its corpus is then left as it
# is. Bounded by RUNS, and by 2 hours per target at most.
set -euo pipefail
runs=${1:-10000000}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked >&2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
# shellcheck source=fuzz-flags.sh
. "$root/scripts/fuzz-flags.sh"
cargo fuzz build "${fuzz_build_flags[@]}" >&2
status=0
printf '%-18s %12s %9s %8s %8s %8s %s\n' target runs exec/s seconds before after result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  start=$(date +%s)
  mapfile -t run_args < <(fuzz_run_args "$t")
  if cargo fuzz run "${fuzz_build_flags[@]}" "$t" "corpus/$t" -- "${run_args[@]}" \
      -runs="$runs" -max_total_time=7200 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log)"
    status=1
  fi
  secs=$(( $(date +%s) - start ))
  done_runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  before=$(find "corpus/$t" -type f | wc -l)
  after=$before
  if [ "$result" = ok ]; then
    # The hand-written seeds stay whatever cmin thinks of them: they document the
    # grammar for a reader.
    mkdir -p "$log.seeds"
    cp corpus/"$t"/seed-* "$log.seeds/" 2>/dev/null || true
    cargo fuzz cmin "${fuzz_build_flags[@]}" "$t" "corpus/$t" -- "${run_args[@]}" >"$log.cmin" 2>&1
    # What cmin kept becomes the seeds; the rest was already covered.
    for f in "corpus/$t"/*; do
      base=$(basename "$f")
      case $base in seed-*) ;; *) mv "$f" "corpus/$t/seed-$base" ;; esac
    done
    cp -n "$log.seeds"/* "corpus/$t/" 2>/dev/null || true
    after=$(find "corpus/$t" -type f | wc -l)
    rm -rf "$log" "$log.cmin" "$log.seeds"
  fi
  printf '%-18s %12s %9s %8s %8s %8s %s\n' "$t" "${done_runs:-?}" "${rate:-?}" "$secs" "$before" "$after" "$result"
done
exit $status

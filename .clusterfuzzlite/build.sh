#!/usr/bin/env bash
# Build every cargo-fuzz target of fuzz/ into $OUT, as ClusterFuzzLite and OSS-Fuzz
# expect: one libFuzzer binary per target, named as the target, with its seed corpus
# zipped next to it (<target>_seed_corpus.zip) when fuzz/corpus/<target>/ has seeds,
# its dictionary (<target>.dict) and its libFuzzer options (<target>.options).
#
# In the OSS-Fuzz builder image $SANITIZER is set (address, undefined, ...) and the
# toolchain is nightly: cargo-fuzz builds with that sanitizer. Elsewhere (stable Rust,
# scripts/check-cflite-build.sh) $SANITIZER is unset and the targets build without
# one, which is what stable supports.
set -euo pipefail
: "${SRC:?SRC must name the directory that holds smtpspec/}"
: "${OUT:?OUT must name the output directory}"
cd "$SRC/smtpspec/fuzz"
sanitizer=(--sanitizer "${SANITIZER:-none}")
[ "${SANITIZER:-none}" = coverage ] && sanitizer=(--sanitizer none)
cargo fuzz build -O "${sanitizer[@]}"
triple=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p "$OUT"
# shellcheck source=../scripts/fuzz-flags.sh
. "$SRC/smtpspec/scripts/fuzz-flags.sh"
mapfile -t targets < <(cargo fuzz list)
[ ${#targets[@]} -gt 0 ] || { echo "cargo fuzz list gave no target" >&2; exit 1; }
for t in "${targets[@]}"; do
  cp "target/$triple/release/$t" "$OUT/$t"
  # The dictionary and the longest input the local scripts use, in the runner's own
  # form: <target>.dict next to the binary, and an .options file.
  cp "dict/$(fuzz_dict_name "$t")" "$OUT/$t.dict"
  len=$(fuzz_max_len "$t")
  {
    echo "[libfuzzer]"
    if [ -n "$len" ]; then echo "max_len = $len"; fi
  } >"$OUT/$t.options"
  if compgen -G "corpus/$t/*" >/dev/null; then
    (cd "corpus/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
  fi
done

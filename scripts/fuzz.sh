#!/usr/bin/env bash
# Runs every fuzz target for [seconds] each (default 600) on nightly with libFuzzer, growing a
# local corpus in fuzz/corpus-local/<target> (not committed) seeded from fuzz/corpus/<target>.
# Stops at the first crash, timeout or OOM and prints the reproducer path; turn it into a file
# in fuzz/regressions/ and fix it. Usage: scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-600}
shift || true
MODE=${FUZZ_MODE:-local}   # "ci": throwaway corpus, fixed job count
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(image_parse image_roundtrip image_verify image_verify_resigned release_verify delta_apply)

command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz missing (cargo install cargo-fuzz --locked)" >&2; exit 1; }
# libFuzzer + sanitizers need -Z flags: nightly if the machine has it; otherwise the one stable
# toolchain with RUSTC_BOOTSTRAP=1 (same flags, same ASan runtime; machines here cannot fetch
# another toolchain).
if rustup toolchain list | grep -q '^nightly'; then
  FUZZ_CARGO=(cargo +nightly fuzz)
else
  echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  FUZZ_CARGO=(cargo fuzz)
fi

"${FUZZ_CARGO[@]}" build >/dev/null 2>&1 || "${FUZZ_CARGO[@]}" build
summary=()
for target in "${TARGETS[@]}"; do
  if [ "$MODE" = ci ]; then
    corpus=$(mktemp -d)
  else
    corpus=fuzz/corpus-local/$target
    mkdir -p "$corpus"
  fi
  log=$(mktemp)
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  set +e
  "${FUZZ_CARGO[@]}" run "$target" "$corpus" "fuzz/corpus/$target" -- \
    -dict=fuzz/dict/image.dict -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=512 -timeout=5 \
    -max_len=8192 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  if [ $status -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $status): crash, timeout or out-of-memory" >&2
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|Base64' "$log" >&2 || tail -40 "$log" >&2
    exit 1
  fi
  summary+=("$(printf '%-22s %10s execs %8s execs/s  %s' "$target" "${execs:-?}" "${rate:-?}" "${cov:-}")")
  [ "$MODE" = ci ] && rm -rf "$corpus"
  rm -f "$log"
done
echo "fuzz: summary (${SECONDS_PER_TARGET}s per target, $(nproc) cores, shared machine)"
printf '  %s\n' "${summary[@]}"

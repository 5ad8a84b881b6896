#!/usr/bin/env bash
# Fuzz smoke run (issue 8): every cargo-fuzz target for a bounded time on nightly; fails on any
# crash, timeout (>5 s per input) or memory blow-up (>512 MiB). Prints execs and execs/s.
# FUZZ_SECONDS overrides the per-target time (default 35 s: three targets + build ≈ 3 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
FUZZ_MODE=ci exec scripts/fuzz.sh "${FUZZ_SECONDS:-35}"

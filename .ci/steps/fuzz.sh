#!/usr/bin/env bash
# Fuzz smoke run (docs/HARDENING.md): every cargo-fuzz target for a bounded time on nightly; fails on any
# crash, timeout (>5 s per input) or memory blow-up (>512 MiB). Prints execs and execs/s.
# FUZZ_SECONDS overrides the per-target time (default 20 s: six targets + build ≈ 3.5 min).
# Uses nightly when installed, else stable with RUSTC_BOOTSTRAP=1 (see scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
FUZZ_MODE=ci exec scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

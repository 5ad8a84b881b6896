#!/usr/bin/env bash
# No-panic proof (docs/HARDENING.md): link device-verifier into a Cortex-M4 no_std binary whose panic handler calls
# an undefined symbol. The link succeeds only if no panic path is reachable. Prints text sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in cargo llvm-size llvm-objdump python3; do
  command -v "$tool" >/dev/null || { echo "embedded: missing $tool (run .ci/setup)" >&2; exit 1; }
done
rustup target list --installed | grep -qx thumbv7em-none-eabihf \
  || { echo "embedded: rustup target thumbv7em-none-eabihf missing (run .ci/setup)" >&2; exit 1; }

TARGET_DIR=embedded/target/thumbv7em-none-eabihf/release
ELF=$TARGET_DIR/no-panic-check

# RUSTFLAGS from the environment would replace embedded/.cargo/config.toml's flags.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

link_check() { # $1 = label, rest = cargo features args
  local label=$1; shift
  echo "embedded: no-panic link check ($label)"
  if ! (cd embedded && cargo build --release --locked -p no-panic-check "$@"); then
    echo "embedded: LINK FAILED: a panic path is reachable from verify_image ($label). Call chains:" >&2
    (cd embedded && RUSTFLAGS="-C llvm-args=-inline-threshold=40 -C link-arg=--defsym=device_verifier_panic_path_is_reachable=0" \
      cargo build --release --locked -p no-panic-check "$@") >&2 || true
    python3 scripts/panic-paths.py "$ELF" >&2 || true
    exit 1
  fi
  if llvm-nm -C "$ELF" | grep -q 'core::panicking'; then
    echo "embedded: core::panicking is linked into $ELF ($label)" >&2
    exit 1
  fi
  echo "embedded: text size, thumbv7em-none-eabihf, opt-level z + LTO, $label:"
  llvm-size "$ELF"
  llvm-size -A "$ELF" | awk '$1 ~ /^\.(vector_table|text|rodata|data)$/ {printf "  %-14s %6d B\n", $1, $2}'
}

# House rules for the firmware crates (not covered by the root workspace's fmt/clippy).
(cd embedded && cargo fmt --all --check)
(cd embedded && cargo clippy --release --locked -p no-panic-check -p qemu-bootloader -p qemu-app -- -D warnings)

link_check "ed25519, sha2 default backend"
link_check "ed25519, compact-sha" --features compact-sha
link_check "ed25519, compact-sha, + SUIT manifest verification" --features compact-sha,release
link_check "ed25519, compact-sha, + SUIT + delta apply" --features compact-sha,release,delta
link_check "ed25519, compact-sha, + SUIT + delta apply + embedded-storage adapters" --features compact-sha,release,delta,embedded-storage

#!/usr/bin/env bash
# The example bootloader on an emulated Cortex-M4 (QEMU mps2-an386). Builds bootloader
# and app, signs the app with imgtool 2.5.0 from .venv (the independent signer),
# composes flash images and runs one QEMU per case:
#   good      -> the app prints and QEMU exits 0
#   tampered  -> "REFUSED: image hash mismatch", exit 1
#   wrong key -> "REFUSED: image signed by an untrusted key", exit 1
#   rollback  -> "REFUSED: security counter below the device's floor (rollback)", exit 1
#   256 KiB   -> boots; its verify line gives the instruction count the issue asks for
# and prints the bootloader's flash size, stack high-water mark and instruction counts.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in cargo qemu-system-arm llvm-objcopy llvm-size python3 timeout; do
  command -v "$tool" >/dev/null || { echo "qemu: missing $tool (run .ci/setup)" >&2; exit 1; }
done
IMGTOOL=${IMGTOOL:-.venv/bin/imgtool}
[ -x "$IMGTOOL" ] || { echo "qemu: $IMGTOOL missing (run .ci/setup)" >&2; exit 1; }
KEY=fixtures/third-party/imgtool-2.5.0-samples/ed25519.pem
[ -f "$KEY" ] || { echo "qemu: test key $KEY missing" >&2; exit 1; }

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS # would replace embedded/.cargo/config.toml's flags
(cd embedded && cargo build --release --locked -p qemu-bootloader -p qemu-app)
BIN=embedded/target/thumbv7em-none-eabihf/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
llvm-objcopy -O binary "$BIN/qemu-bootloader" "$work/boot.bin"
llvm-objcopy -O binary "$BIN/qemu-app" "$work/app.bin"

boot_size=$(stat -c %s "$work/boot.bin")
echo "qemu: bootloader flash size: $boot_size bytes (goal <= 24576 = 24 KiB)"
llvm-size "$BIN/qemu-bootloader"

FLOOR=3
sign() { # key in out counter [extra...]
  local key=$1 in=$2 out=$3 counter=$4; shift 4
  "$IMGTOOL" sign -k "$key" --pad-header -H 0x400 -S 0x80000 -v 1.0.0 -s "$counter" "$@" "$in" "$out" >/dev/null
}
sign "$KEY" "$work/app.bin" "$work/good.bin" 5
sign "$KEY" "$work/app.bin" "$work/rollback.bin" 2
"$IMGTOOL" keygen -t ed25519 -k "$work/other-TEST-ONLY.pem" >/dev/null
sign "$work/other-TEST-ONLY.pem" "$work/app.bin" "$work/wrongkey.bin" 5
# 256 KiB body: the app followed by filler the app never executes (all of it is hashed).
python3 -c "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d + bytes((i*7)&0xff for i in range(256*1024-len(d))))" \
  "$work/app.bin" "$work/app-256k.bin"
sign "$KEY" "$work/app-256k.bin" "$work/big.bin" 5

failures=0
run_case() { # name slot expected_exit expected_text [compose args...]
  local name=$1 slot=$2 want_exit=$3 want_text=$4; shift 4
  python3 embedded/compose-flash.py "$work/boot.bin" "$slot" "$FLOOR" "$work/$name.flash" "$@"
  set +e
  timeout 60 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 \
    -device loader,file="$work/$name.flash",addr=0x0,force-raw=on >"$work/$name.out" 2>&1
  local status=$?
  set -e
  sed "s/^/  [$name] /" "$work/$name.out"
  if [ "$status" -ne "$want_exit" ] || ! grep -qF "$want_text" "$work/$name.out"; then
    echo "qemu: case $name FAILED: exit $status (want $want_exit), output must contain: $want_text" >&2
    failures=$((failures + 1))
  else
    echo "qemu: case $name ok (exit $status)"
  fi
}
run_case good "$work/good.bin" 0 "app: hello from the verified application"
run_case tampered "$work/good.bin" 1 "REFUSED: image hash mismatch" --flip 0x410
run_case wrong_key "$work/wrongkey.bin" 1 "REFUSED: image signed by an untrusted key"
run_case rollback "$work/rollback.bin" 1 "REFUSED: security counter below the device's floor (rollback)"
run_case big_256k "$work/big.bin" 0 "app: hello from the verified application"

num() { grep -oE "$1" "$2" | grep -oE '[0-9]+' | head -1; }
echo "qemu: report"
echo "  bootloader flash size:            $boot_size B (goal 24576 B)"
echo "  stack high-water (good image):    $(num 'stack high-water [0-9]+' "$work/good.out") B"
echo "  instructions to verify the app:   $(num '= [0-9]+ instructions' "$work/good.out") ($(num 'OK: [0-9]+ byte body' "$work/good.out") B body)"
echo "  instructions to verify 256 KiB:   $(num '= [0-9]+ instructions' "$work/big_256k.out") ($(num 'OK: [0-9]+ byte body' "$work/big_256k.out") B body)"
echo "  (SysTick at 25 MHz under -icount shift=0: 1 tick = 40 instructions, checked by the calibration line)"
if [ "$failures" -ne 0 ]; then
  echo "qemu: $failures case(s) failed" >&2
  exit 1
fi

#!/usr/bin/env bash
# The C ABI (device-verifier-ffi): builds the device-verifier-ffi static library, checks that the committed
# cbindgen header is up to date, then builds the C test program with gcc (ASan + UBSan on the
# C side) and runs it against the imgtool 2.5.0 samples.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in cargo cbindgen gcc; do
  command -v "$tool" >/dev/null || { echo "ffi: missing $tool (run .ci/setup)" >&2; exit 1; }
done
SAMPLES=fixtures/third-party/imgtool-2.5.0-samples
[ -d "$SAMPLES" ] || { echo "ffi: $SAMPLES missing" >&2; exit 1; }

HEADER=device-verifier-ffi/include/device_verifier.h
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cbindgen --quiet --config device-verifier-ffi/cbindgen.toml --crate device-verifier-ffi --output "$work/header.h"
if ! diff -u "$HEADER" "$work/header.h"; then
  echo "ffi: $HEADER is stale; regenerate it:" >&2
  echo "  cbindgen --config device-verifier-ffi/cbindgen.toml --crate device-verifier-ffi --output $HEADER" >&2
  exit 1
fi
echo "ffi: header $HEADER is fresh"

cargo build --locked -p device-verifier-ffi
LIB=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/libdevice_verifier_ffi.a
gcc -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
  -I device-verifier-ffi/include device-verifier-ffi/tests/c/test.c "$LIB" -lpthread -ldl -lm -o "$work/ffi-test"
echo "ffi: running the C test program"
"$work/ffi-test" "$SAMPLES"

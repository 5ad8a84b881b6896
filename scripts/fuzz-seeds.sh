#!/usr/bin/env bash
# Regenerates the committed seed corpora in fuzz/corpus/ (small signed images, so that libFuzzer
# spends its time on structure, not on hashing kilobytes). Uses imgtool 2.5.0 from .venv
# (created by .ci/setup) and the test-only imgtool sample key. Deterministic: Ed25519 signing is.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGTOOL=.venv/bin/imgtool
KEY=fixtures/third-party/imgtool-2.5.0-samples/ed25519.pem
[ -x "$IMGTOOL" ] || { echo "fuzz-seeds: $IMGTOOL missing (run .ci/setup)" >&2; exit 1; }
[ -f "$KEY" ] || { echo "fuzz-seeds: $KEY missing" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'fuzz seed body: hello from the bootloader\n' > "$work/body.raw"

sign() { # name, extra imgtool args...
  local name=$1; shift
  "$IMGTOOL" sign -k "$KEY" --pad-header -H 0x20 -S 0x1000 -v 1.2.3+4 "$@" "$work/body.raw" "$work/$name.bin" >/dev/null
}
sign basic
sign seccnt42 -s 42
sign seccnt-auto -s auto
sign fullkey --public-key-format full -s 7
sign sha512 --sha 512
sign pure --pure -s 1
sign padded-confirm -s 3 --pad --confirm -S 0x1000 --align 8
"$IMGTOOL" sign --pad-header -H 0x20 -S 0x1000 -v 0.0.1 "$work/body.raw" "$work/hashonly.bin" >/dev/null

for target in image_parse image_roundtrip image_verify image_verify_resigned; do
  mkdir -p "fuzz/corpus/$target"
  for f in "$work"/*.bin; do
    name=$(basename "$f" .bin)
    # The padded sample is 4 KiB of mostly 0xff: keep it for the parser only.
    case "$target" in image_verify*) [ "$name" = padded-confirm ] && continue ;; esac
    cp "$f" "fuzz/corpus/$target/seed-$name"
  done
done
# Keep only seeds that add coverage (cargo-fuzz names them by content hash).
if command -v cargo-fuzz >/dev/null; then
  if rustup toolchain list | grep -q '^nightly'; then FUZZ_CARGO=(cargo +nightly fuzz); else
    export RUSTC_BOOTSTRAP=1; FUZZ_CARGO=(cargo fuzz); fi
  for target in image_parse image_roundtrip image_verify image_verify_resigned; do
    "${FUZZ_CARGO[@]}" cmin "$target" "fuzz/corpus/$target" -- -dict=fuzz/dict/image.dict >/dev/null 2>&1
  done
fi
ls -l fuzz/corpus/*/

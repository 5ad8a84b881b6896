#!/usr/bin/env bash
# Delta updates (docs/FORMATS.md, "Delta patch"), beyond `cargo test --workspace` (which runs all delta tests):
# a benchmark smoke on the fixture pair that fails if our patch is larger than Debian bsdiff's.
# The comparison tools are installed here if missing; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
for tool in bsdiff:bsdiff xdelta3:xdelta3 zstd:zstd /usr/bin/time:time; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

fx="$(pwd)/fixtures/third-party/delta-pair"
cargo bench -q -p signer --bench delta -- --check "fixture fw-v1->v2" "$fx/fw-v1.bin" "$fx/fw-v2.bin"

#!/usr/bin/env bash
# Delta benchmark: our patch format against Debian bsdiff, xdelta3 -9 and zstd -19 --patch-from,
# on the fixture pair and on real Debian binary pairs fetched with apt into a cache directory.
#
#   scripts/delta-bench.sh            # fetch pairs (needs root for apt), build, run, print table
#   DELTA_BENCH_CACHE=/some/dir scripts/delta-bench.sh
#
# Pairs (old -> new), as long as these versions remain in the Debian archive:
#   libssl3:armhf 3.0.17-1~deb12u2 -> 3.0.20-1~deb12u2   (usr/lib/arm-linux-gnueabihf/libcrypto.so.3, libssl.so.3)
#   liblzma5 (amd64) 5.4.1-1+deb12u1 -> 5.4.1-1+deb12u2  (lib/x86_64-linux-gnu/liblzma.so.5.4.1)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${DELTA_BENCH_CACHE:-$HOME/.cache/fwsign-delta-bench}"
mkdir -p "$cache"

fetch() { # package=version dir
    local spec="$1" dir="$cache/$2"
    [ -d "$dir" ] && return 0
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get download "$spec" >/dev/null)
    mkdir -p "$dir.partial"
    dpkg-deb -x "$tmp"/*.deb "$dir.partial"
    mv "$dir.partial" "$dir"
    rm -rf "$tmp"
}

need_apt=0
for d in libssl3-old libssl3-new liblzma5-old liblzma5-new; do [ -d "$cache/$d" ] || need_apt=1; done
if [ "$need_apt" = 1 ]; then
    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
        dpkg --add-architecture armhf
        apt-get update -qq
    fi
    apt-cache policy libssl3:armhf >/dev/null || apt-get update -qq
    fetch 'libssl3:armhf=3.0.17-1~deb12u2' libssl3-old
    fetch 'libssl3:armhf=3.0.20-1~deb12u2' libssl3-new
    fetch 'liblzma5:amd64=5.4.1-1+deb12u1' liblzma5-old
    fetch 'liblzma5:amd64=5.4.1-1+deb12u2' liblzma5-new
fi

fx="$here/fixtures/third-party/delta-pair"
args=(
    "fixture fw-v1->v2" "$fx/fw-v1.bin" "$fx/fw-v2.bin"
    "libcrypto.so.3 armhf" "$cache/libssl3-old/usr/lib/arm-linux-gnueabihf/libcrypto.so.3" "$cache/libssl3-new/usr/lib/arm-linux-gnueabihf/libcrypto.so.3"
    "libssl.so.3 armhf" "$cache/libssl3-old/usr/lib/arm-linux-gnueabihf/libssl.so.3" "$cache/libssl3-new/usr/lib/arm-linux-gnueabihf/libssl.so.3"
    "liblzma.so.5 amd64" "$cache/liblzma5-old/lib/x86_64-linux-gnu/liblzma.so.5.4.1" "$cache/liblzma5-new/lib/x86_64-linux-gnu/liblzma.so.5.4.1"
)
cd "$here"
exec cargo bench -q -p signer --bench delta -- "${args[@]}"

#!/usr/bin/env bash
# The docs run as written: every shell block of README.md and ota-server/README.md, in a
# temporary directory, with the binaries scripts/install builds, against a server the blocks
# start (scripts/check-docs explains the block annotations).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in curl jq python3 softhsm2-util sha256sum base64 openssl; do
  command -v "$tool" >/dev/null || { echo "docs: missing $tool (run .ci/setup)" >&2; exit 1; }
done
scripts/check-docs

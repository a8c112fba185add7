#!/usr/bin/env bash
# Interop: the official A2A Python SDK (a2a-sdk, pinned in requirements.txt) against the
# agent_api demo (release build): strict parse of its agent card with the SDK's own types, a
# client-credentials token from the card's tokenUrl, and GetExtendedAgentCard through the
# SDK's AuthInterceptor (200) and without credentials (401). See check_agent.py.
#
#   tests/interop/a2a/run.sh
#
# Environment:
#   A2A_INTEROP_SKIP_BUILD=1  use the agent_api binary already built (AGENT_API=path to override)
#   A2A_INTEROP_VENV=DIR      the virtualenv (default target/interop-venv-a2a; made if missing)
#
# Loopback only, OS-assigned port. The demo is stopped on exit. Exit status non-zero on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${A2A_INTEROP_VENV:-${CARGO_TARGET_DIR:-$ROOT/target}/interop-venv-a2a}"
CLIENT="demo-agent:a2a-interop-$$" # the dev issuer's client for its token endpoint
START_TIMEOUT=${A2A_INTEROP_START_TIMEOUT:-30}
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '%s\n' "$*"; }
die() {
    printf 'a2a interop: %s\n' "$*" >&2
    exit 1
}

command -v python3 >/dev/null || die "python3 not found on PATH"

# ---- virtualenv with the pinned SDK ---------------------------------------------------------
# Rebuilt when requirements.txt changes (its hash is kept beside the venv).
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x $VENV/bin/python || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    say "==> virtualenv $VENV (a2a-sdk from requirements.txt)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv/ensurepip separately.
        say "==> python3 -m venv failed: installing python3-venv"
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo -n"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed after installing python3-venv"
    fi
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt" || die "pip install failed"
    printf '%s\n' "$want" >"$VENV/.requirements.sha256"
fi
SDK_VERSION="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("a2a-sdk"))')"

# ---- the demo -------------------------------------------------------------------------------
AGENT_API="${AGENT_API:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/agent_api}"
if [[ ${A2A_INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example agent_api"
    (cd "$ROOT" && cargo build --release --example agent_api) || die "cargo build of agent_api failed"
fi
[[ -x $AGENT_API ]] || die "agent_api binary not found at $AGENT_API"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/a2a-sdk-interop.XXXXXX")"
PID=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    if [[ -n $PID ]]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

NO_COLOR=1 "$AGENT_API" --listen 127.0.0.1:0 --dev-client "$CLIENT" \
    --keys-file "$WORK/dev-issuer.json" >"$WORK/out" 2>"$WORK/err" &
PID=$!
deadline=$((SECONDS + START_TIMEOUT))
until grep -q '^listening on ' "$WORK/out" 2>/dev/null; do
    if ! kill -0 "$PID" 2>/dev/null || ((SECONDS >= deadline)); then
        say "agent_api did not start; its stderr:"
        sed 's/^/    /' "$WORK/err"
        die "agent_api not ready"
    fi
    sleep 0.1
done
BASE="$(awk '/^resource /{print $2; exit}' "$WORK/out")"
grep -q '^agent card ' "$WORK/out" || {
    sed 's/^/    /' "$WORK/err"
    die "agent_api serves no agent card"
}

say "==> a2a-sdk $SDK_VERSION (python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')) against agent_api at $BASE"
status=0
"$VENV/bin/python" "$HERE/check_agent.py" --base "$BASE" --client "$CLIENT" || status=$?
if ((status != 0)); then
    say "agent_api stderr (last 20 lines):"
    tail -n 20 "$WORK/err" | sed 's/^/    /'
fi
exit "$status"

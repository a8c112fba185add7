#!/usr/bin/env bash
# Interop: the official MCP Python SDK (`mcp` from PyPI, pinned in python/requirements.txt) as
# the client of examples/mcp_server (a2a-guard in front of rmcp), with panva's oidc-provider
# (provider.mjs) as the authorization server. One signing algorithm is enough here: run.sh
# covers all four against agent_api.
#
#   tests/interop/mcp.sh
#
# It creates tests/interop/.venv (python3 -m venv; installs python3-venv with apt-get when
# the venv module is missing) and reinstalls it when python/requirements.txt changes.
#
# Environment:
#   INTEROP_ALG=ES256       the provider's access-token signing algorithm
#   INTEROP_SKIP_BUILD=1    use the mcp_server binary already built (MCP_SERVER=path to override)
#   INTEROP_SKIP_NPM_CI=1   keep the existing tests/interop/node_modules
#   INTEROP_KEEP_LOGS=1     keep the temporary log directory
#
# Everything listens on 127.0.0.1 with OS-assigned ports. Every process the script starts is
# stopped on exit. Exit status is non-zero if any check fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ALG=${INTEROP_ALG:-ES256}
START_TIMEOUT=${INTEROP_START_TIMEOUT:-30} # seconds to wait for a process to be ready
VENV="$HERE/.venv"
REQUIREMENTS="$HERE/python/requirements.txt"

say() { printf '%s\n' "$*"; }
err() { printf 'interop-mcp: %s\n' "$*" >&2; }
die() {
    err "$*"
    exit 1
}

for tool in node npm cargo python3; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH"
done

apt_install() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# stop PID: stop one process this script started (SIGTERM, then SIGKILL after 5 s).
stop() {
    local deadline=$((SECONDS + 5))
    kill "$1" 2>/dev/null || return 0
    while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/a2a-interop-mcp.XXXXXX")"
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        stop "$pid"
    done
    if [[ ${INTEROP_KEEP_LOGS:-0} == 1 ]]; then
        err "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_line FILE PATTERN PID WHAT: wait until FILE has a line matching PATTERN.
wait_line() {
    local file=$1 pattern=$2 pid=$3 what=$4 deadline=$((SECONDS + START_TIMEOUT))
    while ! grep -q -- "$pattern" "$file" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            err "$what exited before it was ready; its stderr:"
            sed 's/^/    /' "${file%.out}.err" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            err "$what not ready after ${START_TIMEOUT}s (no line matching '$pattern' in $file); stderr:"
            sed 's/^/    /' "${file%.out}.err" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

# ---- set-up ------------------------------------------------------------------------------

# The venv is rebuilt when the Python or the pins change (the stamp records both).
stamp=$( (python3 --version && cat "$REQUIREMENTS") | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || "$(cat "$VENV/.a2a-stamp" 2>/dev/null)" != "$stamp" ]]; then
    say "==> python venv (tests/interop/.venv) with $(grep -E '^mcp==' "$REQUIREMENTS")"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>"$WORK/venv.err"; then
        # Debian ships the venv module (ensurepip) separately.
        rm -rf "$VENV"
        say "==> installing python3-venv"
        apt_install python3-venv || die "python3 -m venv failed and python3-venv could not be installed: $(cat "$WORK/venv.err")"
        python3 -m venv "$VENV" || die "python3 -m venv failed"
    fi
    # Every package is pinned in the file: nothing else may be resolved.
    "$VENV/bin/pip" install --disable-pip-version-check -q --no-deps -r "$REQUIREMENTS" ||
        die "pip install -r $REQUIREMENTS failed"
    "$VENV/bin/pip" check --disable-pip-version-check >/dev/null ||
        die "the pins in $REQUIREMENTS are inconsistent: $("$VENV/bin/pip" check)"
    echo "$stamp" >"$VENV/.a2a-stamp"
fi

if [[ ${INTEROP_SKIP_NPM_CI:-0} != 1 ]]; then
    say "==> npm ci (tests/interop)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $HERE"
fi
[[ -d "$HERE/node_modules/oidc-provider" ]] || die "oidc-provider not installed: run npm ci in $HERE"

MCP_SERVER="${MCP_SERVER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/mcp_server}"
if [[ ${INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example mcp_server"
    (cd "$ROOT" && cargo build --release --example mcp_server) || die "cargo build of mcp_server failed"
fi
[[ -x "$MCP_SERVER" ]] || die "mcp_server binary not found at $MCP_SERVER"

# ---- run ----------------------------------------------------------------------------------

p_out="$WORK/provider.out" m_out="$WORK/mcp_server.out"
ALG="$ALG" node "$HERE/provider.mjs" 0 >"$p_out" 2>"${p_out%.out}.err" &
PIDS+=($!)
wait_line "$p_out" '^provider ready ' "${PIDS[-1]}" "oidc-provider ($ALG)"
ISS=$(awk '/^provider ready /{print $3; exit}' "$p_out")

NO_COLOR=1 "$MCP_SERVER" --issuer "$ISS" --listen 127.0.0.1:0 >"$m_out" 2>"${m_out%.out}.err" &
PIDS+=($!)
wait_line "$m_out" '^listening on ' "${PIDS[-1]}" "mcp_server (issuer $ISS)"
SERVER=$(awk '/^resource /{print $2; exit}' "$m_out")
say "==> oidc-provider $ISS ($ALG), mcp_server $SERVER"

status=0
# a2a-guard puts resource_metadata into every 401/403 (RFC 9728 §5.1): the SDK must use it.
"$VENV/bin/python" "$HERE/mcp_client.py" --server "$SERVER" --issuer "$ISS" --expect-challenge-metadata || status=1

if grep -qiE 'panicked|RUST_BACKTRACE' "${m_out%.out}.err"; then
    say "  FAIL  [mcp-sdk] mcp_server stderr has a panic:"
    sed 's/^/        /' "${m_out%.out}.err"
    status=1
fi
if ((status)); then
    say "  mcp_server stderr (last 30 lines):"
    tail -n 30 "${m_out%.out}.err" | sed 's/^/        /'
    say "  provider stderr:"
    sed 's/^/        /' "${p_out%.out}.err"
fi
exit "$status"

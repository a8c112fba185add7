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

ALG=${INTEROP_ALG:-ES256}
INTEROP_NAME=interop-mcp
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools node npm cargo python3
VENV="$HERE/.venv"
REQUIREMENTS="$HERE/python/requirements.txt"

apt_install() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
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

npm_ci

MCP_SERVER="${MCP_SERVER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/mcp_server}"
if [[ ${INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example mcp_server"
    (cd "$ROOT" && cargo build --release --example mcp_server) || die "cargo build of mcp_server failed"
fi
[[ -x "$MCP_SERVER" ]] || die "mcp_server binary not found at $MCP_SERVER"

# ---- run ----------------------------------------------------------------------------------

p_out="$WORK/provider.out" m_out="$WORK/mcp_server.out"
start_provider "$ALG" "$p_out"

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

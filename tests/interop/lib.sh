# Shared by the interop scripts that run oidc-provider (run.sh, client.sh, orchestrator.sh,
# mcp.sh); sourced, not run.
#
#   INTEROP_NAME=interop-client    # prefix of error messages and of the temporary directory
#   source "$HERE/lib.sh"
#
# Sourcing it sets HERE (tests/interop), ROOT (the crate), START_TIMEOUT, WORK (a fresh
# temporary directory) and PIDS, and installs the EXIT/INT/TERM traps that stop every process
# in PIDS and remove WORK (kept with INTEROP_KEEP_LOGS=1). Everything listens on 127.0.0.1.
# shellcheck shell=bash

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
START_TIMEOUT=${INTEROP_START_TIMEOUT:-30} # seconds to wait for a process to be ready
: "${INTEROP_NAME:=interop}"

say() { printf '%s\n' "$*"; }
err() { printf '%s: %s\n' "$INTEROP_NAME" "$*" >&2; }
die() {
    err "$*"
    exit 1
}

# require_tools TOOL...: die unless each is on PATH.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH"
    done
}

# stop PID: stop one process this script started (SIGTERM, then SIGKILL after 5 s).
stop() {
    local deadline=$((SECONDS + 5))
    kill "$1" 2>/dev/null || return 0
    while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/a2a-$INTEROP_NAME.XXXXXX")"
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

# npm_ci: install tests/interop/node_modules from the lock file, unless INTEROP_SKIP_NPM_CI=1;
# sets OIDC_VERSION.
npm_ci() {
    if [[ ${INTEROP_SKIP_NPM_CI:-0} != 1 ]]; then
        say "==> npm ci (tests/interop)"
        (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $HERE"
    fi
    [[ -d "$HERE/node_modules/oidc-provider" ]] || die "oidc-provider not installed: run npm ci in $HERE"
    OIDC_VERSION="$(node -p 'require(process.argv[1]).version' "$HERE/node_modules/oidc-provider/package.json")"
}

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

# start_provider ALG OUT: start provider.mjs on a free loopback port, its stdout in OUT and
# stderr in OUT with .err for .out (the environment passes on: `CLIENT_KEY_FILE=… start_provider`),
# and wait until it is ready. Sets PROVIDER_PID and ISS (the issuer URL).
start_provider() {
    local alg=$1 out=$2
    ALG="$alg" node "$HERE/provider.mjs" 0 >"$out" 2>"${out%.out}.err" &
    PROVIDER_PID=$!
    PIDS+=("$PROVIDER_PID")
    wait_line "$out" '^provider ready ' "$PROVIDER_PID" "oidc-provider ($alg)" || return 1
    ISS=$(awk '/^provider ready /{print $3; exit}' "$out")
}

# json_field NAME < JSON: print one top-level member (strings raw, others as JSON); 1 if absent.
json_field() {
    node -e '
        let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
          let v; try { v = JSON.parse(s)[process.argv[1]]; } catch { process.exit(1); }
          if (v === undefined) process.exit(1);
          console.log(typeof v === "string" ? v : JSON.stringify(v));
        });' "$1"
}

# client_token CLIENT RESOURCE SCOPE: a client_credentials access token from the provider at
# $ISS for the RFC 8707 resource RESOURCE (client secret CLIENT-secret, client_secret_basic).
client_token() {
    local resp
    resp=$(curl -sS --max-time 15 -u "$1:$1-secret" \
        --data-urlencode grant_type=client_credentials \
        --data-urlencode "resource=$2" \
        --data-urlencode "scope=$3" "$ISS/token") || {
        err "POST $ISS/token (client_credentials, $1, resource $2) failed"
        return 1
    }
    json_field access_token <<<"$resp" || {
        err "no access_token from $ISS/token for client $1 resource $2 scope '$3': $resp"
        return 1
    }
}

#!/usr/bin/env bash
# Interop, the orchestrator demo (issue 13) against panva's oidc-provider (provider.mjs):
# examples/orchestrator, whose caller holds a token for it (`aud: orchestrator`), calls
# examples/agent_api (`aud: agent-api`) with a token it got by RFC 8693 token exchange at the
# provider; agent_api's GET /whoami, passed back as `downstream_body`, must show the caller as
# subject and the orchestrator as actor. Scenarios:
#   tasks               POST /tasks: 200; /whoami says sub portal, client_id orchestrator,
#                       actors ["orchestrator"], scopes ["read:data"] (only the delegated one)
#   inbound_refused     the caller's own token at agent_api: 401 (so the orchestrator cannot
#                       have passed it on)
#   delegation_refused  a caller token without the downstream scope: 403 delegation_refused
#
#   tests/interop/orchestrator.sh
#
# Environment:
#   INTEROP_ALG=ES256       the provider's access-token signing algorithm
#   INTEROP_SKIP_BUILD=1    use the binaries already built (ORCHESTRATOR=path, AGENT_API=path)
#   INTEROP_SKIP_NPM_CI=1   keep the existing tests/interop/node_modules
#   INTEROP_KEEP_LOGS=1     keep the temporary log directory
#
# Prints one line per scenario (PASS/FAIL) and `orchestrator-interop: PASS n/n` at the end.
# Everything listens on 127.0.0.1 with OS-assigned ports. Every process the script starts is
# stopped on exit. Exit status is non-zero if any scenario fails.
set -euo pipefail

ALG=${INTEROP_ALG:-ES256}
ORCH_RESOURCE="urn:orchestrator" # the provider maps it to aud "orchestrator"
ORCH_AUDIENCE="orchestrator"
AUDIENCE="agent-api"
CALLER="portal"
DOWNSTREAM_SCOPE="read:data"
INTEROP_NAME=interop-orchestrator
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools node npm curl cargo

# ---- set-up ------------------------------------------------------------------------------

npm_ci

BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
ORCHESTRATOR="${ORCHESTRATOR:-$BIN_DIR/orchestrator}"
AGENT_API="${AGENT_API:-$BIN_DIR/agent_api}"
if [[ ${INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example orchestrator --example agent_api"
    (cd "$ROOT" && cargo build --release --example orchestrator --example agent_api --features client,testing) ||
        die "cargo build of orchestrator and agent_api failed"
fi
[[ -x "$ORCHESTRATOR" ]] || die "orchestrator binary not found at $ORCHESTRATOR"
[[ -x "$AGENT_API" ]] || die "agent_api binary not found at $AGENT_API"

# ---- run ----------------------------------------------------------------------------------

p_out="$WORK/provider.out" a_out="$WORK/agent_api.out" o_out="$WORK/orchestrator.out"
start_provider "$ALG" "$p_out" || die "oidc-provider did not start"
say "==> oidc-provider $OIDC_VERSION at $ISS ($ALG), node $(node --version)"

NO_COLOR=1 "$AGENT_API" --issuer "$ISS" --audience "$AUDIENCE" --listen 127.0.0.1:0 \
    >"$a_out" 2>"${a_out%.out}.err" &
PIDS+=($!)
wait_line "$a_out" '^listening on ' "${PIDS[-1]}" "agent_api (issuer $ISS)" || die "agent_api did not start"
API="http://$(awk '/^listening on /{print $3; exit}' "$a_out")"

secret="$WORK/orchestrator.secret"
(umask 077 && printf 'orchestrator-secret\n' >"$secret")
NO_COLOR=1 "$ORCHESTRATOR" --listen 127.0.0.1:0 --issuer "$ISS" --audience "$ORCH_AUDIENCE" \
    --client-id orchestrator --client-secret-file "$secret" \
    --downstream-url "$API/whoami" --downstream-audience "$AUDIENCE" \
    --downstream-scope "$DOWNSTREAM_SCOPE" >"$o_out" 2>"${o_out%.out}.err" &
PIDS+=($!)
wait_line "$o_out" '^listening on ' "${PIDS[-1]}" "orchestrator (issuer $ISS)" || die "orchestrator did not start"
ORCH="http://$(awk '/^listening on /{print $3; exit}' "$o_out")"
say "==> agent_api at $API, orchestrator at $ORCH"

# request METHOD URL TOKEN: sets STATUS and BODY.
request() {
    STATUS=$(curl -sS --max-time 15 -o "$WORK/body" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $3" "$2" 2>"$WORK/curl.err") ||
        STATUS="curl failed: $(cat "$WORK/curl.err")"
    BODY=$(cat "$WORK/body" 2>/dev/null || true)
}

# expect WHAT GOT WANT: record the first mismatch of the current scenario in WHY.
expect() {
    [[ -n $WHY || $2 == "$3" ]] || WHY="$1 $2, want $3 (body: ${BODY:0:600})"
}

PASS=0 FAIL=0
# scenario NAME FUNCTION: run it; it sets WHY on failure.
scenario() {
    WHY=""
    "$2"
    if [[ -z $WHY ]]; then
        PASS=$((PASS + 1))
        say "  PASS $1"
    else
        FAIL=$((FAIL + 1))
        say "  FAIL $1: $WHY"
    fi
}

tasks() {
    local caller whoami
    caller=$(client_token "$CALLER" "$ORCH_RESOURCE" "delegate:analysis $DOWNSTREAM_SCOPE") || {
        WHY="no caller token"
        return
    }
    request POST "$ORCH/tasks" "$caller"
    expect "POST /tasks: status" "$STATUS" 200
    expect "downstream_status" "$(json_field downstream_status <<<"$BODY" || true)" 200
    whoami=$(json_field downstream_body <<<"$BODY" || true)
    expect "/whoami sub" "$(json_field sub <<<"$whoami" || true)" "$CALLER"
    expect "/whoami actors" "$(json_field actors <<<"$whoami" || true)" '["orchestrator"]'
    expect "/whoami client_id" "$(json_field client_id <<<"$whoami" || true)" orchestrator
    expect "/whoami scopes" "$(json_field scopes <<<"$whoami" || true)" "[\"$DOWNSTREAM_SCOPE\"]"
}

inbound_refused() {
    local caller
    caller=$(client_token "$CALLER" "$ORCH_RESOURCE" "delegate:analysis $DOWNSTREAM_SCOPE") || {
        WHY="no caller token"
        return
    }
    request GET "$API/whoami" "$caller"
    expect "the caller's token at agent_api: status" "$STATUS" 401
}

delegation_refused() {
    local caller
    caller=$(client_token "$CALLER" "$ORCH_RESOURCE" "delegate:analysis") || {
        WHY="no caller token"
        return
    }
    request POST "$ORCH/tasks" "$caller"
    expect "POST /tasks without $DOWNSTREAM_SCOPE: status" "$STATUS" 403
    expect "error" "$(json_field error <<<"$BODY" || true)" delegation_refused
}

scenario tasks tasks
scenario inbound_refused inbound_refused
scenario delegation_refused delegation_refused

for log in "${a_out%.out}.err" "${o_out%.out}.err"; do
    if grep -qiE 'panicked|RUST_BACKTRACE' "$log"; then
        FAIL=$((FAIL + 1))
        say "  FAIL no_panic: $(basename "$log" .err) panicked"
    fi
done

total=$((PASS + FAIL))
if ((FAIL)); then
    for log in "${o_out%.out}.err" "${a_out%.out}.err" "${p_out%.out}.err"; do
        say "  $(basename "$log" .err) stderr (last 30 lines):"
        tail -n 30 "$log" | sed 's/^/        /'
    done
    say "orchestrator-interop: FAIL $FAIL of $total"
    exit 1
fi
say "orchestrator-interop: PASS $PASS/$total"

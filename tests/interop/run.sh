#!/usr/bin/env bash
# Interop: the agent_api example (a2a-guard) against a real, OpenID-certified authorization
# server, panva's oidc-provider v9, for each access-token signing algorithm.
#
#   tests/interop/run.sh                 # npm ci, cargo build --release, all four algs
#   tests/interop/run.sh ES256 EdDSA     # only these algs
#
# Environment:
#   INTEROP_SKIP_BUILD=1    use the agent_api binary already built (AGENT_API=path to override)
#   INTEROP_SKIP_NPM_CI=1   keep the existing tests/interop/node_modules
#   INTEROP_VERBOSE=1       print every check, not only failures
#   INTEROP_KEEP_LOGS=1     keep the temporary log directory
#
# Everything listens on 127.0.0.1 with OS-assigned ports (no port races). Every process the
# script starts is killed on exit. Exit status is non-zero if any check fails.
set -euo pipefail

ALGS=("$@")
[[ ${#ALGS[@]} -gt 0 ]] || ALGS=(RS256 PS256 ES256 EdDSA)

RESOURCE="urn:agent-api" # RFC 8707: an absolute URI; the provider maps it to aud "agent-api"
AUDIENCE="agent-api"
TE_GRANT="urn:ietf:params:oauth:grant-type:token-exchange"
AT_TYPE="urn:ietf:params:oauth:token-type:access_token"
VERBOSE=${INTEROP_VERBOSE:-0}

INTEROP_NAME=interop
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools node npm curl cargo

# ---- set-up ------------------------------------------------------------------------------

npm_ci

AGENT_API="${AGENT_API:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/agent_api}"
if [[ ${INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example agent_api"
    (cd "$ROOT" && cargo build --release --example agent_api) || die "cargo build of agent_api failed"
fi
[[ -x "$AGENT_API" ]] || die "agent_api binary not found at $AGENT_API"

say "==> oidc-provider $OIDC_VERSION on node $(node --version); agent_api $AGENT_API"

# ---- helpers ------------------------------------------------------------------------------

# jwt_part TOKEN 0|1: the decoded header (0) or payload (1).
jwt_part() {
    node -e '
        const part = (process.argv[1] || "").split(".")[+process.argv[2]];
        if (!part) process.exit(1);
        console.log(Buffer.from(part, "base64url").toString());' "$1" "$2"
}

# tamper_flip TOKEN: one character in the middle of the payload changed; signature kept.
tamper_flip() {
    node -e '
        const [h, p, s] = process.argv[1].split(".");
        const i = p.length >> 1;
        console.log([h, p.slice(0, i) + (p[i] === "A" ? "B" : "A") + p.slice(i + 1), s].join("."));' "$1"
}

# tamper_scope TOKEN SCOPE: the payload re-encoded with another scope; signature kept.
tamper_scope() {
    node -e '
        const [h, p, s] = process.argv[1].split(".");
        const c = JSON.parse(Buffer.from(p, "base64url"));
        c.scope = process.argv[2];
        console.log([h, Buffer.from(JSON.stringify(c)).toString("base64url"), s].join("."));' "$1" "$2"
}

# token CLIENT SCOPE: a client_credentials access token for agent_api from the provider.
token() { client_token "$1" "$RESOURCE" "$2"; }

# exchange CLIENT SUBJECT_TOKEN SCOPE: RFC 8693 token exchange at the provider.
exchange() {
    local resp
    resp=$(curl -sS --max-time 15 -u "$1:$1-secret" \
        --data-urlencode "grant_type=$TE_GRANT" \
        --data-urlencode "subject_token=$2" \
        --data-urlencode "subject_token_type=$AT_TYPE" \
        --data-urlencode "resource=$RESOURCE" \
        --data-urlencode "scope=$3" "$ISS/token") || {
        err "[$ALG] POST $ISS/token (token exchange, $1) failed"
        return 1
    }
    json_field access_token <<<"$resp" || {
        err "[$ALG] token exchange by $1 scope '$3' refused: $resp"
        return 1
    }
}

jwks_fetches() { curl -sS --max-time 5 "$ISS/__keys" | json_field jwks_fetches; }

# call METHOD PATH [TOKEN]: one request to agent_api; sets STATUS, $WORK/h (headers), $WORK/b.
call() {
    local method=$1 path=$2 token=${3-}
    local auth=()
    [[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
    LAST_REQ="$method $API$path ${token:+Authorization: Bearer $token}"
    STATUS=$(curl -sS --max-time 15 -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' \
        -X "$method" "${auth[@]}" "$API$path" 2>"$WORK/curl.err") || STATUS="curl failed: $(cat "$WORK/curl.err")"
}

# check NAME STATUS [WWW-AUTHENTICATE SUBSTRING] [BODY SUBSTRING]: judge the last call.
check() {
    local name=$1 want=$2 www=${3-} body=${4-} why=""
    [[ $STATUS == "$want" ]] || why="status $STATUS, want $want"
    if [[ -z $why && -n $www ]] && ! grep -i '^www-authenticate:' "$WORK/h" | grep -qF -- "$www"; then
        why="WWW-Authenticate lacks '$www'"
    fi
    if [[ -z $why && -n $body ]] && ! grep -qF -- "$body" "$WORK/b"; then
        why="body lacks '$body'"
    fi
    if [[ -z $why ]]; then
        PASS=$((PASS + 1))
        if [[ $VERBOSE == 1 ]]; then say "  ok    [$ALG] $name -> $STATUS"; fi
    else
        FAIL=$((FAIL + 1))
        FAILED+=("$name")
        say "  FAIL  [$ALG] $name: $why"
        say "        request:  $LAST_REQ"
        sed 's/\r$//; s/^/        < /' "$WORK/h"
        say "        body:     $(head -c 600 "$WORK/b")"
    fi
}

# check_eq NAME GOT WANT: a non-HTTP assertion.
check_eq() {
    if [[ $2 == "$3" ]]; then
        PASS=$((PASS + 1))
        if [[ $VERBOSE == 1 ]]; then say "  ok    [$ALG] $1 = $2"; fi
    else
        FAIL=$((FAIL + 1))
        FAILED+=("$1")
        say "  FAIL  [$ALG] $1: got $2, want $3"
    fi
}

# ---- one algorithm -----------------------------------------------------------------------

run_alg() {
    ALG=$1 PASS=0 FAIL=0 FAILED=() EXTRA=""
    local p_out="$WORK/$ALG.provider.out" a_out="$WORK/$ALG.agent_api.out"

    start_provider "$ALG" "$p_out" || return 1
    local ppid=$PROVIDER_PID
    grep -q 'Unsupported runtime' "${p_out%.out}.err" && EXTRA+=" (oidc-provider: unsupported-runtime warning)"

    NO_COLOR=1 "$AGENT_API" --issuer "$ISS" --audience "$AUDIENCE" --listen 127.0.0.1:0 \
        >"$a_out" 2>"${a_out%.out}.err" &
    local apid=$!
    PIDS+=("$apid")
    wait_line "$a_out" '^listening on ' "$apid" "agent_api ($ALG, issuer $ISS)" || {
        stop "$apid"
        stop "$ppid"
        return 1
    }
    API="http://$(awk '/^listening on /{print $3; exit}' "$a_out")"
    if [[ $VERBOSE == 1 ]]; then say "  [$ALG] provider $ISS, agent_api $API"; fi

    local all read_only exchanged hop2 t
    if ! all=$(token orchestrator "read:data write:reports execute:payment delegate:analysis read:customers:eu") ||
        ! read_only=$(token orchestrator "read:data"); then
        stop "$apid"
        stop "$ppid"
        return 1
    fi
    check_eq "token header alg" "$(jwt_part "$all" 0 | json_field alg)" "$ALG"
    check_eq "token header typ" "$(jwt_part "$all" 0 | json_field typ)" "at+jwt"
    if [[ $ALG == "${ALGS[0]}" ]]; then
        say "  [$ALG] token header: $(jwt_part "$all" 0)"
        say "  [$ALG] token claims: $(jwt_part "$all" 1)"
    fi

    call GET /health
    check "GET /health, no token" 200
    call GET /whoami "$all"
    check "GET /whoami" 200 "" '"sub":"orchestrator"'
    call GET /data "$all"
    check "GET /data with read:data" 200
    call POST /reports "$all"
    check "POST /reports with write:reports" 200
    call GET /customers/eu "$all"
    check "GET /customers/eu with read:customers:eu" 200
    call POST /payments "$all"
    check "POST /payments with execute:payment" 200
    call GET /data "$read_only"
    check "GET /data with only read:data" 200

    call POST /payments "$read_only"
    check "POST /payments without execute:payment" 403 'error="insufficient_scope"'
    call POST /reports "$read_only"
    check "POST /reports without write:reports" 403 'error="insufficient_scope"'
    call GET /customers/us "$all"
    check "GET /customers/us with read:customers:eu" 403 'error="insufficient_scope"'

    call GET /data "$(tamper_flip "$all")"
    check "tampered token (payload char flipped)" 401 'error="invalid_token"'
    call POST /payments "$(tamper_scope "$read_only" "read:data execute:payment")"
    check "tampered token (scope raised, signature kept)" 401 'error="invalid_token"'
    call GET /data
    check "no token" 401 'Bearer'
    if grep -i '^www-authenticate:' "$WORK/h" | grep -q 'error='; then
        check_eq "no token: WWW-Authenticate has no error code" "has error=" "no error="
    fi

    # Key rotation: the new key signs, the old one stays published.
    local before after old_kid new_kid
    old_kid=$(jwt_part "$all" 0 | json_field kid)
    curl -sS --max-time 10 -X POST "$ISS/__rotate" >"$WORK/rotate" || err "[$ALG] POST $ISS/__rotate failed"
    new_kid=$(json_field kid <"$WORK/rotate" || true)
    t=$(token orchestrator "read:data") || t=""
    check_eq "token after rotation is signed by the new key" "$(jwt_part "$t" 0 | json_field kid || echo none)" "$new_kid"
    [[ $old_kid != "$new_kid" ]] || check_eq "rotation changed the kid" "$new_kid" "not $old_kid"
    before=$(jwks_fetches)
    call GET /data "$all"
    check "old-key token after rotation" 200
    check_eq "JWKS fetches for a known kid" "$(($(jwks_fetches) - before))" 0
    call GET /data "$t"
    check "new-key token after rotation" 200
    after=$(jwks_fetches)
    check_eq "JWKS refetches for the new kid" "$((after - before))" 1
    call GET /data "$t"
    check "new-key token again (cached key)" 200
    check_eq "JWKS fetches after the new key is known" "$(($(jwks_fetches) - after))" 0

    # RFC 8693 token exchange: portal -> orchestrator -> analyst.
    local subject
    subject=$(token portal "read:data write:reports delegate:analysis") || subject=""
    exchanged=$(exchange orchestrator "$subject" "read:data delegate:analysis") || exchanged=""
    check_eq "exchanged token act" "$(jwt_part "$exchanged" 1 | json_field act || echo none)" '{"sub":"orchestrator"}'
    call GET /whoami "$exchanged"
    check "GET /whoami with exchanged token" 200
    check_eq "GET /whoami with exchanged token: actors" "$(json_field actors <"$WORK/b" || true)" '["orchestrator"]'
    check_eq "GET /whoami with exchanged token: sub" "$(json_field sub <"$WORK/b" || true)" portal
    call POST /delegate "$exchanged"
    check "POST /delegate with exchanged token" 200 "" '"actor":"orchestrator"'
    call POST /reports "$exchanged"
    check "POST /reports with exchanged (narrowed) token" 403 'error="insufficient_scope"'
    hop2=$(exchange analyst "$exchanged" "read:data") || hop2=""
    call GET /whoami "$hop2"
    check "GET /whoami after two exchanges" 200
    check_eq "GET /whoami after two exchanges: actors" "$(json_field actors <"$WORK/b" || true)" '["analyst","orchestrator"]'
    call GET /data "$hop2"
    check "GET /data with twice-exchanged token" 200

    # Nothing in the guard's log that should not be there.
    if grep -qiE 'panicked|RUST_BACKTRACE' "${a_out%.out}.err"; then
        check_eq "agent_api stderr free of panics" "panic" "none"
        sed 's/^/        /' "${a_out%.out}.err"
    fi

    stop "$apid"
    stop "$ppid"
    if ((FAIL)); then
        say "  [$ALG] agent_api stderr (last 20 lines):"
        tail -n 20 "${a_out%.out}.err" | sed 's/^/        /'
        say "  [$ALG] provider stderr:"
        sed 's/^/        /' "${p_out%.out}.err"
    fi
    return 0
}

# ---- main ---------------------------------------------------------------------------------

SUMMARY=()
STATUS_ALL=0
for alg in "${ALGS[@]}"; do
    case $alg in RS256 | PS256 | ES256 | EdDSA) ;; *) die "unknown alg $alg (RS256 PS256 ES256 EdDSA)" ;; esac
    say "==> $alg"
    if run_alg "$alg"; then
        if ((FAIL == 0)); then
            SUMMARY+=("interop $alg: PASS $PASS/$PASS checks$EXTRA")
        else
            SUMMARY+=("interop $alg: FAIL $FAIL of $((PASS + FAIL)) checks: ${FAILED[*]}")
            STATUS_ALL=1
        fi
    else
        SUMMARY+=("interop $alg: FAIL (could not start or get tokens; see above)")
        STATUS_ALL=1
    fi
done

say ""
say "==> summary (oidc-provider $OIDC_VERSION)"
printf '%s\n' "${SUMMARY[@]}"
exit "$STATUS_ALL"

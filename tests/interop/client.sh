#!/usr/bin/env bash
# Interop, calling side (issue 13): a2a-guard's `client` feature against panva's oidc-provider
# (provider.mjs). examples/client_interop.rs gets tokens with client_secret_basic/_post,
# private_key_jwt (RFC 7523), DPoP with the provider's nonces (RFC 9449) and token exchange
# (RFC 8693), finds the token endpoint by discovery (RFC 8414), revokes an opaque token
# (RFC 7009) and sees the provider's introspection (RFC 7662) and a2a-guard's Validator call it
# inactive, and checks every token with a2a-guard's Validator and a DPoP resource on loopback.
# One signing algorithm is enough here: run.sh covers all four.
#
#   tests/interop/client.sh
#
# Environment:
#   INTEROP_ALG=ES256       the provider's access-token signing algorithm
#   INTEROP_SKIP_BUILD=1    use the client_interop binary already built (CLIENT_INTEROP=path)
#   INTEROP_SKIP_NPM_CI=1   keep the existing tests/interop/node_modules
#   INTEROP_KEEP_LOGS=1     keep the temporary log directory
#
# Prints one line per scenario (PASS/FAIL/SKIP) and `client-interop: PASS n/n` at the end.
# Everything listens on 127.0.0.1 with OS-assigned ports. Every process the script starts is
# stopped on exit. Exit status is non-zero if any scenario fails.
set -euo pipefail

ALG=${INTEROP_ALG:-ES256}
INTEROP_NAME=interop-client
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools node npm cargo

# ---- set-up ------------------------------------------------------------------------------

npm_ci

CLIENT_INTEROP="${CLIENT_INTEROP:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/client_interop}"
if [[ ${INTEROP_SKIP_BUILD:-0} != 1 ]]; then
    say "==> cargo build --release --example client_interop"
    (cd "$ROOT" && cargo build --release --example client_interop --features client,reqwest-middleware) ||
        die "cargo build of client_interop failed"
fi
[[ -x "$CLIENT_INTEROP" ]] || die "client_interop binary not found at $CLIENT_INTEROP"

# ---- run ----------------------------------------------------------------------------------

p_out="$WORK/provider.out" d_out="$WORK/client_interop.out"
# The provider generates the private_key_jwt client's key and writes the private half here.
key="$WORK/agent-jwt.pem"
CLIENT_KEY_FILE="$key" start_provider "$ALG" "$p_out" || die "oidc-provider did not start"
[[ -s $key ]] || die "oidc-provider wrote no client key to $key"
say "==> oidc-provider $OIDC_VERSION at $ISS ($ALG), node $(node --version)"

status=0
NO_COLOR=1 "$CLIENT_INTEROP" --issuer "$ISS" --client-key "$key" >"$d_out" 2>"${d_out%.out}.err" || status=$?
sed 's/^/  /' "$d_out"

pass=$(grep -c '^PASS ' "$d_out" || true)
fail=$(grep -c '^FAIL ' "$d_out" || true)
skip=$(grep -c '^SKIP ' "$d_out" || true)
total=$((pass + fail))
verdict=""
if ((fail)); then
    verdict="FAIL $fail of $total"
elif ((status != 0)); then
    verdict="FAIL (client_interop exited with status $status)"
elif grep -qiE 'panicked|RUST_BACKTRACE' "${d_out%.out}.err"; then
    verdict="FAIL (client_interop panicked)"
fi
if [[ -n $verdict ]]; then
    say "  client_interop stderr:"
    sed 's/^/        /' "${d_out%.out}.err"
    say "  provider stderr:"
    sed 's/^/        /' "${p_out%.out}.err"
    say "client-interop: $verdict"
    exit 1
fi
skipped=""
((skip == 0)) || skipped=" ($skip skipped: $(awk '/^SKIP /{sub(/:.*/, "", $2); printf "%s%s", sep, $2; sep=", "}' "$d_out"))"
say "client-interop: PASS $pass/$total$skipped"

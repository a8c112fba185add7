# Shared by the gate's proxy proofs (gate_nginx.sh, gate_traefik.sh); sourced after lib.sh.
# Builds the gate and its dev issuer, mints tokens, starts the gate (example configuration,
# this run's port) and the Python echo agent, and defines `run_scenarios PROXY_PORT NAME`:
# the checks every proxy must pass. Sets GATE_PORT and AGENT_PORT.
# shellcheck shell=bash

say "==> cargo build -p a2a-guard-gate (the gate and its dev issuer)"
(cd "$ROOT" && cargo build -q -p a2a-guard-gate --bin a2a-guard-gate --example dev_issuer) ||
    die "cargo build of the gate failed"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GATE_PORT=$(free_port)
ADMIN_PORT=$(free_port)
AGENT_PORT=$(free_port)

# Keys and tokens: the dev issuer writes target/gate-dev-jwks.json (from the root).
(cd "$ROOT" && "$TARGET/debug/examples/dev_issuer") >"$WORK/tokens" || die "dev_issuer failed"
token_for() { grep -A1 "^# scopes: $1 " "$WORK/tokens" | tail -1; }
T_CUSTOMERS=$(token_for "read:customers")
T_PAY=$(token_for "read:payments execute:payment")
T_ORDERS=$(token_for "read:orders")
[[ -n $T_CUSTOMERS && -n $T_PAY && -n $T_ORDERS ]] || die "no tokens from dev_issuer"

# The example configuration, on this run's ports.
sed -e "s|^forward_auth = .*|forward_auth = \"127.0.0.1:$GATE_PORT\"|" \
    -e "s|^admin = .*|admin = \"127.0.0.1:$ADMIN_PORT\"|" \
    -e "s|^keys_file = .*|keys_file = \"$ROOT/target/gate-dev-jwks.json\"|" \
    "$ROOT/gate/examples/gate.toml" >"$WORK/gate.toml"
"$TARGET/debug/a2a-guard-gate" check --config "$WORK/gate.toml" >/dev/null || die "gate check failed"
"$TARGET/debug/a2a-guard-gate" --config "$WORK/gate.toml" >"$WORK/gate.out" 2>"$WORK/gate.err" &
PIDS+=($!)
wait_line "$WORK/gate.out" "forward-auth listening" "${PIDS[-1]}" "the gate"

# The agent: answers every request with the method, path and X-Auth-* headers it received.
cat >"$WORK/agent.py" <<'EOF'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    def answer(self):
        seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-auth-")}
        body = json.dumps({"method": self.command, "path": self.path, "headers": seen}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
print("agent ready", flush=True)
server.serve_forever()
EOF
python3 "$WORK/agent.py" "$AGENT_PORT" >"$WORK/agent.out" 2>"$WORK/agent.err" &
PIDS+=($!)
wait_line "$WORK/agent.out" "agent ready" "${PIDS[-1]}" "the agent"


# ---- scenarios -----------------------------------------------------------------------------

check() { # NAME RESULT (0: pass) DETAIL
    if [[ $2 == 0 ]]; then
        PASS=$((PASS + 1)); say "PASS $1"
    else
        FAIL=$((FAIL + 1)); say "FAIL $1: $3"
    fi
}
# req METHOD PATH [curl args…]: prints "STATUS" on line 1, the WWW-Authenticate on line 2,
# the body after.
req() {
    local method=$1 path=$2
    shift 2
    curl -s -X "$method" -D "$WORK/h" -o "$WORK/b" -w '%{http_code}' "$@" "http://127.0.0.1:$PROXY_PORT$path"
    printf '\n%s\n' "$(grep -i '^www-authenticate:' "$WORK/h" | tr -d '\r' || true)"
    cat "$WORK/b"
}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().split('\n',2)[2])['headers'].get('$1', ''))"; }

# run_scenarios PORT NAME: the checks, through the proxy listening on PORT.
run_scenarios() {
    PROXY_PORT=$1 PASS=0 FAIL=0
    out=$(req GET /customers/42 -H "Authorization: Bearer $T_CUSTOMERS")
    [[ $(head -1 <<<"$out") == 200 && $(field x-auth-sub <<<"$out") == "agent:dev" &&
        $(field x-auth-scopes <<<"$out") == "read:customers" ]] && r=0 || r=1
    check "allowed: 200, the agent gets X-Auth-Sub and X-Auth-Scopes" "$r" "$out"

    out=$(req GET /customers/42)
    [[ $(head -1 <<<"$out") == 401 && $(sed -n 2p <<<"$out") == *'scope="read:customers"'* ]] && r=0 || r=1
    check "no token: 401 with the gate's challenge naming the route's scope" "$r" "$out"

    out=$(req GET /customers/42 -H "Authorization: Bearer $T_ORDERS")
    [[ $(head -1 <<<"$out") == 403 && $(sed -n 2p <<<"$out") == *insufficient_scope* ]] && r=0 || r=1
    check "wrong scope: 403 insufficient_scope reaches the client" "$r" "$out"

    out=$(req POST /payments/7 -H "Authorization: Bearer $T_PAY")
    [[ $(head -1 <<<"$out") == 200 ]] && r=0 || r=1
    check "POST /payments/7 with execute:payment: 200" "$r" "$out"

    out=$(req POST /payments/7 -H "Authorization: Bearer $T_CUSTOMERS")
    [[ $(head -1 <<<"$out") == 403 ]] && r=0 || r=1
    check "POST /payments/7 without execute:payment: 403" "$r" "$out"

    out=$(req GET /customers/42 -H "Authorization: Bearer $T_CUSTOMERS" -H "X-Auth-Sub: admin" -H "X-Auth-Scopes: admin")
    [[ $(field x-auth-sub <<<"$out") == "agent:dev" && $(field x-auth-scopes <<<"$out") == "read:customers" ]] && r=0 || r=1
    check "spoofed X-Auth-* with a valid token: the agent sees the token's claims" "$r" "$out"

    out=$(req GET /.well-known/agent-card.json -H "X-Auth-Sub: admin")
    [[ $(head -1 <<<"$out") == 200 && -z $(field x-auth-sub <<<"$out") ]] && r=0 || r=1
    check "spoofed X-Auth-Sub on a public route: never reaches the agent" "$r" "$out"

    out=$(req GET /customers/../admin -H "Authorization: Bearer $T_CUSTOMERS" --path-as-is)
    [[ $(head -1 <<<"$out") != 200 ]] && r=0 || r=1
    check "dot segments: refused" "$r" "$out"

    say "$2: $([[ $FAIL == 0 ]] && echo PASS || echo FAIL) $PASS/$((PASS + FAIL))"
    [[ $FAIL == 0 ]]
}

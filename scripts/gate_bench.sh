#!/usr/bin/env bash
# a2a-guard-gate under load (issue 17), all on loopback, figures for BENCHMARKS.md:
#   1. forward-auth decisions straight from wrk (as nginx `auth_request` asks): requests/s and
#      latency p50/p99 with one reused token (verified-token cache hits), and with a new token
#      per request (a signature check each; the gate's /metrics confirms the misses);
#   2. end to end: nginx → gate (auth_request) → Python agent against nginx → Python agent
#      without auth, the gate as the reverse proxy → agent against wrk → agent directly, and
#      nginx → gate → a static nginx answer against nginx → the same answer (the gate's cost
#      without a slow agent hiding it), alternating in rounds, ratio per round and median;
#   3. the gate's memory (VmRSS) at idle, and its peak (VmHWM) after all of it.
# Not run by CI (a load test on a shared machine); installs nothing: needs wrk, nginx,
# python3 and taskset. The gate runs as built by `cargo build --release` with its default
# logging (one JSON audit line per decision on stdout, here to /dev/null).
#
#   scripts/gate_bench.sh                     # 3 rounds of 5 s per measurement
#   ROUNDS=5 DURATION=10s TOKENS=200000 scripts/gate_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-32}
TOKENS=${TOKENS:-150000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
for tool in wrk nginx python3 taskset curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet -p a2a-guard-gate --bin a2a-guard-gate --example dev_issuer
gate_bin="$CARGO_TARGET_DIR/release/a2a-guard-gate"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "nothing on :$1" >&2; exit 1; }
GATE=$(free_port) ADMIN=$(free_port) PROXY=$(free_port) AGENT=$(free_port) NGX_AUTH=$(free_port) NGX_PLAIN=$(free_port)
FAST=$(free_port) NGX_AUTH_FAST=$(free_port) NGX_PLAIN_FAST=$(free_port)

"$CARGO_TARGET_DIR/release/examples/dev_issuer" --tokens "$TOKENS" "$work/tokens" >"$work/issuer.out"
REUSED=$(head -1 "$work/tokens")

sed -e "s|^forward_auth = .*|forward_auth = \"127.0.0.1:$GATE\"|" \
    -e "s|^admin = .*|admin = \"127.0.0.1:$ADMIN\"|" \
    -e "s|^keys_file = .*|keys_file = \"$ROOT/target/gate-dev-jwks.json\"|" \
    -e "s|^# \[proxy\]|[proxy]|" \
    -e "s|^# listen = .*|listen = \"127.0.0.1:$PROXY\"|" \
    -e "s|^# upstream = .*|upstream = \"http://127.0.0.1:$AGENT\"|" \
    gate/examples/gate.toml >"$work/gate.toml"
"$gate_bin" check --config "$work/gate.toml" >/dev/null
taskset -c "$SERVER_CPU" "$gate_bin" --config "$work/gate.toml" >/dev/null 2>"$work/gate.err" &
gate_pid=$!
pids+=("$gate_pid")

cat >"$work/agent.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Agent(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, Nagle's algorithm and delayed ACKs hold every response ~40 ms.
    disable_nagle_algorithm = True
    def do_GET(self):
        body = b'{"customer": 42}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Agent).serve_forever()
EOF
taskset -c "$SERVER_CPU" python3 "$work/agent.py" "$AGENT" 2>/dev/null &
pids+=($!)

mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    upstream agent { server 127.0.0.1:$AGENT; keepalive 32; }
    upstream fast { server 127.0.0.1:$FAST; keepalive 32; }
    upstream gate { server 127.0.0.1:$GATE; keepalive 32; }
    server {
        listen 127.0.0.1:$NGX_AUTH;
        location / {
            auth_request /_gate;
            auth_request_set \$auth_sub \$upstream_http_x_auth_sub;
            auth_request_set \$auth_scopes \$upstream_http_x_auth_scopes;
            proxy_set_header X-Auth-Sub \$auth_sub;
            proxy_set_header X-Auth-Scopes \$auth_scopes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://agent;
        }
        location = /_gate {
            internal;
            proxy_pass http://gate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
        }
    }
    server {
        listen 127.0.0.1:$NGX_PLAIN;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://agent;
        }
    }
    server {
        listen 127.0.0.1:$NGX_AUTH_FAST;
        location / {
            auth_request /_gate;
            auth_request_set \$auth_sub \$upstream_http_x_auth_sub;
            auth_request_set \$auth_scopes \$upstream_http_x_auth_scopes;
            proxy_set_header X-Auth-Sub \$auth_sub;
            proxy_set_header X-Auth-Scopes \$auth_scopes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://fast;
        }
        location = /_gate {
            internal;
            proxy_pass http://gate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
        }
    }
    server {
        listen 127.0.0.1:$NGX_PLAIN_FAST;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://fast;
        }
    }
    # The "fast agent": nginx answering by itself, so the gate's own cost is not hidden
    # behind a slow Python process.
    server {
        listen 127.0.0.1:$FAST;
        location / { default_type application/json; return 200 '{"customer": 42}'; }
    }
}
EOF
taskset -c "$SERVER_CPU" nginx -c "$work/nginx.conf" -p "$work" 2>/dev/null
wait_port "$ADMIN"; wait_port "$AGENT"; wait_port "$NGX_PLAIN"; wait_port "$FAST"
idle_rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$gate_pid/status")

cat >"$work/rotate.lua" <<'EOF'
local tokens, i = {}, 0
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
request = function()
    i = i % #tokens + 1
    return wrk.format("GET", "/auth", {
        ["X-Original-Method"] = "GET",
        ["X-Original-URI"] = "/customers/42",
        ["Authorization"] = "Bearer " .. tokens[i],
    })
end
EOF

# run URL [wrk args…]: "requests/s p50 p99" of one wrk run pinned to the client core.
run() {
    local url=$1
    shift
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url" | awk '
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx/ { bad = $NF }
        END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 } print rps, p50, p99 }'
}
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
auth_headers=(-H "X-Original-Method: GET" -H "X-Original-URI: /customers/42")

echo "## Forward-auth decisions (wrk → gate, $CONNS connections, $DURATION, gate pinned to CPU $SERVER_CPU)"
echo
echo "| token | requests/s | p50 | p99 | cache misses / requests |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
    m0=$(metric a2a_guard_token_cache_misses_total); m0=${m0:-0}
    d0=$(metric 'a2a_guard_decisions_total{decision="allow",reason="ok",route="/customers/**"}'); d0=${d0:-0}
    read -r rps p50 p99 < <(run "http://127.0.0.1:$GATE/auth" "${auth_headers[@]}" -H "Authorization: Bearer $REUSED")
    m1=$(metric a2a_guard_token_cache_misses_total); d1=$(metric 'a2a_guard_decisions_total{decision="allow",reason="ok",route="/customers/**"}')
    echo "| reused (round $r) | $rps | $p50 | $p99 | $((${m1:-0} - m0)) / $((d1 - d0)) |"
    read -r rps p50 p99 < <(TOKENS_FILE="$work/tokens" run "http://127.0.0.1:$GATE/auth" -s "$work/rotate.lua")
    m2=$(metric a2a_guard_token_cache_misses_total); d2=$(metric 'a2a_guard_decisions_total{decision="allow",reason="ok",route="/customers/**"}')
    echo "| new per request (round $r) | $rps | $p50 | $p99 | $((m2 - ${m1:-0})) / $((d2 - d1)) |"
done

echo
echo "## End to end (Python ThreadingHTTPServer agent; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU)"
echo
echo "| round | nginx → agent | nginx → gate → agent | ratio | wrk → agent | gate proxy → agent | ratio | nginx → static | nginx → gate → static | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
: >"$work/r1"; : >"$work/r2"; : >"$work/r3"
bearer=(-H "Authorization: Bearer $REUSED")
for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then
        read -r fplain _ < <(run "http://127.0.0.1:$NGX_PLAIN_FAST/customers/42" "${bearer[@]}")
        read -r fauth _ < <(run "http://127.0.0.1:$NGX_AUTH_FAST/customers/42" "${bearer[@]}")
        read -r plain _ < <(run "http://127.0.0.1:$NGX_PLAIN/customers/42" "${bearer[@]}")
        read -r auth _ < <(run "http://127.0.0.1:$NGX_AUTH/customers/42" "${bearer[@]}")
        read -r direct _ < <(run "http://127.0.0.1:$AGENT/customers/42" "${bearer[@]}")
        read -r proxied _ < <(run "http://127.0.0.1:$PROXY/customers/42" "${bearer[@]}")
    else
        read -r fauth _ < <(run "http://127.0.0.1:$NGX_AUTH_FAST/customers/42" "${bearer[@]}")
        read -r fplain _ < <(run "http://127.0.0.1:$NGX_PLAIN_FAST/customers/42" "${bearer[@]}")
        read -r auth _ < <(run "http://127.0.0.1:$NGX_AUTH/customers/42" "${bearer[@]}")
        read -r plain _ < <(run "http://127.0.0.1:$NGX_PLAIN/customers/42" "${bearer[@]}")
        read -r proxied _ < <(run "http://127.0.0.1:$PROXY/customers/42" "${bearer[@]}")
        read -r direct _ < <(run "http://127.0.0.1:$AGENT/customers/42" "${bearer[@]}")
    fi
    q1=$(awk -v a="$auth" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')
    q2=$(awk -v a="$proxied" -v b="$direct" 'BEGIN { printf "%.3f", a / b }')
    q3=$(awk -v a="$fauth" -v b="$fplain" 'BEGIN { printf "%.3f", a / b }')
    echo "$q1" >>"$work/r1"; echo "$q2" >>"$work/r2"; echo "$q3" >>"$work/r3"
    echo "| $r | $plain | $auth | $q1 | $direct | $proxied | $q2 | $fplain | $fauth | $q3 |"
done
echo "| median | | | $(median <"$work/r1") | | | $(median <"$work/r2") | | | $(median <"$work/r3") |"

echo
peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$gate_pid/status")
now=$(awk '/^VmRSS/ { print $2 }' "/proc/$gate_pid/status")
echo "Gate memory: idle VmRSS $((idle_rss / 1024)) MiB; after the load VmRSS $((now / 1024)) MiB, peak VmHWM $((peak / 1024)) MiB ($TOKENS tokens seen, verified-token cache default 64 MiB budget)."

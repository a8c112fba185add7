#!/usr/bin/env bash
# The auth layer's cost over real HTTP (issue 16): requests/s of an axum `GET /whoami`
# behind `validator.layer()` (a verified-token cache hit per request) against the same route
# without the layer, on the same single-threaded server pinned to one core, with wrk pinned
# to the other. Rounds alternate the order; prints per-round ratios and their median.
# Not run by CI (a load test on a shared machine); installs nothing: needs wrk and taskset.
#
#   scripts/http_overhead.sh                   # RS256 ES256 EdDSA, 5 rounds of 2 × 5 s each
#   ALGS=ES256 ROUNDS=9 DURATION=10s scripts/http_overhead.sh
#   SERVER_CPU=0 CLIENT_CPU=1 CONNS=16         # the defaults
set -euo pipefail
cd "$(dirname "$0")/.."
ALGS=${ALGS:-RS256 ES256 EdDSA}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
for tool in wrk taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install $tool)" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --example http_overhead
bin="$CARGO_TARGET_DIR/release/examples/http_overhead"
out="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$out"' EXIT

# rps PORT [TOKEN]: requests/s of one wrk run.
rps() {
    local args=(-t1 -c"$CONNS" -d"$DURATION" --latency)
    [ -n "${2:-}" ] && args+=(-H "Authorization: Bearer $2")
    taskset -c "$CLIENT_CPU" wrk "${args[@]}" "http://127.0.0.1:$1/whoami" |
        awk '/^Requests\/sec:/ { print $2 }'
}

echo "| algorithm | bare req/s (median) | with the layer req/s (median) | ratio per round | median ratio |"
echo "|---|---|---|---|---|"
for alg in $ALGS; do
    taskset -c "$SERVER_CPU" "$bin" "$alg" >"$out/info" &
    server=$!
    for _ in $(seq 50); do [ -s "$out/info" ] && break; sleep 0.1; done
    read -r b l t <"$out/info"
    bare=${b#bare=} layer=${l#layer=} token=${t#token=}
    # Warm up both (connections, the verified-token cache, CPU frequency).
    DURATION=2s rps "$bare" >/dev/null
    DURATION=2s rps "$layer" "$token" >/dev/null
    ratios=() bares=() layers=()
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            x=$(rps "$bare"); y=$(rps "$layer" "$token")
        else
            y=$(rps "$layer" "$token"); x=$(rps "$bare")
        fi
        bares+=("$x") layers+=("$y")
        ratios+=("$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.3f", y / x }')")
    done
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=""
    median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
    echo "| $alg | $(median "${bares[@]}") | $(median "${layers[@]}") | ${ratios[*]} | **$(median "${ratios[@]}")** |"
done

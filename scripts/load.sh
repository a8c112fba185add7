#!/usr/bin/env bash
# HTTP load against the agent_api example on loopback (issue 5):
#   1. requests/s and p50/p99 of GET /whoami (valid token) vs GET /health on the same
#      server, same duration/connections/threads, back to back, alternating order;
#   2. p99 of valid GET /whoami while a second load generator sends a storm of tokens
#      whose kid is unknown (a fresh forged kid per request), vs the same valid load alone,
#      and vs the same valid load next to an equally shaped load of GET /health (control:
#      what any concurrent load costs on this machine).
# Prints a summary table; every ratio comes from runs made in this one invocation.
#
# Usage: scripts/load.sh            (from the repository root or anywhere)
# Knobs (environment):
#   DURATION=10s CONNS=32 THREADS=2       each measured run
#   ROUNDS=3                              how many times each comparison is repeated
#   STORM_CONNS=32 STORM_THREADS=1        the forged-kid load generator
#   MODES="off stderr file chain"         how the server records audit events in part 1:
#                                         off    RUST_LOG=warn: no allow events (audit off)
#                                         stderr RUST_LOG=info, the demo's default: one text
#                                                line per request on stderr (a file here),
#                                                through the non-blocking lossless writer
#                                         file   --audit-log FILE: JSON lines to a file
#                                         chain  --audit-chain FILE: the hash-chained writer
#                                                (built with --features audit-file), verified
#                                                with examples/audit_verify afterwards
#   BIN=path                              another agent_api binary (e.g. an older build)
#   PARTS="1 2"                           which parts to run
#   QUIET_MAX_BUSY=0.25 QUIET_TRIES=20    before each round, wait (15 s a try) until other
#                                         processes use < 25 % of all cores
#   SKIP_BUILD=1                          use target/release/examples/agent_api as is
#   OUT=dir                               where logs and raw wrk output go (default: mktemp)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/scripts/load"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
STORM_CONNS="${STORM_CONNS:-32}"
STORM_THREADS="${STORM_THREADS:-1}"
MODES="${MODES:-off stderr file chain}"
PARTS="${PARTS:-1 2}"
QUIET_MAX_BUSY="${QUIET_MAX_BUSY:-0.25}"
QUIET_TRIES="${QUIET_TRIES:-20}"
OUT="${OUT:-$(mktemp -d /tmp/a2a-load.XXXXXX)}"
mkdir -p "$OUT"
BIN="${BIN:-$ROOT/target/release/examples/agent_api}"

log() { printf '%s\n' "$*" >&2; }

# ---- tools ------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  log "wrk not found: installing it from the OS packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y wrk >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y wrk >/dev/null; } \
    || { log "could not install wrk (apt-get install wrk)"; exit 1; }
fi
log "load generator: $(wrk --version 2>&1 | head -1 | cut -c1-60)"

if [ -z "${SKIP_BUILD:-}" ]; then
  log "building: cargo build --release --features audit-file --example agent_api --example audit_verify"
  (cd "$ROOT" && cargo build --release --features audit-file --example agent_api --example audit_verify >&2)
fi
[ -x "$BIN" ] || { log "missing $BIN"; exit 1; }

# ---- helpers ----------------------------------------------------------------------------
# wait_quiet: wait until the machine is quiet apart from us. The 1-minute load average
# cannot tell (our own saturating runs push it above 2 for a minute), so sample /proc/stat
# for 2 s while we are idle: the busy share of all cores must stay under QUIET_MAX_BUSY.
cpu_busy() {
  local a b
  a=($(sed -n 's/^cpu  //p' /proc/stat)); sleep 2; b=($(sed -n 's/^cpu  //p' /proc/stat))
  local total=0 idle i
  for i in "${!a[@]}"; do total=$((total + b[i] - a[i])); done
  idle=$(( (b[3] - a[3]) + (b[4] - a[4]) ))
  awk -v t="$total" -v i="$idle" 'BEGIN{ if (t > 0) printf "%.2f", 1 - i/t; else print "0" }'
}
wait_quiet() {
  local i=0 busy
  while :; do
    busy=$(cpu_busy)
    if awk -v b="$busy" -v m="$QUIET_MAX_BUSY" 'BEGIN{exit !(b < m)}'; then return 0; fi
    i=$((i + 1))
    if [ "$i" -gt "$QUIET_TRIES" ]; then
      log "other processes keep $busy of the CPU busy: measuring anyway"
      NOISY=1
      return 0
    fi
    log "other processes keep $busy of the CPU busy (>= $QUIET_MAX_BUSY), waiting 15 s ($i/$QUIET_TRIES)"
    sleep 15
  done
}

SERVER_PID=""
SERVER_LOG=""
ADDR=""
TOKEN=""
stop_server() {
  local p
  for p in ${spid:-} ${cpid:-}; do kill "$p" 2>/dev/null || true; done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  rotate_log
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server LEVEL LABEL [ARGS...]: the example with its embedded dev issuer on a free
# loopback port.
start_server() {
  local level="$1" label="$2" stdout="$OUT/agent_api.$2.stdout" i
  shift 2
  SERVER_LOG="$OUT/agent_api.$label.stderr"
  # Appending, so that rotate_log can truncate it between runs.
  : >"$SERVER_LOG"
  RUST_LOG="$level" "$BIN" --listen 127.0.0.1:0 "$@" >"$stdout" 2>>"$SERVER_LOG" &
  SERVER_PID=$!
  for i in $(seq 1 100); do
    if grep -q '^listening on ' "$stdout" 2>/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { log "agent_api exited:"; cat "$SERVER_LOG" >&2; exit 1; }
    sleep 0.1
  done
  ADDR=$(sed -n 's/^listening on //p' "$stdout" | head -1)
  [ -n "$ADDR" ] || { log "agent_api did not print 'listening on'"; exit 1; }
  # The ready curl line for GET /whoami: "curl -si -X GET http://ADDR/whoami -H 'Authorization: Bearer T'"
  TOKEN=$(grep -m1 -E "^curl -si -X GET http://[^ ]+/whoami " "$stdout" \
    | sed -E "s/.*Authorization: Bearer ([A-Za-z0-9_.-]+)'.*/\1/")
  [ -n "$TOKEN" ] || { log "no /whoami token in the curl lines"; exit 1; }
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/whoami" -H "Authorization: Bearer $TOKEN")
  [ "$code" = 200 ] || { log "GET /whoami with the printed token: $code, not 200"; exit 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/health")
  [ "$code" = 200 ] || { log "GET /health: $code, not 200"; exit 1; }
  log "agent_api (RUST_LOG=$level) on $ADDR, pid $SERVER_PID, token ${#TOKEN} bytes"
}

# rotate_log: keep the server's non-audit lines (key fetches, warnings) and drop the audit
# lines (one per request at RUST_LOG=info: ~10 MB/s), so /tmp does not fill up.
rotate_log() {
  [ -n "$SERVER_LOG" ] || return 0
  grep -v 'a2a_guard::audit' "$SERVER_LOG" >>"$SERVER_LOG.kept" || true
  grep -c 'a2a_guard::audit' "$SERVER_LOG" >>"$SERVER_LOG.audit-lines" || true
  : >"$SERVER_LOG"
}

# field NAME LINE: the value of NAME=... in a RESULT line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run_wrk NAME ARGS...: one measured wrk run; prints its RESULT line, keeps the raw output.
run_wrk() {
  local name="$1"; shift
  local raw="$OUT/$name.txt"
  printf 'wrk %s\n' "$*" >"$raw.cmd"
  wrk "$@" >"$raw" 2>&1
  rotate_log
  grep -m1 '^RESULT ' "$raw" || { log "no RESULT from wrk ($name):"; cat "$raw" >&2; exit 1; }
}

WRK_COMMON=(-d "$DURATION" -c "$CONNS" -t "$THREADS" --timeout 5s)
health_run() { run_wrk "$1" "${WRK_COMMON[@]}" -s "$HERE/report.lua" "http://$ADDR/health"; }
whoami_run() {
  run_wrk "$1" "${WRK_COMMON[@]}" -s "$HERE/report.lua" \
    -H "Authorization: Bearer $TOKEN" "http://$ADDR/whoami"
}

declare -a SUMMARY=()
row() { SUMMARY+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$@")"); }
us_ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a/b; else print "n/a" }'; }

NOISY=""
declare -a P99_STORM=() P99_CTL=() P99_STORM_CTL=()
declare -A RPS_RATIO=() WHOAMI_RPS=() MODE_NOTE=()
REPORT_1=()

# mode_setup MODE: sets LEVEL and MODE_ARGS for a part-1 mode.
mode_setup() {
  MODE_ARGS=()
  case "$1" in
    off) LEVEL=warn ;;
    stderr) LEVEL=info ;;
    file) LEVEL=info; MODE_ARGS=(--audit-log "$OUT/audit.jsonl") ;;
    chain) LEVEL=info; MODE_ARGS=(--audit-chain "$OUT/audit.chain") ;;
    *) log "unknown mode $1 (off stderr file chain)"; exit 1 ;;
  esac
}

# ---- part 1: /whoami vs /health, per audit mode -----------------------------------------
part1_modes=""
case " $PARTS " in *" 1 "*) part1_modes="$MODES" ;; esac
for mode in $part1_modes; do
  mode_setup "$mode"
  rm -f "$OUT"/audit.jsonl "$OUT"/audit.chain*
  start_server "$LEVEL" "$mode" "${MODE_ARGS[@]}"
  curl -s -o /dev/null "http://$ADDR/whoami" -H "Authorization: Bearer $TOKEN" # cache warm
  wrk -d 2s -c "$CONNS" -t "$THREADS" -H "Authorization: Bearer $TOKEN" "http://$ADDR/whoami" >/dev/null # warm-up
  ratios=(); wrps=()
  for r in $(seq 1 "$ROUNDS"); do
    wait_quiet
    if [ $((r % 2)) = 1 ]; then
      h=$(health_run "health.$mode.$r"); w=$(whoami_run "whoami.$mode.$r")
    else
      w=$(whoami_run "whoami.$mode.$r"); h=$(health_run "health.$mode.$r")
    fi
    for v in "$w" "$h"; do
      [ "$(field non2xx "$v")" = 0 ] || { log "non-2xx responses in a valid run: $v"; exit 1; }
    done
    hr=$(field rps "$h"); wr=$(field rps "$w")
    rr=$(ratio "$wr" "$hr"); rp=$(ratio "$(field p99_us "$w")" "$(field p99_us "$h")")
    REPORT_1+=("$(printf '| %s | %s | /health | %s | %s | %s | |' "$mode" "$r" "$hr" "$(us_ms "$(field p50_us "$h")")" "$(us_ms "$(field p99_us "$h")")")")
    REPORT_1+=("$(printf '| %s | %s | /whoami | %s | %s | %s | **%s** rps, %s p99 |' "$mode" "$r" "$wr" "$(us_ms "$(field p50_us "$w")")" "$(us_ms "$(field p99_us "$w")")" "$rr" "$rp")")
    ratios+=("$rr"); wrps+=("$wr")
  done
  RPS_RATIO[$mode]="$(median "${ratios[@]}") (rounds: ${ratios[*]})"
  WHOAMI_RPS[$mode]="$(median "${wrps[@]}")"
  stop_server
  case "$mode" in
    file) MODE_NOTE[$mode]="$(wc -l <"$OUT/audit.jsonl") JSON lines written" ;;
    chain)
      vbin="$(dirname "$BIN")/audit_verify"
      if [ -x "$vbin" ]; then
        MODE_NOTE[$mode]="audit_verify: $("$vbin" "$OUT/audit.chain" 2>&1 | head -1)"
      fi ;;
  esac
  rm -f "$OUT"/audit.jsonl "$OUT"/audit.chain*
done

if [[ " $PARTS " == *" 2 "* ]]; then
# ---- part 2: p99 of valid /whoami during a kid-miss storm ---------------------------------
STORM_LEVEL="${STORM_LEVEL:-info}"
start_server "$STORM_LEVEL" "storm"
REST=".${TOKEN#*.}"
curl -s -o /dev/null "http://$ADDR/whoami" -H "Authorization: Bearer $TOKEN"
STORM_DEBUG=1 wrk -d 1s -c 1 -t 1 -s "$HERE/storm.lua" "http://$ADDR/whoami" -- "$REST" >"$OUT/storm.probe" 2>&1 || true
sample=$(sed -n 's/^storm sample: //p' "$OUT/storm.probe" | head -1)
forged="$sample$REST"
code=$(curl -s -o "$OUT/storm.probe.body" -D "$OUT/storm.probe.headers" -w '%{http_code}' "http://$ADDR/whoami" -H "Authorization: Bearer $forged")
log "forged-kid probe: header $(printf '%s' "$sample==" | tr '_-' '/+' | base64 -d 2>/dev/null || true) -> $code $(grep -i '^www-authenticate' "$OUT/storm.probe.headers" | tr -d '\r')"
[ "$code" = 401 ] || { log "a forged-kid token should get 401, got $code"; exit 1; }
REPORT_2=()
storm_t0=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  wait_quiet
  base=$(whoami_run "storm.none.$r")
  # The storm starts first and outlasts the measured run.
  sdur=$(( ${DURATION%s} + 2 ))
  wrk -d "${sdur}s" -c "$STORM_CONNS" -t "$STORM_THREADS" --timeout 5s -s "$HERE/storm.lua" \
    "http://$ADDR/whoami" -- "$REST" >"$OUT/storm.forged.$r.txt" 2>&1 &
  spid=$!
  sleep 1
  during=$(whoami_run "storm.during.$r")
  wait "$spid"; spid=""
  storm=$(grep -m1 '^RESULT ' "$OUT/storm.forged.$r.txt")
  # Control: the same shape of concurrent load, GET /health instead of forged kids.
  wrk -d "${sdur}s" -c "$STORM_CONNS" -t "$STORM_THREADS" --timeout 5s -s "$HERE/report.lua" \
    "http://$ADDR/health" >"$OUT/storm.control.$r.txt" 2>&1 &
  cpid=$!
  sleep 1
  control=$(whoami_run "storm.control-during.$r")
  wait "$cpid"; cpid=""
  ctl=$(grep -m1 '^RESULT ' "$OUT/storm.control.$r.txt")
  for v in "$base" "$during" "$control"; do
    [ "$(field non2xx "$v")" = 0 ] || { log "non-2xx responses among valid requests: $v"; exit 1; }
  done
  [ "$(field non2xx "$storm")" = "$(field requests "$storm")" ] \
    || log "note: storm requests $(field requests "$storm"), non-2xx $(field non2xx "$storm")"
  p_base=$(field p99_us "$base"); p_storm=$(field p99_us "$during"); p_ctl=$(field p99_us "$control")
  P99_STORM+=("$(ratio "$p_storm" "$p_base")"); P99_CTL+=("$(ratio "$p_ctl" "$p_base")")
  P99_STORM_CTL+=("$(ratio "$p_storm" "$p_ctl")")
  REPORT_2+=("$(printf '| %s | alone | %s | %s | %s | — | |' "$r" "$(field rps "$base")" "$(us_ms "$(field p50_us "$base")")" "$(us_ms "$p_base")")")
  REPORT_2+=("$(printf '| %s | + forged-kid storm | %s | %s | %s | %s rps, %s distinct kids, all 401 | **%s** vs alone, %s vs control |' "$r" "$(field rps "$during")" "$(us_ms "$(field p50_us "$during")")" "$(us_ms "$p_storm")" "$(field rps "$storm")" "$(field requests "$storm")" "$(ratio "$p_storm" "$p_base")" "$(ratio "$p_storm" "$p_ctl")")")
  REPORT_2+=("$(printf '| %s | + /health load (control) | %s | %s | %s | %s rps | %s vs alone |' "$r" "$(field rps "$control")" "$(us_ms "$(field p50_us "$control")")" "$(us_ms "$p_ctl")" "$(field rps "$ctl")" "$(ratio "$p_ctl" "$p_base")")")
done
rotate_log
storm_secs=$(( $(date +%s) - storm_t0 ))
fetches=$(grep -c 'JWKS fetched' "$SERVER_LOG.kept" || true)
stop_server
fi

# ---- summary ----------------------------------------------------------------------------
cat <<EOF

## scripts/load.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ)
commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), $(nproc) cores, load average at end: $(cut -d' ' -f1-3 /proc/loadavg)${NOISY:+ — WARNING: some runs started while other processes used ≥ $QUIET_MAX_BUSY of the CPU}
server: target/release/examples/agent_api --listen 127.0.0.1:0 (embedded dev issuer, RS256 token, verified-token cache on)
each run: wrk -d $DURATION -c $CONNS -t $THREADS --timeout 5s (raw output and exact commands: $OUT/*.txt, *.cmd)

### 1. GET /whoami (valid token) vs GET /health, same server, back to back

| audit mode | round | route | requests/s | p50 ms | p99 ms | whoami ÷ health |
|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${REPORT_1[@]}"
echo
for mode in $MODES; do
  off="${WHOAMI_RPS[off]:-}"
  vs_off=""
  [ -n "$off" ] && [ "$mode" != off ] && vs_off="; /whoami ÷ /whoami with audit off (medians): **$(ratio "${WHOAMI_RPS[$mode]}" "$off")** (target ≥ 0.95)"
  echo "- $mode: /whoami ÷ /health requests/s, median of $ROUNDS rounds: **${RPS_RATIO[$mode]%% *}** ${RPS_RATIO[$mode]#* }$vs_off${MODE_NOTE[$mode]:+; ${MODE_NOTE[$mode]}}"
done
cat <<EOF

off = RUST_LOG=warn (no allow events); stderr = the demo's default (one text audit line per
request through the non-blocking, lossless writer); file = --audit-log (JSON lines); chain =
--audit-chain (hash-chained, then verified). Targets (issue 15): /whoami ≥ 0.85× /health with
audit on, and ≥ 0.95× /whoami with audit off.

EOF
if [[ " $PARTS " == *" 2 "* ]]; then
cat <<EOF
### 2. p99 of valid GET /whoami during a storm of unknown-kid tokens

storm: wrk -c $STORM_CONNS -t $STORM_THREADS -s scripts/load/storm.lua (fresh kid per request), RUST_LOG=$STORM_LEVEL

| round | valid load | requests/s | p50 ms | p99 ms | concurrent load | p99 ratio |
|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${REPORT_2[@]}"
cat <<EOF

- p99 with the storm ÷ p99 alone, median of $ROUNDS rounds: **$(median "${P99_STORM[@]}")** (rounds: ${P99_STORM[*]}; target ≤ 2)
- p99 with the /health control load ÷ p99 alone: $(median "${P99_CTL[@]}") (rounds: ${P99_CTL[*]})
- p99 with the storm ÷ p99 with the control load: $(median "${P99_STORM_CTL[@]}") (rounds: ${P99_STORM_CTL[*]})

JWKS fetches by this server (its log, start-up included) over the ${storm_secs}s storm phase: $fetches.
Target (issue 5): p99 during the storm ≤ 2× the p99 without it. The control row is the same
shape of concurrent load without kid misses: on a 2-core machine shared by server and both
load generators, part of any increase is plain CPU sharing.
EOF
fi
cat <<EOF
raw files: $OUT
EOF

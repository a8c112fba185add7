#!/usr/bin/env bash
# Outage drill: the `agent_api` example under load on loopback while its authorization server
# goes down, black-holes, comes back with a rotated key, and retires the old one.
#
#   scripts/outage_drill.sh            # ~2 min of phases after the release build
#   KEEP=1 scripts/outage_drill.sh     # keep the logs (server, issuer, wrk, probes)
#
# Phases (durations via env, seconds): UP (10) issuer serving · DOWN (30) issuer stopped,
# connections refused · HANG (30) issuer accepting and never answering · BACK (20) issuer
# serving again with a new signing key, the old one still published · RETIRED (30) old key
# no longer published, load on the new key. The server makes at most one kid-miss fetch per
# 30 s (its cooldown), started by the unknown-kid probes: with these durations one falls in
# DOWN (refused at once) and one in HANG (waits the 5 s fetch timeout).
#
# wrk sends valid requests to /whoami on keep-alive connections in every phase; a prober
# sends one request per PROBE_INTERVAL with a token under a kid nobody publishes (each can
# trigger a kid-miss fetch of the failing issuer) and, once the key rotates, with the new and
# the retired key. Asserted:
#   - no valid request fails: tokens of keys the server already knew, in every phase
#     (last-known-good), and new-key tokens once the server has fetched the new key;
#   - the new key is accepted within KID_MISS_COOLDOWN + 5 s of the issuer's return;
#   - no request, valid or probe, takes longer than the 5 s fetch timeout + 1 s;
#   - during the outage /health reports last-known-good keys being served;
#   - the server never panics and is still running at the end.
# Prints requests, non-2xx and socket-error counts, p50/p99/max latency per phase.
# Needs: cargo, curl, wrk (installed with apt-get when missing). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

UP=${UP:-10} DOWN=${DOWN:-30} HANG=${HANG:-30} BACK=${BACK:-20} RETIRED=${RETIRED:-30}
CONNECTIONS=${CONNECTIONS:-4}
PROBE_INTERVAL=${PROBE_INTERVAL:-0.5}
FETCH_TIMEOUT_MS=5000 # agent_api uses the validator default (keys::DEFAULT_FETCH_TIMEOUT)
KID_MISS_COOLDOWN=30  # keys::DEFAULT_KID_MISS_COOLDOWN
MARGIN_MS=1000
AUDIENCE=drill-api

work=$(mktemp -d "${TMPDIR:-/tmp}/outage-drill.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
die() { echo "outage_drill: $*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null || die "cannot install wrk"
fi

echo "==> building agent_api and drill_issuer (release)"
cargo build --release --quiet --example agent_api --example drill_issuer
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/release/examples"

# --- the issuer, driven through a FIFO -------------------------------------------------
mkfifo "$work/issuer.in"
"$bin/drill_issuer" --audience "$AUDIENCE" --max-age 60 \
  <"$work/issuer.in" >"$work/issuer.out" 2>"$work/issuer.log" &
pids+=($!)
exec 3>"$work/issuer.in"

wait_for_line() { # file, pattern, seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "timed out waiting for '$2' in $1"
}
issuer_cmd() { # command... -> prints the reply
  local before
  before=$(wc -l <"$work/issuer.out")
  echo "$*" >&3
  local i
  for ((i = 0; i < 300; i++)); do
    if (($(wc -l <"$work/issuer.out") > before)); then
      local reply
      reply=$(tail -n 1 "$work/issuer.out")
      [[ $reply == ok* ]] || die "issuer: $* -> $reply"
      echo "${reply#ok }"
      return
    fi
    sleep 0.1
  done
  die "issuer did not answer '$*'"
}

wait_for_line "$work/issuer.out" '^jwks ' 60
issuer_url=$(sed -n 's/^issuer //p' "$work/issuer.out")
jwks_url=$(sed -n 's/^jwks //p' "$work/issuer.out")
kid_a=$(issuer_cmd tokens "$work/tokens-a" 64)
issuer_cmd forged "$work/forged" >/dev/null

# --- the resource server ------------------------------------------------------------------
# Key events at info; the per-request audit events (target a2a_guard::audit) are left out.
RUST_LOG=${RUST_LOG:-info,a2a_guard::audit=warn} "$bin/agent_api" --issuer "$issuer_url" --jwks-url "$jwks_url" \
  --audience "$AUDIENCE" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
wait_for_line "$work/server.out" '^listening on ' 60
addr=$(sed -n 's/^listening on //p' "$work/server.out")
base="http://$addr"
echo "issuer $issuer_url, agent_api $base, first key $kid_a"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -n1 "$work/tokens-a")" "$base/whoami")
[[ $code == 200 ]] || die "a valid token got $code before the drill started"

# --- the prober: one request per interval per kind, logged with time and phase ---------------
echo UP >"$work/phase"
start_ns=$(date +%s%N)
probe() { # kind token-file
  local t
  t=$(head -n1 "$2" 2>/dev/null) || return 0
  [[ -n $t ]] || return 0
  local now=$((($(date +%s%N) - start_ns) / 1000000))
  local out
  out=$(curl -s -o /dev/null --max-time 20 -w '%{http_code} %{time_total}' \
    -H "Authorization: Bearer $t" "$base/whoami" || echo "000 20")
  echo "$now $(cat "$work/phase") $1 $out" >>"$work/probes"
}
(
  while :; do
    probe forged "$work/forged" &
    [[ -f $work/probe-new ]] && probe new "$work/tokens-b" &
    [[ -f $work/probe-old ]] && probe old "$work/tokens-a" &
    sleep "$PROBE_INTERVAL"
  done
) &
pids+=($!)

# --- phases ---------------------------------------------------------------------------------
load() { # phase seconds token-file
  DRILL_TOKENS="$3" wrk -t1 -c"$CONNECTIONS" -d"${2}s" --timeout 10s --latency \
    -s scripts/drill_load.lua "$base/whoami" >"$work/wrk-$1.txt" 2>&1 || true
}
phase() { echo "$1" >"$work/phase"; echo "==> phase $1 (${2}s): $3"; }

phase UP "$UP" "issuer serving"
load UP "$UP" "$work/tokens-a"

phase DOWN "$DOWN" "issuer stopped (connections refused)"
issuer_cmd stop >/dev/null
load DOWN "$DOWN" "$work/tokens-a"
curl -s "$base/health" >"$work/health-down.json"

phase HANG "$HANG" "issuer accepting connections, never answering"
issuer_cmd hang >/dev/null
issuer_cmd start >/dev/null
load HANG "$HANG" "$work/tokens-a"

phase BACK "$BACK" "issuer back, new signing key, old key still published"
issuer_cmd normal >/dev/null
back_ms=$((($(date +%s%N) - start_ns) / 1000000))
kid_b=$(issuer_cmd rotate)
issuer_cmd tokens "$work/tokens-b" 64 >/dev/null
touch "$work/probe-new"
load BACK "$BACK" "$work/tokens-a"

# The new key must be in use before its load starts.
new_ok_ms=$(awk '$3 == "new" && $4 == 200 {print $1; exit}' "$work/probes" 2>/dev/null || true)
if [[ -z $new_ok_ms ]]; then
  for ((i = 0; i < (KID_MISS_COOLDOWN + 10) * 2; i++)); do
    sleep 0.5
    new_ok_ms=$(awk '$3 == "new" && $4 == 200 {print $1; exit}' "$work/probes")
    [[ -n $new_ok_ms ]] && break
  done
fi

phase RETIRED "$RETIRED" "old key $kid_a retired, load on the new key $kid_b"
issuer_cmd retire "$kid_a" >/dev/null
retired_ms=$((($(date +%s%N) - start_ns) / 1000000))
touch "$work/probe-old"
load RETIRED "$RETIRED" "$work/tokens-b"
echo END >"$work/phase"
sleep 1

# --- summary and verdict ----------------------------------------------------------------------
to_ms() { # 1.23ms | 456.78us | 1.2s | 3m -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.2f", n }'
}
failures=()
printf '\n%-9s %9s %8s %8s %9s %9s %9s  %s\n' phase requests non2xx sockerr p50_ms p99_ms max_ms key
for p in UP DOWN HANG BACK RETIRED; do
  f="$work/wrk-$p.txt"
  [[ -f $f ]] || continue
  reqs=$(awk '/requests in/ {print $1}' "$f")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$f")
  non2xx=${non2xx:-0}
  sock=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$f")
  sock=${sock:-0}
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
  max=$(to_ms "$(awk '$1 == "Latency" && NF >= 4 {print $4; exit}' "$f")")
  key=$([[ $p == RETIRED ]] && echo "new ($kid_b)" || echo "old ($kid_a)")
  printf '%-9s %9s %8s %8s %9s %9s %9s  %s\n' "$p" "${reqs:-?}" "$non2xx" "$sock" "$p50" "$p99" "$max" "$key"
  [[ -n $reqs && $reqs -gt 0 ]] || failures+=("$p: wrk sent no requests (see $f)")
  ((non2xx == 0)) || failures+=("$p: $non2xx valid requests failed")
  ((sock == 0)) || failures+=("$p: $sock socket errors")
  awk -v m="$max" -v lim=$((FETCH_TIMEOUT_MS + MARGIN_MS)) 'BEGIN {exit !(m > lim)}' &&
    failures+=("$p: a valid request took ${max} ms")
done

echo
echo "probes (one per ${PROBE_INTERVAL}s per kind): count, status counts, max latency per phase and kind"
awk '{k = $2 " " $3; n[k]++; s[k, $4]++; if ($5 > m[k]) m[k] = $5; codes[$4] = 1}
  END {
    for (k in n) {
      line = sprintf("  %-16s %4d  max %6.3fs ", k, n[k], m[k]);
      for (c in codes) if (s[k, c]) line = line sprintf(" %s:%d", c, s[k, c]);
      print line
    }
  }' "$work/probes" | sort
probe_max=$(awk 'BEGIN {m = 0} {if ($5 > m) m = $5} END {print m}' "$work/probes")
awk -v m="$probe_max" -v lim=$(((FETCH_TIMEOUT_MS + MARGIN_MS) / 1000)) 'BEGIN {exit !(m > lim)}' &&
  failures+=("a probe took ${probe_max}s, past the fetch timeout")
awk '$3 == "forged" && $4 != 401' "$work/probes" | grep -q . &&
  failures+=("an unknown-kid probe got something other than 401")

if [[ -n $new_ok_ms ]]; then
  new_after=$(awk -v a="$new_ok_ms" -v b="$back_ms" 'BEGIN {printf "%.1f", (a - b) / 1000}')
  echo "new key accepted ${new_after}s after the issuer came back"
  awk -v s="$new_after" -v lim=$((KID_MISS_COOLDOWN + 5)) 'BEGIN {exit !(s > lim)}' &&
    failures+=("the new key took ${new_after}s to be accepted")
  # Once accepted, a new-key token must never fail again.
  awk -v t="$new_ok_ms" '$3 == "new" && $1 > t && $4 != 200' "$work/probes" | grep -q . &&
    failures+=("a new-key probe failed after the new key was accepted")
else
  failures+=("the new key was never accepted")
fi
old_refused_ms=$(awk -v t="$retired_ms" '$3 == "old" && $1 > t && $4 == 401 {print $1; exit}' "$work/probes")
if [[ -n $old_refused_ms ]]; then
  echo "retired key refused $(awk -v a="$old_refused_ms" -v b="$retired_ms" 'BEGIN {printf "%.1f", (a - b) / 1000}')s after it was unpublished (next refresh: max-age 60 s)"
else
  echo "retired key still accepted at the end (it is dropped at the next successful refresh, max-age 60 s)"
fi

lkg=$(grep -o '"serving_last_known_good":[a-z]*' "$work/health-down.json" || true)
echo "health during the outage: ${lkg:-<none>} $(grep -o '"status":"[a-z]*"' "$work/health-down.json" || true)"
[[ $lkg == *true ]] || failures+=("/health did not report last-known-good keys during the outage")

kill -0 "$server_pid" 2>/dev/null || failures+=("agent_api is no longer running")
if grep -qiE 'panicked|RUST_BACKTRACE' "$work/server.log"; then
  failures+=("agent_api panicked (see server.log)")
fi
failed_fetches=$(grep -c 'JWKS fetch failed' "$work/server.log" || true)
echo "server log: $failed_fetches failed fetches, $(grep -c 'JWKS fetched' "$work/server.log" || true) successful, $(grep -ciE 'panicked' "$work/server.log" || true) panics"
grep -E 'JWKS fetch' "$work/server.log" | sed -E 's/^([^ ]*) +[A-Z]+ a2a_guard::keys: /  \1 /; s/ issuer=[^ ]*//; s/ source=[^ ]*//'
((failed_fetches >= 2)) || failures+=("the outage was not felt: $failed_fetches failed fetches (want one in DOWN and one in HANG)")
hang_max=$(awk '$2 == "HANG" && $3 == "forged" {if ($5 > m) m = $5} END {print m + 0}' "$work/probes")
echo "longest unknown-kid probe while the issuer hung: ${hang_max}s (fetch timeout 5 s)"

echo
if ((${#failures[@]})); then
  KEEP=1
  printf 'DRILL FAILED:\n'
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
echo "DRILL PASSED"

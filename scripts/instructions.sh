#!/usr/bin/env bash
# Instruction counts (callgrind; load-independent) for the validation paths and issue 16's
# scope-growth cases, printed as the markdown table BENCHMARKS.md shows. Not run by CI.
#
#   scripts/instructions.sh            # ≈ 2–3 min on 2 shared cores, after the release build
#   BIN=/tmp/profile_validate scripts/instructions.sh   # a binary built elsewhere (a before)
#
# Each case runs `examples/profile_validate` twice under callgrind with two loop counts and
# collects instructions only inside the measured loop (`--toggle-collect`), so per call =
# (count at N2 − count at N1) / (N2 − N1): start-up, the test issuer's key generation and
# the first (uncached) call of a `hit` run cancel out. "Floor" is the signature check alone
# (`VerifyingKey::verify`, aws-lc-rs with the key parsed once, SHA-256 of the signed part
# included), read from the same uncached runs; "above the floor" is everything else.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BIN:-}"
if [ -z "$bin" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
    cargo build --release --quiet --example profile_validate
    bin="$CARGO_TARGET_DIR/release/examples/profile_validate"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# run MODE ALG SCOPES N: one callgrind run; prints its output file.
run() {
    local f="$out/$1-$2-$3-$4-${EXTRA:-}.cg"
    f=${f// /_}
    # shellcheck disable=SC2086 # EXTRA is a list of NAME=VALUE words
    env ${3:+PROFILE_SCOPES=$3} ${EXTRA:-} valgrind --tool=callgrind --toggle-collect='profile_validate::drive*' \
        --callgrind-out-file="$f" "$bin" "$1" "$2" "$4" >/dev/null 2>"$f.log" ||
        { cat "$f.log" >&2; exit 1; }
    echo "$f"
}

# total FILE: instructions collected.
total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# verify FILE: inclusive instructions of the signature check (0 when it never ran).
verify() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk '!found && /a2a_guard::jwk::VerifyingKey::verify[ (]/ { gsub(",", "", $1); found = $1 }
             END { print found + 0 }'
}

# k VALUE: instructions in thousands, one decimal.
k() { awk -v v="$1" 'BEGIN { printf "%.1f k", v / 1000 }'; }

# case LABEL MODE ALG SCOPES N1 N2: one table row.
case_row() {
    local label=$1 mode=$2 alg=$3 scopes=$4 n1=$5 n2=$6
    local f1 f2 per floor
    f1=$(run "$mode" "$alg" "$scopes" "$n1")
    f2=$(run "$mode" "$alg" "$scopes" "$n2")
    per=$(( ($(total "$f2") - $(total "$f1")) / (n2 - n1) ))
    if [ "$mode" = uncached ] || [ "$mode" = churn ]; then
        floor=$(( ($(verify "$f2") - $(verify "$f1")) / (n2 - n1) ))
        echo "| $label | $(k "$per") | $(k "$floor") | $(k $((per - floor))) |"
    else
        echo "| $label | $(k "$per") | | |"
    fi
}

# per MODE ALG N1 N2: instructions per call of one mode.
per() {
    local f1 f2
    f1=$(run "$1" "$2" "" "$3")
    f2=$(run "$1" "$2" "" "$4")
    echo $(( ($(total "$f2") - $(total "$f1")) / ($4 - $3) ))
}

# http_rows ALG: the auth layer over axum on a cache hit, net of the router and handler
# (`layer` − `bare`), and the scope guard on top (`stack` − `layer`).
http_rows() {
    local bare layer stack
    bare=$(per bare "$1" 200 1200)
    layer=$(per layer "$1" 200 1200)
    stack=$(per stack "$1" 200 1200)
    echo "| AuthLayer on a cache hit, $1 (net of axum and the handler) | $(k $((layer - bare))) | | |"
    echo "| RequireScopes on top, $1 | $(k $((stack - layer))) | | |"
}

echo "| case | instructions per call | floor (signature check) | above the floor |"
echo "|---|---|---|---|"
for alg in RS256 ES256 EdDSA; do
    case_row "uncached $alg, 5 scopes" uncached "$alg" "" 10 40
done
for alg in RS256 ES256 EdDSA; do
    case_row "cache hit $alg, 5 scopes" hit "$alg" "" 200 1200
done
for alg in RS256 ES256 EdDSA; do
    http_rows "$alg"
done
for scopes in 10 100 1000; do
    case_row "uncached ES256, $scopes scopes" uncached ES256 "$scopes" 5 25
    case_row "cache hit ES256, $scopes scopes" hit ES256 "$scopes" 200 1200
done
# Growth with the configuration: keys in the issuer's set, issuers configured, and a working
# set four times what the cache holds.
for keys in 1 10 100; do
    EXTRA="PROFILE_KEYS=$keys" case_row "uncached ES256, $keys keys in the set" uncached ES256 "" 10 40
done
for issuers in 1 10; do
    EXTRA="PROFILE_ISSUERS=$issuers" case_row "uncached ES256, $issuers issuers configured" uncached ES256 "" 10 40
done
case_row "ES256, 200 tokens in turn through a cache holding ≈ 50" churn ES256 "" 10 40
for scopes in 10 100 1000; do
    case_row "match 3 required against $scopes granted" match ES256 "$scopes" 1000 11000
done

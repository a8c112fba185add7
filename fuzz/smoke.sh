#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target and runs each for FUZZ_SECONDS (default 30),
# one after another; exits non-zero on the first crash, leak, timeout or oracle failure.
# Runs from a fresh clone on a clean machine: installs cargo-fuzz when it is missing.
#
#   fuzz/smoke.sh                          # CI: ~30 s per target after the build
#   FUZZ_SECONDS=600 fuzz/smoke.sh         # the long run (10 min per target)
#   FUZZ_TARGETS="token jwks" fuzz/smoke.sh
#   FUZZ_SANITIZER=none fuzz/smoke.sh      # ~2x the executions/s, no AddressSanitizer
#
# The machine has only the stable toolchain; cargo-fuzz needs nightly `-Z` flags, which
# stable rustc accepts with RUSTC_BOOTSTRAP=1 (set here, for these builds only). Corpora:
# fuzz/seeds/<target> (committed, read only) and fuzz/corpus/<target> (grown, git-ignored);
# crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_TARGETS=${FUZZ_TARGETS:-bearer token jwks scope}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
cargo fuzz --version

# Per-target input caps: the token target must be able to cross the 16 KiB token cap.
max_len() {
  case "$1" in
    token) echo 20000 ;;
    jwks) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

echo "==> building targets: $FUZZ_TARGETS (sanitizer: $FUZZ_SANITIZER)"
for t in $FUZZ_TARGETS; do
  cargo fuzz build --sanitizer "$FUZZ_SANITIZER" "$t"
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
summary=()
status=0
for t in $FUZZ_TARGETS; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "==> fuzzing $t for ${FUZZ_SECONDS}s"
  set +e
  cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logs/$t.log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -n1 || true)
  units=$(find "corpus/$t" -type f | wc -l)
  line=$(printf '%-7s %6ss %12s execs %8s execs/s  %-9s corpus %5s  exit %s' \
    "$t" "${secs:-?}" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$units" "$rc")
  echo "$line"
  summary+=("$line")
  if ((rc != 0)); then
    status=1
    echo "---- $t failed; last lines of its log ($logs/$t.log):"
    tail -n 60 "$logs/$t.log"
    find "artifacts/$t" -type f -printf 'artifact: %p\n'
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t artifacts/$t/<file>"
    echo "minimise:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin $t artifacts/$t/<file>"
    break
  fi
done

echo
echo "==> fuzz summary"
printf '%s\n' "${summary[@]}"
if ((status == 0)); then
  rm -rf "$logs"
  echo "fuzz smoke: no crash"
fi
exit "$status"

#!/usr/bin/env bash
# A long property-test campaign over the parsers of outside input: the core crate's properties,
# each parser's in a module named `properties` beside it (crates/core/src/protocol/jwt/properties.rs,
# crates/core/src/record/properties.rs, ...), with the generators they share in
# crates/core/src/tests/property_support/.
#
# `cargo test` runs those properties with 256 cases each. This runs the same ones with many more
# cases, in the `fuzz` profile (optimised, but with overflow checks and debug assertions, and
# built into target/fuzz/, apart from release builds), round after round, each round with a fresh
# seed, until the time is up. Every round prints its seed and command; to replay a round, run
# that command again, with the same PROPTEST_RNG_SEED and PROPTEST_CASES. A failing case is also
# saved to target/proptest-regressions/fuzz.txt and tried first by every later run, `cargo test`
# included, until that file is removed.
#
# Usage: scripts/fuzz-campaign.sh [DURATION] [FILTER]
#   DURATION  how long to run: seconds, or a number with s, m or h (90s, 10m, 2h). Default 10m.
#             The round under way at the deadline is stopped; its properties that had finished
#             are reported as passed. A round first rebuilds what changed in the work tree.
#   FILTER    whose properties: the path of a parser's module, or its end (jwt, protocol::dpop,
#             record, storage::registry, token), selecting the tests named FILTER::properties::*.
#             Default: all of them (every test named *properties::*).
# Environment:
#   FUZZ_CASES    cases per property per round (default 100000; the properties that verify
#                 signatures run a quarter or an eighth of that, as they do in cargo test)
#   FUZZ_THREADS  test threads (default 2)
# Exit status: 0 when no round failed; 1 at the first failing round (the campaign stops there);
# 2 for a usage error or a build that failed.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
filter=${2:+$2::}properties::
cases=${FUZZ_CASES:-100000}
threads=${FUZZ_THREADS:-2}

case $duration in
  *h) seconds=$(( ${duration%h} * 3600 )) ;;
  *m) seconds=$(( ${duration%m} * 60 )) ;;
  *s) seconds=${duration%s} ;;
  *) seconds=$duration ;;
esac
if ! [[ $seconds =~ ^[0-9]+$ ]] || (( seconds == 0 )); then
  echo "fuzz-campaign: DURATION must be seconds or a number with s, m or h, not \"$duration\"" >&2
  exit 2
fi

# Filtered properties reject some generated inputs; a long campaign must not stop at proptest's
# default limits for those.
export PROPTEST_CASES=$cases
export PROPTEST_MAX_LOCAL_REJECTS=100000000
export PROPTEST_MAX_GLOBAL_REJECTS=100000000

echo "fuzz-campaign: building the tests (profile fuzz)"
if ! cargo test --profile fuzz -p solid-client-authn-core --lib --no-run; then
  echo "fuzz-campaign: the build failed" >&2
  exit 2
fi

start=$(date +%s)
deadline=$(( start + seconds ))
round=0
complete=0
partial=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "fuzz-campaign: $duration of rounds of $cases cases per property, filter $filter, $threads threads"

while (( $(date +%s) < deadline )); do
  round=$(( round + 1 ))
  seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  remaining=$(( deadline - $(date +%s) ))
  command="PROPTEST_RNG_SEED=$seed PROPTEST_CASES=$cases cargo test --profile fuzz -p solid-client-authn-core --lib $filter -- --test-threads=$threads"
  echo
  echo "fuzz-campaign: round $round (at most ${remaining}s left): $command"
  round_start=$(date +%s)
  status=0
  PROPTEST_RNG_SEED=$seed timeout --kill-after=10 "$remaining" \
    cargo test --profile fuzz -p solid-client-authn-core --lib "$filter" -- --test-threads="$threads" >"$log" 2>&1 || status=$?
  took=$(( $(date +%s) - round_start ))
  passed=$(grep -c '\.\.\. ok$' "$log" || true)
  if (( status == 0 )); then
    complete=$round
    echo "fuzz-campaign: round $round passed: $passed properties in ${took}s"
    grep '^test result:' "$log" || true
  elif (( status == 124 || status == 137 )); then
    echo "fuzz-campaign: round $round stopped at the deadline after ${took}s; $passed properties had passed:"
    grep '\.\.\. ok$' "$log" | sed 's/^/  /' || true
    partial=" and part of round $round ($passed properties)"
    break
  else
    echo "fuzz-campaign: round $round FAILED after ${took}s (exit $status); its output:" >&2
    cat "$log" >&2
    echo "fuzz-campaign: replay with: $command" >&2
    exit 1
  fi
done

echo
echo "fuzz-campaign: done in $(( $(date +%s) - start ))s: $complete complete round(s)$partial of $cases cases per property, no failure"

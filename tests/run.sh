#!/usr/bin/env bash
# Runs every test binary under $BUILD/tests and sums their closing
# "N passed, N failed, N skipped" lines into one. Exits non-zero on any failure,
# including a binary that crashed, printed no summary, reported failures with exit 0,
# counted nothing at all, or ran past $DRUM_TEST_TIMEOUT seconds (default 2400); and when
# there is no test binary to run.
set -u
BUILD=${BUILD:-build}
LIMIT=${DRUM_TEST_TIMEOUT:-2400}
passed=0 failed=0 skipped=0 status=0 ran=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() { # binary message: one failure more
  echo "$1: $2: counted as 1 failure"
  failed=$((failed + 1)); status=1
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  ran=$((ran + 1))
  echo "== ${t##*/}"
  # into a file, not a pipe: a child the test leaves behind cannot hold the runner
  timeout -k 30 "$LIMIT" "$t" >"$log" 2>&1 </dev/null; rc=$?
  grep -vE '^[0-9]+ passed, [0-9]+ failed' "$log"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "${t##*/}" "ran past ${LIMIT} s (DRUM_TEST_TIMEOUT)"; continue
  fi
  if [ -z "$line" ]; then
    fail "${t##*/}" "no summary line (exit $rc)"; continue
  fi
  read -r p _ f _ s _ <<<"${line//,/}"
  echo "   ${t##*/}: $line"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$f" -gt 0 ] && status=1
  [ $((p + f + s)) -eq 0 ] && fail "${t##*/}" "it counted no check at all"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "${t##*/}" "exit $rc with no failed check"
  fi
done
[ "$ran" -gt 0 ] || fail "$BUILD/tests" "no test binary to run"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

#!/usr/bin/env bash
# Runs every test binary under $BUILD/tests and sums their closing
# "N passed, N failed, N skipped" lines into one. Exits non-zero on any failure,
# including a binary that crashed or printed no summary.
set -u
BUILD=${BUILD:-build}
passed=0 failed=0 skipped=0 status=0
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  echo "== ${t##*/}"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed' 
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n 1)
  if [ -z "$line" ]; then
    echo "${t##*/}: no summary line (exit $rc): counted as 1 failure"
    failed=$((failed + 1)); status=1; continue
  fi
  read -r p _ f _ s _ <<<"${line//,/}"
  echo "   ${t##*/}: $line"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$f" -eq 0 ] && { echo "${t##*/}: exit $rc with no failed check: counted as 1 failure"; failed=$((failed + 1)); }
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # the variables are for the sourcing script
# Shared harness of the CLI test scripts. Sourcing it creates a private work directory and an EXIT
# trap that removes it (and stops devkbs when lib/devkbs.sh is loaded too), and provides:
#
#   $work                  the work directory
#   run COMMAND...         runs COMMAND; stdout in $work/out, stderr in $work/err, status in $status
#   check NAME COMMAND...  counts COMMAND's success as a pass ("ok   NAME"), its failure as a
#                          failure ("FAIL NAME" and the start of $work/out and $work/err)
#   exit_is N, exit_is_not N, output_has REGEX (stdout or stderr), err_has REGEX (stderr)
#   finish NAME            prints "NAME: P passed, F failed" and returns non-zero on a failure
#
# Set harness_quiet=1 to leave out the "ok" lines of a long suite.

work=$(mktemp -d)
passed=0
failed=0
status=0
harness_quiet=0

harness_cleanup() {
  if declare -F devkbs_stop >/dev/null; then devkbs_stop; fi
  rm -rf "$work"
}
trap harness_cleanup EXIT

run() {
  "$@" >"$work/out" 2>"$work/err"
  status=$?
}

check() {
  local name=$1
  shift
  if "$@"; then
    [ "$harness_quiet" = 1 ] || echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/  | /' "$work/out" "$work/err" 2>/dev/null | cut -c 1-240 | head -n 12
    failed=$((failed + 1))
  fi
}

exit_is() { [ "$status" -eq "$1" ]; }
exit_is_not() { [ "$status" -ne "$1" ]; }
output_has() { grep -qE -- "$1" "$work/out" "$work/err"; }
err_has() { grep -qE -- "$1" "$work/err"; }

finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # QEMU_* results are read by the sourcing script
# Running a QEMU guest under TCG with its serial console on stdout: every console line is stripped
# of ANSI escapes and carriage returns, stamped with the host's seconds since QEMU started, written
# to a log and echoed; patterns are matched on whole lines and on partial ones (a passphrase prompt
# ends without a newline); a timeout sends SIGTERM, then SIGKILL after 5 s.

# QEMU_MILESTONES: "NAME=REGEX" entries; the first console line matching each is recorded (host
# seconds) in QEMU_TIMES[NAME] for the phase table.
shopt -s extglob
QEMU_MILESTONES=()
declare -A QEMU_TIMES=()
QEMU_RESULT=""      # pass | fail | timeout | exited (QEMU ended without a verdict)
QEMU_VERDICT_LINE="" # the console line that decided the result
QEMU_EXIT_STATUS=""
QEMU_ELAPSED=""
QEMU_STOPPED=0 # 1 when the runner stopped QEMU (timeout, fail line, pass grace); 0 when it ended by itself

# qemu_netdev PORT: the one network device a guest gets: user networking with restrict=on, where
# 10.0.2.100:8443 is relayed (one busybox nc per guest connection) to 127.0.0.1:PORT and
# nothing else is reachable.
qemu_netdev() {
  local port=$1
  printf '%s\n' -netdev \
    "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:8443-cmd:sh -c 'exec busybox nc 127.0.0.1 $port 2>/dev/null'" \
    -device virtio-net-pci,netdev=n0
}

# qemu_run LOG TIMEOUT_S PASS_REGEX FAIL_REGEX STOP_ON_FAIL QEMU_ARGS...
#   Runs qemu-system-x86_64 -accel tcg with QEMU_ARGS, streaming the console. PASS_REGEX or
#   FAIL_REGEX (extended regexes, "" for none) set the verdict when a line matches (the first
#   match wins; partial lines count too). After a pass QEMU may run on until it powers off by
#   itself (QEMU_PASS_GRACE seconds at most, default 30);
#   after a fail it is stopped at once when STOP_ON_FAIL is 1, else it must end by itself before
#   the timeout. Sets QEMU_RESULT, QEMU_VERDICT_LINE, QEMU_EXIT_STATUS, QEMU_ELAPSED, QEMU_TIMES,
#   QEMU_STOPPED.
#   Returns 0 when QEMU_RESULT is pass.
qemu_run() {
  local log=$1 timeout=$2 pass_re=$3 fail_re=$4 stop_on_fail=$5
  shift 5
  local fifo t0 pid fd line partial="" now verdict_at=""
  QEMU_RESULT="" QEMU_VERDICT_LINE="" QEMU_EXIT_STATUS="" QEMU_ELAPSED="" QEMU_STOPPED=0
  QEMU_TIMES=()
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/e2e-console.XXXXXX")
  mkfifo "$fifo"
  : >"$log"
  t0=$(_qemu_usec)
  qemu-system-x86_64 -accel tcg "$@" </dev/null >"$fifo" 2>&1 &
  pid=$!
  exec {fd}<"$fifo"
  rm -f "$fifo"
  while :; do
    line=""
    if IFS= read -r -t 1 -u "$fd" line; then
      line=$partial$line
      partial=""
    else
      local status=$?
      if [ "$status" -le 128 ]; then
        # EOF: QEMU closed its output.
        [ -n "$partial$line" ] && _qemu_line "$partial$line" "$t0" "$log" "$pass_re" "$fail_re"
        break
      fi
      # Read timeout: keep the partial line and match it too (prompts have no newline).
      partial=$partial$line
      line=""
      if [ -n "$partial" ] && [ -z "$QEMU_RESULT" ]; then
        _qemu_verdict "$(_qemu_clean "$partial")" "$pass_re" "$fail_re" "(partial) "
        [ -n "$QEMU_RESULT" ] && verdict_at=$(_qemu_usec)
      fi
    fi
    [ -n "$line" ] && _qemu_line "$line" "$t0" "$log" "$pass_re" "$fail_re"
    now=$(_qemu_usec)
    [ -n "$QEMU_RESULT" ] && [ -z "$verdict_at" ] && verdict_at=$now
    if [ "$QEMU_RESULT" = fail ] && [ "$stop_on_fail" = 1 ]; then
      QEMU_STOPPED=1
      _qemu_stop "$pid"
      break
    fi
    if [ "$QEMU_RESULT" = pass ] && ((now - verdict_at > ${QEMU_PASS_GRACE:-30} * 1000000)); then
      log "QEMU still running ${QEMU_PASS_GRACE:-30} s after the pass line; stopping it"
      QEMU_STOPPED=1
      _qemu_stop "$pid"
      break
    fi
    if ((now - t0 >= timeout * 1000000)); then
      log "timeout after ${timeout}s; stopping QEMU"
      QEMU_STOPPED=1
      [ "$QEMU_RESULT" = pass ] || QEMU_RESULT=timeout
      _qemu_stop "$pid"
      break
    fi
  done
  exec {fd}<&-
  wait "$pid"
  QEMU_EXIT_STATUS=$?
  QEMU_ELAPSED=$(_qemu_seconds "$t0")
  [ -n "$QEMU_RESULT" ] || QEMU_RESULT=exited
  log "QEMU ended: result=$QEMU_RESULT status=$QEMU_EXIT_STATUS after ${QEMU_ELAPSED}s"
  [ "$QEMU_RESULT" = pass ]
}

# _qemu_usec: host wall-clock microseconds (no fork: the loop runs once per console line).
_qemu_usec() { printf '%s\n' "${EPOCHREALTIME/./}"; }

# _qemu_seconds T0_USEC: seconds since T0_USEC, with two decimals.
_qemu_seconds() {
  local d=$(($(_qemu_usec) - $1))
  printf '%d.%02d\n' $((d / 1000000)) $((d % 1000000 / 10000))
}

# _qemu_clean TEXT: TEXT without ANSI escape sequences, other control characters and carriage
# returns (bash patterns only, no fork).
_qemu_clean() {
  local text=$1
  text=${text//$'\r'/}
  text=${text//$'\e'\[*([0-9;?])[A-Za-z]/}
  text=${text//$'\e'[()][A-Za-z0-9]/}
  text=${text//[$'\x01'-$'\x08'$'\x0b'-$'\x1f']/}
  printf '%s' "$text"
}

# _qemu_line LINE T0 LOG PASS_RE FAIL_RE: stamps, logs, echoes and matches one console line.
_qemu_line() {
  local raw=$1 t0=$2 log=$3 pass_re=$4 fail_re=$5 clean stamp entry name re
  clean=$(_qemu_clean "$raw")
  stamp=$(_qemu_seconds "$t0")
  printf '[%7s] %s\n' "$stamp" "$clean" >>"$log"
  printf '[%7s] %s\n' "$stamp" "$clean"
  for entry in "${QEMU_MILESTONES[@]}"; do
    name=${entry%%=*}
    re=${entry#*=}
    if [ -z "${QEMU_TIMES[$name]:-}" ] && [[ $clean =~ $re ]]; then
      QEMU_TIMES[$name]=$stamp
    fi
  done
  [ -n "$QEMU_RESULT" ] || _qemu_verdict "$clean" "$pass_re" "$fail_re"
}

# _qemu_verdict TEXT PASS_RE FAIL_RE [LABEL]: sets QEMU_RESULT (pass or fail) and
# QEMU_VERDICT_LINE (LABEL followed by TEXT) when TEXT matches PASS_RE or FAIL_RE ("" matches
# nothing); pass wins.
_qemu_verdict() {
  local text=$1 pass_re=$2 fail_re=$3 label=${4:-}
  if [ -n "$pass_re" ] && [[ $text =~ $pass_re ]]; then
    QEMU_RESULT=pass
  elif [ -n "$fail_re" ] && [[ $text =~ $fail_re ]]; then
    QEMU_RESULT=fail
  else
    return 0
  fi
  QEMU_VERDICT_LINE=$label$text
}

# _qemu_stop PID: SIGTERM, then SIGKILL after 5 s.
_qemu_stop() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
}

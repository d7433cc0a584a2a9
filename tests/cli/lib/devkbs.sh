# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # the DEVKBS_* variables are for the sourcing script
# Shared helper of the CLI tests: a devkbs on 127.0.0.1 (HTTPS with its generated CA), started on
# a free port and stopped again. Source it, then:
#
#   devkbs_start DEVKBS STATE_DIR [devkbs options...]   e.g. --allow-sample
#       Starts devkbs with its state in STATE_DIR, listening on DEVKBS_LISTEN (default
#       127.0.0.1:0, a free port; a restart names the port it had), and waits (10 s at most) for
#       its one-line JSON announcement (kept in STATE_DIR.json; its log in STATE_DIR.log). Sets DEVKBS_URL,
#       DEVKBS_CA, DEVKBS_ADMIN_TOKEN_FILE, DEVKBS_CERTIFICATE and DEVKBS_PID. Returns 1 when
#       devkbs did not announce itself (the log says why).
#   devkbs_admin METHOD PATH [curl options...]
#       An admin API request; the admin token travels in a header file, never in argv.
#   devkbs_stop
#       Stops the devkbs started last (safe to call twice; put it in your EXIT trap).
#   devkbs_start_sample DEVKBS STATE_DIR CONFIG [devkbs options...]
#       devkbs_start with --allow-sample, a resource policy that lets `sample` evidence read every
#       resource, and an agent configuration at CONFIG whose profile "default" points at it (with
#       its admin token file) and whose evidence is `sample`. Exits the script when devkbs fails.

DEVKBS_URL=""
DEVKBS_CA=""
DEVKBS_ADMIN_TOKEN_FILE=""
DEVKBS_CERTIFICATE=""
DEVKBS_PID=""
DEVKBS_STATE=""

devkbs_start() {
  local binary=$1 state=$2
  shift 2
  DEVKBS_STATE=$state
  mkdir -p "$state"
  # DEVKBS_LOG_REQUESTS=1 keeps devkbs's request log (one line per request) in STATE_DIR.log.
  local quiet=(--quiet)
  if [ "${DEVKBS_LOG_REQUESTS:-0}" = 1 ]; then quiet=(); fi
  # The log is appended to, so that it covers every run of a restarted devkbs. The JSON of an
  # earlier run goes first: the loop below must not read it before the new process truncates it.
  rm -f "$state.json"
  "$binary" --state-dir "$state" --listen "${DEVKBS_LISTEN:-127.0.0.1:0}" "${quiet[@]}" "$@" \
    >"$state.json" 2>>"$state.log" &
  DEVKBS_PID=$!
  local _
  for _ in $(seq 100); do
    [ -s "$state.json" ] && break
    kill -0 "$DEVKBS_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$state.json" ] || return 1
  DEVKBS_URL=$(jq -r .url "$state.json")
  DEVKBS_CA=$(jq -r .ca "$state.json")
  DEVKBS_ADMIN_TOKEN_FILE=$(jq -r .admin_token_file "$state.json")
  DEVKBS_CERTIFICATE=$(jq -r .certificate "$state.json")
  [ -n "$DEVKBS_URL" ] && [ "$DEVKBS_URL" != null ]
}

devkbs_admin() {
  local method=$1 path=$2
  shift 2
  local header="$DEVKBS_STATE.admin-header"
  (umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$DEVKBS_ADMIN_TOKEN_FILE")" >"$header")
  curl -sS --fail --cacert "$DEVKBS_CA" -H @"$header" -X "$method" "$DEVKBS_URL$path" "$@"
  local status=$?
  rm -f "$header"
  return "$status"
}

# devkbs_log_settled: returns once the request log (DEVKBS_STATE.log, DEVKBS_LOG_REQUESTS=1) holds
# the line of a request sent now (a GET of a path nothing serves). devkbs writes a request's line
# just after answering it, so the lines of the requests answered before are in the log too. When
# devkbs does not answer (stopped), no line is pending and it returns at once. At most 10 s.
devkbs_log_settled() {
  local mark _
  mark=/test-log-mark-$$-$RANDOM$RANDOM  # outside /kbs/v0/: no count of broker requests sees it
  curl -sS --max-time 5 --cacert "$DEVKBS_CA" -o /dev/null "$DEVKBS_URL$mark" 2>/dev/null || return 0
  for _ in $(seq 100); do
    grep -qF " $mark " "$DEVKBS_STATE.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "devkbs_log_settled: the request for $mark never reached $DEVKBS_STATE.log" >&2
  return 1
}

devkbs_stop() {
  if [ -n "$DEVKBS_PID" ]; then
    kill "$DEVKBS_PID" 2>/dev/null
    # wait reaps only a child of this shell; a devkbs that a subshell started is polled instead.
    wait "$DEVKBS_PID" 2>/dev/null || true
    local _
    for _ in $(seq 50); do
      kill -0 "$DEVKBS_PID" 2>/dev/null || break
      sleep 0.1
    done
    DEVKBS_PID=""
  fi
  return 0
}

devkbs_start_sample() {
  local binary=$1 state=$2 config=$3
  shift 3
  if ! devkbs_start "$binary" "$state" --allow-sample "$@"; then
    echo "FAIL devkbs did not start"
    cat "$state.log"
    exit 1
  fi
  devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
    --data '{"resources":{"*":{"tees":["sample"]}}}' >/dev/null
  mkdir -p "$state.no-tee"
  jq -n --arg url "$DEVKBS_URL" --arg ca "$DEVKBS_CA" --arg token "$DEVKBS_ADMIN_TOKEN_FILE" \
    --arg root "$state.no-tee" \
    '{version: 1,
      profiles: {default: {url: $url, ca_file: $ca, admin_token_file: $token, resources: ["default/*"]}},
      evidence: {tee: "sample", platform_root: $root}}' >"$config"
}

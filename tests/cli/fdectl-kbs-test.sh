#!/usr/bin/env bash
# End-to-end test of `fdectl kbs get` against a real devkbs on 127.0.0.1 (HTTPS, its generated CA):
# the resource arrives intact, only where asked and with mode 0600, and every refusal gives its own
# error code and exit status. Usage: fdectl-kbs-test.sh FDECTL DEVKBS
set -uo pipefail

fdectl=${1:?fdectl binary}
devkbs=${2:?devkbs binary}
work=$(mktemp -d)
devkbs_pid=""
cleanup() {
  if [ -n "$devkbs_pid" ]; then kill "$devkbs_pid" 2>/dev/null; wait "$devkbs_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0

check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/  | /' "$work/out" "$work/err" 2>/dev/null | head -n 8
    failed=$((failed + 1))
  fi
}

# run_fdectl ARGS...: runs fdectl kbs get, output in $work/out and $work/err, status in $status.
status=0
run_fdectl() {
  "$fdectl" kbs get "$@" >"$work/out" 2>"$work/err"
  status=$?
}
exit_is() { [ "$status" -eq "$1" ]; }
output_has() { grep -qE -- "$1" "$work/out" "$work/err"; }

# Starts devkbs with a state dir; sets url, ca, token_file from its one-line JSON announcement.
start_devkbs() {
  local state=$1
  shift
  mkdir -p "$state"
  "$devkbs" --state-dir "$state" --listen 127.0.0.1:0 --quiet "$@" >"$state.json" 2>"$state.log" &
  devkbs_pid=$!
  for _ in $(seq 100); do
    [ -s "$state.json" ] && break
    sleep 0.1
  done
  url=$(jq -r .url "$state.json")
  ca=$(jq -r .ca "$state.json")
  token_file=$(jq -r .admin_token_file "$state.json")
  [ -n "$url" ] && [ "$url" != null ]
}

# admin METHOD PATH [curl args...]: the admin token travels in a header file, never in argv.
admin() {
  local method=$1 path=$2
  shift 2
  printf 'Authorization: Bearer %s\n' "$(cat "$token_file")" >"$work/admin-header"
  curl -sS --fail --cacert "$ca" -H @"$work/admin-header" -X "$method" "$url$path" "$@"
}

if ! start_devkbs "$work/kbs" --allow-sample; then
  echo "FAIL devkbs did not start"
  cat "$work/kbs.log"
  exit 1
fi
mkdir -p "$work/no-tee"
head -c 32 /dev/urandom >"$work/disk-key"
secret_hex=$(od -An -tx1 -v "$work/disk-key" | tr -d ' \n')
secret_sha=$(sha256sum "$work/disk-key" | cut -d' ' -f1)
admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
  --data '{"resources":{"default/fde/disk-key":{"tees":["sample"]},"default/fde/missing":{"tees":["sample"]},"default/fde/tdx-only":{"tees":["tdx"]}}}' >/dev/null
admin POST /kbs/v0/resource/default/fde/disk-key --data-binary @"$work/disk-key" >/dev/null
admin POST /kbs/v0/resource/default/fde/tdx-only --data-binary @"$work/disk-key" >/dev/null
common=(--url "$url" --ca "$ca" --tee sample --platform-root "$work/no-tee" --timeout 20)

run_fdectl "${common[@]}" --resource default/fde/disk-key --out "$work/fetched"
check "fetch with --out succeeds" exit_is 0
check "fetched bytes equal the stored resource" cmp -s "$work/disk-key" "$work/fetched"
check "the key file has mode 0600" test "$(stat -c %a "$work/fetched")" = 600
check "sample evidence is named loudly" output_has 'WARNING.*sample'
check "the secret is not printed" bash -c "! grep -qi '$secret_hex' '$work/out' '$work/err'"

run_fdectl "${common[@]}" --resource default/fde/disk-key
check "fetch without --out reports length and sha256" output_has "32 bytes, sha256 $secret_sha"
check "...and never the secret" bash -c "! grep -qi '$secret_hex' '$work/out' '$work/err'"

run_fdectl "${common[@]}" --resource default/fde/missing --out "$work/none"
check "missing resource: exit 1, resource_not_found" exit_is 1
check "missing resource message" output_has 'resource_not_found'
check "missing resource writes no file" test ! -e "$work/none"

run_fdectl "${common[@]}" --resource default/fde/tdx-only
check "policy denial: exit 1, policy_denied" exit_is 1
check "policy denial message" output_has 'policy_denied'

run_fdectl "${common[@]}" --resource 'default/../key'
check "bad resource path: exit 2" exit_is 2
check "bad resource path is named" output_has 'resource'

run_fdectl --url "$url" --ca "$ca" --tee tdx --platform-root "$work/no-tee" --resource a/b/c
check "--tee tdx without TDX: exit 2" exit_is 2

run_fdectl --url "$url" --ca "$ca" --protocol ita --tee sample --platform-root "$work/no-tee" \
  --resource 6a2a8fb5-6d4b-4b5e-9f0a-0d1c2e3f4a5b
check "ITA with sample evidence: exit 2" exit_is 2
check "ITA with sample evidence is refused by name" output_has 'TDX evidence only'
run_fdectl --url "$url" --ca "$ca" --protocol ita --platform-root "$work/no-tee" \
  --resource 6a2a8fb5-6d4b-4b5e-9f0a-0d1c2e3f4a5b
check "ITA without a TEE: exit 2, unsupported" output_has 'unsupported'

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca \
  -keyout "$work/other.key" -out "$work/other-ca.pem" -days 2 2>/dev/null
run_fdectl --url "$url" --ca "$work/other-ca.pem" --tee sample --platform-root "$work/no-tee" \
  --resource default/fde/disk-key
check "untrusted CA: exit 2, tls_trust_failure" exit_is 2
check "untrusted CA message" output_has 'tls_trust_failure'

server_cert=$(jq -r .certificate "$work/kbs.json")
pin=$(openssl x509 -in "$server_cert" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)
run_fdectl "${common[@]}" --pin "sha256//$pin" --resource default/fde/disk-key
check "correct pin: success" exit_is 0
run_fdectl "${common[@]}" --pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" \
  --resource default/fde/disk-key
check "pin mismatch: exit 2, pin_mismatch" output_has 'pin_mismatch'

run_fdectl --url "${url/https/http}" --ca "$ca" --tee sample --platform-root "$work/no-tee" \
  --resource default/fde/disk-key
check "plain http refused without --insecure-http" exit_is 2

kill "$devkbs_pid"
wait "$devkbs_pid" 2>/dev/null
devkbs_pid=""
start=$(date +%s)
run_fdectl --url "$url" --ca "$ca" --tee sample --platform-root "$work/no-tee" --timeout 3 \
  --resource default/fde/disk-key
elapsed=$(($(date +%s) - start))
check "broker down: exit 2" exit_is 2
check "broker down: gives up at the 3 s deadline (took ${elapsed}s)" test "$elapsed" -le 5
check "broker down: deadline_exceeded or unreachable" output_has 'deadline_exceeded|unreachable'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of `fdectl kbs get` against a real devkbs on 127.0.0.1 (HTTPS, its generated CA):
# the resource arrives intact, only where asked and with mode 0600, and every refusal gives its own
# error code and exit status. Usage: fdectl-kbs-test.sh FDECTL DEVKBS
set -uo pipefail

fdectl=${1:?fdectl binary}
devkbs=${2:?devkbs binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/devkbs.sh
source "$here/lib/devkbs.sh"
# shellcheck source=tests/cli/lib/harness.sh
source "$here/lib/harness.sh"

# run_fdectl ARGS...: runs fdectl kbs get, output in $work/out and $work/err, status in $status.
run_fdectl() { run "$fdectl" kbs get "$@"; }
admin() { devkbs_admin "$@"; }

if ! devkbs_start "$devkbs" "$work/kbs" --allow-sample; then
  echo "FAIL devkbs did not start"
  cat "$work/kbs.log"
  exit 1
fi
url=$DEVKBS_URL
ca=$DEVKBS_CA
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
check "fetch without --out: exit 0" exit_is 0
check "fetch without --out reports the length only" output_has '^resource default/fde/disk-key: 32 bytes \(not printed; use --out FILE\)$'
check "...never the secret" bash -c "! grep -qi '$secret_hex' '$work/out' '$work/err'"
check "...nor its SHA-256 (an oracle for guessable keys)" bash -c "! grep -qi '$secret_sha' '$work/out' '$work/err'"
check "...nor any digest" bash -c "! grep -qiE 'sha|[0-9a-f]{32}' '$work/out'"

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

# A profile whose first address is a closed loopback port: fdectl moves on to devkbs, the second,
# and says which address was unreachable and which one answered.
jq -n --arg url "$url" --arg ca "$ca" --arg root "$work/no-tee" \
  '{version: 1,
    profiles: {default: {url: ["https://127.0.0.1:1", $url], ca_file: $ca, connect_timeout_s: 2,
                         resources: ["default/*"]}},
    evidence: {tee: "sample", platform_root: $root}}' >"$work/two-urls.json"
run_fdectl --config "$work/two-urls.json" --resource default/fde/disk-key --out "$work/via-second"
check "first URL dead: success through the second" exit_is 0
check "...the same bytes" cmp -s "$work/disk-key" "$work/via-second"
check "...the first address is named unreachable" output_has 'broker address https://127\.0\.0\.1:1 is unreachable'
check "...the second is named as the one that answered" grep -qF "broker address $url answered" "$work/err"
run_fdectl --config "$work/two-urls.json" --resource default/fde/missing
check "first URL dead, a verdict at the second is final: resource_not_found" output_has 'resource_not_found'

# Resource references: a kbs:/// URI is the same secret as its path.
run_fdectl "${common[@]}" --resource kbs:///default/fde/disk-key --out "$work/via-uri"
check "a kbs:/// URI: the same bytes as its path" cmp -s "$work/disk-key" "$work/via-uri"

# Init-data from an SMBIOS OEM string (one type-11 structure: type 11, length 5, handle, one
# string, its NUL and the final NUL), below the platform root: read and parsed, then refused
# because sample evidence has no register to bind it to; a missing credential is named.
dmi="$work/no-tee/sys/firmware/dmi/entries/11-0"
mkdir -p "$dmi"
init_data=$(printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"trustee.kbs.resource" = "kbs:///default/fde/disk-key"\n' | base64 -w0)
{ printf '\013\005\000\040\001'; printf 'io.systemd.credential.binary:cc-fde.init-data=%s' "$init_data"; printf '\000\000'; } >"$dmi/raw"
run_fdectl "${common[@]}" --init-data-smbios cc-fde.init-data --resource init-data
check "SMBIOS init-data with sample evidence: exit 2, unsupported" output_has 'unsupported'
check "...sample evidence cannot carry it" output_has 'sample evidence has no register'
run_fdectl "${common[@]}" --init-data-smbios cc-fde.other --resource default/fde/disk-key
check "a credential no OEM string defines: not_found" output_has 'not_found'
check "...naming it" output_has 'io\.systemd\.credential\.binary:cc-fde\.other='
run_fdectl "${common[@]}" --init-data "$work/none.toml" --init-data-smbios cc-fde.init-data \
  --resource default/fde/disk-key
check "--init-data with --init-data-smbios: exit 2" exit_is 2

devkbs_stop
start=$(date +%s)
run_fdectl --url "$url" --ca "$ca" --tee sample --platform-root "$work/no-tee" --timeout 3 \
  --resource default/fde/disk-key
elapsed=$(($(date +%s) - start))
check "broker down: exit 2" exit_is 2
check "broker down: gives up at the 3 s deadline (took ${elapsed}s)" test "$elapsed" -le 5
check "broker down: deadline_exceeded or unreachable" output_has 'deadline_exceeded|unreachable'

finish "fdectl kbs get CLI"

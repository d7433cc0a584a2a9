#!/usr/bin/env bash
# The quick-start demo: builds cc-measure, writes synthetic evidence (a TCG event log and a TDX
# quote whose RTMRs match it, signed through a throwaway test PCK chain) and runs cc-measure on it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh >/dev/null; fi
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCFDE_BUILD_TESTS=OFF \
  -DCCFDE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/demo --target cc-measure ccfde-sample-evidence fdectl devkbs -j "$(nproc)" >/dev/null

cc_measure=build/demo/measure/tools/cc-measure/cc-measure
work=$(mktemp -d)
devkbs_pid=""
cleanup() {
  if [ -n "$devkbs_pid" ]; then kill "$devkbs_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
build/demo/tests/support/ccfde-sample-evidence "$work"

run() {
  printf '\n$ cc-measure %s\n' "$*"
  "$cc_measure" "$@"
}

run show "$work/quote.bin" | head -n 40
run eventlog "$work/ccel.bin" | head -n 40
run replay --eventlog "$work/ccel.bin" --quote "$work/quote.bin"
echo "exit status: 0 (the quote's RTMRs equal the replayed log)"
set +e
run replay --eventlog "$work/ccel.bin" --quote "$work/quote-mismatch.bin"
status=$?
set -e
echo "exit status: $status (RTMR2 of quote-mismatch.bin differs, as it should)"
[ "$status" -eq 1 ]
run verify "$work/quote.bin" --root "$work/root.pem" --at 2026-06-01T00:00:00Z
set +e
run verify "$work/quote.bin" --at 2026-06-01T00:00:00Z
status=$?
set -e
echo "exit status: $status (against the real Intel SGX Root CA the test chain is refused)"
[ "$status" -eq 1 ]

printf '\n== Part 2: attestation and key release through a key broker (devkbs on 127.0.0.1)\n'
build/demo/devkbs/devkbs --state-dir "$work/kbs" --listen 127.0.0.1:0 --allow-sample --quiet \
  >"$work/kbs.json" &
devkbs_pid=$!
for _ in $(seq 100); do
  [ -s "$work/kbs.json" ] && break
  sleep 0.1
done
url=$(jq -r .url "$work/kbs.json")
ca=$(jq -r .ca "$work/kbs.json")
printf 'Authorization: Bearer %s\n' "$(cat "$(jq -r .admin_token_file "$work/kbs.json")")" \
  >"$work/admin-header"
echo "devkbs listening at $url (CA $ca)"
curl -sS --fail --cacert "$ca" -H @"$work/admin-header" -H 'Content-Type: application/json' \
  --data '{"resources":{"default/fde/root":{"tees":["sample"]}}}' "$url/kbs/v0/resource-policy" \
  >/dev/null
head -c 32 /dev/urandom >"$work/disk-key"
curl -sS --fail --cacert "$ca" -H @"$work/admin-header" --data-binary @"$work/disk-key" \
  "$url/kbs/v0/resource/default/fde/root" >/dev/null
echo "provisioned a random 32-byte disk key as default/fde/root (sha256 $(sha256sum "$work/disk-key" | cut -c1-16)...)"
printf '\n$ fdectl kbs get --url %s --resource default/fde/root --ca CA --tee sample --out KEY\n' "$url"
mkdir -p "$work/no-tee"
build/demo/agent/fdectl kbs get --url "$url" --resource default/fde/root --ca "$ca" --tee sample \
  --platform-root "$work/no-tee" --out "$work/fetched-key"
cmp "$work/disk-key" "$work/fetched-key"
echo "the fetched key equals the provisioned one (file mode $(stat -c %a "$work/fetched-key"))"

printf '\ndemo finished: synthetic evidence only (test PKI, sample TEE, no hardware)\n'

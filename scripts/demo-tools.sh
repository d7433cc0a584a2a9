#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A tour of the tools on the host, without a VM: builds them, writes synthetic evidence (a TCG
# event log and a TDX quote whose RTMRs match it, signed through a throwaway test PCK chain) and
# runs cc-measure on it; then releases a key through devkbs after attestation, and binds a LUKS2
# image to that broker with fdectl and verifies its unattended unlock with fde-agent --dry-run.
# The main demo (an encrypted-root guest booted under QEMU) is scripts/demo.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh >/dev/null; fi
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCFDE_BUILD_TESTS=OFF \
  -DCCFDE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/demo --target cc-measure ccfde-sample-evidence fdectl fde-agent devkbs \
  -j "$(nproc)" >/dev/null
# shellcheck source=tests/cli/lib/devkbs.sh
source tests/cli/lib/devkbs.sh

cc_measure=build/demo/measure/tools/cc-measure/cc-measure
work=$(mktemp -d)
cleanup() {
  devkbs_stop
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
devkbs_start build/demo/devkbs/devkbs "$work/kbs" --allow-sample
url=$DEVKBS_URL
ca=$DEVKBS_CA
echo "devkbs listening at $url (CA $ca)"
devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
  --data '{"resources":{"*":{"tees":["sample"]}}}' >/dev/null
head -c 32 /dev/urandom >"$work/disk-key"
devkbs_admin POST /kbs/v0/resource/default/fde/root --data-binary @"$work/disk-key" >/dev/null
echo "provisioned a random 32-byte disk key as default/fde/root (sha256 $(sha256sum "$work/disk-key" | cut -c1-16)...)"
printf '\n$ fdectl kbs get --url %s --resource default/fde/root --ca CA --tee sample --out KEY\n' "$url"
mkdir -p "$work/no-tee"
build/demo/agent/fdectl kbs get --url "$url" --resource default/fde/root --ca "$ca" --tee sample \
  --platform-root "$work/no-tee" --out "$work/fetched-key"
cmp "$work/disk-key" "$work/fetched-key"
echo "the fetched key equals the provisioned one (file mode $(stat -c %a "$work/fetched-key"))"

printf '\n== Part 3: a LUKS2 volume bound to the broker and unlocked unattended (image file)\n'
cat >"$work/config.json" <<JSON
{"version": 1,
 "profiles": {"default": {"url": "$url", "ca_file": "$ca", "resources": ["default/*"],
                          "admin_token_file": "$DEVKBS_ADMIN_TOKEN_FILE"}},
 "evidence": {"tee": "sample"},
 "unlock": {"measure_unlock": false, "require_phase_event": false}}
JSON
truncate -s 32M "$work/disk.img"
printf 'demo recovery passphrase' >"$work/passphrase"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --key-file "$work/passphrase" "$work/disk.img"
echo "created a LUKS2 image with cryptsetup (keyslot 0: a recovery passphrase)"
fdectl=build/demo/agent/fdectl
step() {
  printf '\n$ %s\n' "$*"
  "$@"
}
step "$fdectl" enroll "$work/disk.img" --config "$work/config.json" --resource default/fde/data \
  --unlock-with "$work/passphrase" --backup-dir "$work/backups"
step "$fdectl" list "$work/disk.img"
step "$fdectl" test "$work/disk.img" --config "$work/config.json"
step build/demo/agent/fde-agent/fde-agent unlock --config "$work/config.json" --cmdline /dev/null \
  --dry-run "$work/disk.img"
echo "(--dry-run: the key is verified against its keyslot; activation needs device-mapper, i.e. a VM)"

printf '\ndemo finished: synthetic evidence only (test PKI, sample TEE, no hardware)\n'

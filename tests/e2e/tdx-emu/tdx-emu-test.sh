#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Host-level test of cc-fde-tdx-emu (TEST ONLY TDX emulation): the platform files it generates,
# the configfs-tsm and sysfs measurement-register semantics of its FUSE mounts, RTMR3 extension
# reaching the quotes, and the production `tdx` evidence path of `fdectl kbs get` (CCEL and
# runtime event log replayed by devkbs) against a devkbs that trusts only the emulated platform's
# test root.
# Usage: tdx-emu-test.sh TDX_EMU FDECTL DEVKBS. Exit 77 (skip) without root or /dev/fuse.
set -uo pipefail

emu=${1:?cc-fde-tdx-emu binary}
fdectl=${2:?fdectl binary}
devkbs=${3:?devkbs binary}
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
  echo "SKIP: the TDX emulation test needs root and /dev/fuse"
  exit 77
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/devkbs.sh
source "$here/../../cli/lib/devkbs.sh"
# shellcheck source=tests/cli/lib/harness.sh
source "$here/../../cli/lib/harness.sh"

platform=$work/platform
root=$work/root
report=$root/sys/kernel/config/tsm/report
measurements=$root/sys/devices/virtual/misc/tdx_guest/measurements
rtmr3=$measurements/rtmr3:sha384
runtime_log=$root/run/attestation-agent/eventlog
ccel_data=$root/sys/firmware/acpi/tables/data/CCEL
emu_pid=""
foreground_pid=""
notify_pid=""

is_mounted() { grep -q " $1 fuse" /proc/mounts; }

# stop_process PID: SIGTERM, then wait (5 s at most) until it is gone.
stop_process() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# Unmount before the harness removes $work: rm -rf must not walk into the emulated configfs.
cleanup() {
  [ -z "$emu_pid" ] || stop_process "$emu_pid" || kill -KILL "$emu_pid" 2>/dev/null
  [ -z "$foreground_pid" ] || stop_process "$foreground_pid" || kill -KILL "$foreground_pid"
  [ -z "$notify_pid" ] || kill "$notify_pid" 2>/dev/null
  if is_mounted "$report"; then umount -l "$report"; fi
  if is_mounted "$measurements"; then umount -l "$measurements"; fi
  harness_cleanup
}
trap cleanup EXIT

# hex_at FILE OFFSET LENGTH: the bytes as lowercase hex.
hex_at() { od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n'; }
json_field() { jq -r ".$2" "$1"; }
# sha384_of FILE...: SHA-384 of the files' concatenation, in hex.
sha384_of() { cat "$@" | sha384sum | cut -d' ' -f1; }
# pwrite FILE OFFSET COUNT: one pwrite(2) of COUNT bytes 0x5a at OFFSET; prints the count written.
pwrite() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
print(os.pwrite(fd, b"\x5a" * int(sys.argv[3]), int(sys.argv[2])))' "$@"
}
# aael_record TEXT RECORD DIGEST: writes the runtime event-log record of TEXT for RTMR3 (pcrIndex
# 4, EV_EVENT_TAG, SHA-384 of the AAEL event data u32 0x4141454C | u32 size | TEXT) to RECORD and
# its 48-byte digest to DIGEST. Built here from the layout Trustee's attester uses, not by cc-fde.
aael_record() {
  python3 -c 'import hashlib, struct, sys
text = sys.argv[1].encode()
data = struct.pack("<II", 0x4141454C, len(text)) + text
digest = hashlib.sha384(data).digest()
record = struct.pack("<IIIH", 4, 6, 1, 0x000C) + digest + struct.pack("<I", len(data)) + data
open(sys.argv[2], "wb").write(record)
open(sys.argv[3], "wb").write(digest)' "$@"
}

# --- make-platform ---------------------------------------------------------------------------
run "$emu" make-platform --out "$platform"
check "make-platform succeeds" exit_is 0
check "make-platform says TEST ONLY" output_has 'TEST ONLY'
check "chain.pem (test private keys) has mode 0600" test "$(stat -c %a "$platform/chain.pem")" = 600
keys=$(grep -c 'BEGIN PRIVATE KEY' "$platform/chain.pem")
certificates=$(grep -c 'BEGIN CERTIFICATE' "$platform/chain.pem")
check "chain.pem holds 3 keys and 3 certificates" test "$keys/$certificates" = 3/3
check "root.pem is the self-signed test root" \
  bash -c "openssl verify -CAfile '$platform/root.pem' '$platform/root.pem' >/dev/null"
check "reference.json is {mr_td, rtmr0..3} of 48-byte hex" \
  jq -e '(keys == ["mr_td","rtmr0","rtmr1","rtmr2","rtmr3"]) and all(.[]; test("^[0-9a-f]{96}$"))' \
  "$platform/reference.json"
default_mr_td=$(printf '%s' 'cc-fde e2e td' | sha384sum | cut -d' ' -f1)
check "mr_td is SHA-384 of the default seed" \
  test "$(json_field "$platform/reference.json" mr_td)" = "$default_mr_td"
check "the CCEL table is 56 bytes with signature CCEL" \
  test "$(stat -c %s "$platform/ccel-table.bin")/$(head -c 4 "$platform/ccel-table.bin")" = 56/CCEL
table_sum=$(od -An -tu1 -v "$platform/ccel-table.bin" | tr -s ' ' '\n' |
  awk '{s += $1} END {print s % 256}')
check "the CCEL table's bytes sum to 0 mod 256" test "$table_sum" = 0
check "the CCEL table's CC type is TDX (2)" test "$(hex_at "$platform/ccel-table.bin" 36 1)" = 02
laml=$(od -An -tu8 -j 40 -N 8 "$platform/ccel-table.bin" | tr -d ' ')
check "the table's log area length is ccel-data.bin's size" \
  test "$laml" = "$(stat -c %s "$platform/ccel-data.bin")"
check "ccel-data.bin starts with the Spec ID Event03 header" \
  test "$(head -c 48 "$platform/ccel-data.bin" | tail -c 16 | tr -d '\0')" = "Spec ID Event03"
run "$emu" make-platform --out "$work/other" --mr-td-seed "another td"
check "--mr-td-seed sets mr_td" \
  test "$(json_field "$work/other/reference.json" mr_td)" = \
  "$(printf '%s' 'another td' | sha384sum | cut -d' ' -f1)"
check "each platform gets its own test root" \
  bash -c "! cmp -s '$platform/root.pem' '$work/other/root.pem'"

run "$emu" serve --platform "$work/absent" --root "$work/absent-root" --daemon
check "serve with an absent platform fails" exit_is 1
check "...and mounts nothing" bash -c "! grep -q '$work/absent-root' /proc/mounts"

# pem_blocks FILE FROM TO: PEM blocks FROM..TO (1-based) of FILE.
pem_blocks() { awk -v from="$2" -v to="$3" '/-----BEGIN/ {n++} n >= from && n <= to' "$1"; }
mkdir -p "$work/truncated" "$work/mixed"
cp "$platform"/*.bin "$platform/reference.json" "$work/truncated/"
cp "$platform"/*.bin "$platform/reference.json" "$work/mixed/"
pem_blocks "$platform/chain.pem" 1 4 >"$work/truncated/chain.pem"
{ pem_blocks "$platform/chain.pem" 1 4 && pem_blocks "$work/other/chain.pem" 5 6; } \
  >"$work/mixed/chain.pem"
run "$emu" serve --platform "$work/truncated" --root "$work/absent-root" --daemon
check "serve refuses a chain.pem without the PCK leaf" \
  output_has 'chain.pem: a sample PCK chain has 6 PEM blocks.*found 4'
run "$emu" serve --platform "$work/mixed" --root "$work/absent-root" --daemon
check "serve refuses a chain.pem whose leaf another CA signed" \
  output_has 'PCK leaf: the certificate is not signed by the platform CA'

# --- serve --daemon --------------------------------------------------------------------------
# The daemon keeps the stderr it was started with: its own file, read again after it stops.
"$emu" serve --platform "$platform" --root "$root" --daemon --pid-file "$work/emu.pid" \
  >"$work/daemon.out" 2>"$work/daemon.err"
status=$?
check "serve --daemon returns 0" exit_is 0
emu_pid=$(cat "$work/emu.pid" 2>/dev/null)
check "serve --daemon announces the mounts (TEST ONLY)" \
  grep -qx "tdx-emu: serving configfs-tsm at $report and TDX measurement registers at \
$measurements (TEST ONLY, not hardware)" "$work/daemon.err"
check "the report directory is mounted when serve --daemon returns" is_mounted "$report"
check "...and so is the measurements directory" is_mounted "$measurements"
check "without --survive-switch-root argv[0] is unchanged" \
  test "$(head -c 1 "/proc/${emu_pid:-0}/cmdline")" = "${emu:0:1}"
check "the serving process is alive" kill -0 "${emu_pid:-0}"
check "ROOT CCEL table is the platform's" cmp -s "$platform/ccel-table.bin" \
  "$root/sys/firmware/acpi/tables/CCEL"
check "ROOT CCEL data is the platform's" cmp -s "$platform/ccel-data.bin" "$ccel_data"
check "ROOT cpuinfo flags include tdx_guest" grep -qE '^flags.*\btdx_guest\b' "$root/proc/cpuinfo"

# --- configfs-tsm semantics ------------------------------------------------------------------
instance=$report/shell-check
check "mkdir creates an instance" mkdir "$instance"
check "mkdir of an existing instance fails" bash -c "! mkdir '$instance' 2>/dev/null"
check "the instance lists the configfs-tsm attributes" \
  test "$(find "$instance" -mindepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ')" = \
  "auxblob generation inblob outblob privlevel privlevel_floor provider "
check "provider is tdx_guest" test "$(cat "$instance/provider")" = tdx_guest
check "a new instance has generation 0" test "$(cat "$instance/generation")" = 0
head -c 64 /dev/urandom >"$work/inblob1"
check "writing 64 bytes to inblob succeeds" bash -c "cat '$work/inblob1' >'$instance/inblob'"
check "the inblob write advanced the generation to 1" test "$(cat "$instance/generation")" = 1
check "reading outblob succeeds" bash -c "cat '$instance/outblob' >'$work/quote1'"
check "outblob is a TDX quote v4 (version 4, ECDSA P-256, TEE type 0x81)" \
  test "$(hex_at "$work/quote1" 0 8)" = 0400020081000000
check "the quote's REPORTDATA is the inblob" \
  test "$(hex_at "$work/quote1" 568 64)" = "$(hex_at "$work/inblob1" 0 64)"
check "the quote's MRTD is reference.json's mr_td" \
  test "$(hex_at "$work/quote1" 184 48)" = "$default_mr_td"
for i in 0 1 2 3; do
  check "the quote's RTMR$i is reference.json's rtmr$i" \
    test "$(hex_at "$work/quote1" $((376 + 48 * i)) 48)" = \
    "$(json_field "$platform/reference.json" "rtmr$i")"
done
check "reading outblob leaves the generation at 1" test "$(cat "$instance/generation")" = 1
# (cat first: cmp trusts st_size, which configfs reports as 0 for binary attributes)
cat "$instance/outblob" >"$work/quote1-again"
check "a second read of the same generation gives the same quote" \
  cmp -s "$work/quote1" "$work/quote1-again"
check "auxblob of a TDX report is empty" test "$(wc -c <"$instance/auxblob")" = 0
head -c 64 /dev/urandom >"$work/inblob2"
cat "$work/inblob2" >"$instance/inblob"
check "a second inblob advances the generation to 2" test "$(cat "$instance/generation")" = 2
cat "$instance/outblob" >"$work/quote2"
check "...and the new quote carries the new REPORTDATA" \
  test "$(hex_at "$work/quote2" 568 64)" = "$(hex_at "$work/inblob2" 0 64)"
run bash -c "head -c 65 /dev/zero >'$instance/inblob'"
check "a 65-byte inblob is refused" exit_is_not 0
check "...with EFBIG" err_has 'File too large'
check "...and leaves the generation at 2" test "$(cat "$instance/generation")" = 2
head -c 63 /dev/zero >"$instance/inblob"
run cat "$instance/outblob"
check "after a 63-byte inblob, reading outblob fails" exit_is_not 0
check "...with EINVAL, as the TDX provider answers" err_has 'Invalid argument'
run cat "$instance/inblob"
check "inblob is write-only" err_has 'Permission denied'
run bash -c "echo x >'$instance/outblob'"
check "outblob is read-only" err_has 'Permission denied'
check "rmdir removes the instance" rmdir "$instance"
check "the report directory is empty again" test -z "$(ls -A "$report")"

# --- sysfs measurement registers (Linux 6.16 ABI) --------------------------------------------
check "the measurements directory lists the TDX registers with the kernel's modes and size 48" \
  test "$(find "$measurements" -mindepth 1 -printf '%f %m %s\n' | LC_ALL=C sort | tr '\n' ' ')" = \
  "mrconfigid 444 48 mrowner 444 48 mrownerconfig 444 48 mrtd:sha384 444 48 \
rtmr0:sha384 644 48 rtmr1:sha384 644 48 rtmr2:sha384 644 48 rtmr3:sha384 644 48 "
for i in 0 1 2 3; do
  check "rtmr$i:sha384 reads reference.json's rtmr$i (48 raw bytes)" \
    test "$(hex_at "$measurements/rtmr$i:sha384" 0 4096)" = \
    "$(json_field "$platform/reference.json" "rtmr$i")"
done
check "mrtd:sha384 reads the MRTD" test "$(hex_at "$measurements/mrtd:sha384" 0 4096)" = \
  "$default_mr_td"
check "mrconfigid reads 48 zero bytes, as the quotes carry" \
  test "$(hex_at "$measurements/mrconfigid" 0 4096)" = "$(printf '0%.0s' $(seq 96))"
run bash -c "head -c 48 /dev/zero >'$measurements/mrtd:sha384'"
check "mrtd:sha384 is read-only, also for root" err_has 'Permission denied'
run touch "$measurements/new"
check "no file can be created in the measurements directory" exit_is_not 0

# --- attestation through fdectl and devkbs ---------------------------------------------------
if ! devkbs_start "$devkbs" "$work/kbs" --tdx-root "$platform/root.pem"; then
  echo "FAIL devkbs did not start"
  cat "$work/kbs.log"
  exit 1
fi
# default/fde/runtime pins every register but RTMR3, which the runtime event log accounts for.
jq --arg bad "$(printf '11%.0s' $(seq 48))" \
  '{resources: {"default/fde/disk-key": {tees: ["tdx"], tdx: .},
                "default/fde/strict": {tees: ["tdx"], tdx: (. + {rtmr1: $bad})},
                "default/fde/runtime": {tees: ["tdx"], tdx: del(.rtmr3)}}}' \
  "$platform/reference.json" >"$work/policy.json"
head -c 32 /dev/urandom >"$work/disk-key"
run devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
  --data @"$work/policy.json"
check "devkbs accepts policies whose tdx object is reference.json" exit_is 0
devkbs_admin POST /kbs/v0/resource/default/fde/disk-key --data-binary @"$work/disk-key" >/dev/null
devkbs_admin POST /kbs/v0/resource/default/fde/strict --data-binary @"$work/disk-key" >/dev/null
devkbs_admin POST /kbs/v0/resource/default/fde/runtime --data-binary @"$work/disk-key" >/dev/null
get=("$fdectl" kbs get --url "$DEVKBS_URL" --ca "$DEVKBS_CA" --tee tdx --platform-root "$root"
  --timeout 20)

run "${get[@]}" --resource default/fde/disk-key --out "$work/fetched"
check "fdectl kbs get --tee tdx through the emulation succeeds" exit_is 0
check "the fetched resource equals the stored one" cmp -s "$work/disk-key" "$work/fetched"
check "fdectl removed its report instance" test -z "$(ls -A "$report")"

run "${get[@]}" --resource default/fde/strict --out "$work/strict"
check "a policy requiring another rtmr1: exit 1" exit_is 1
check "...policy_denied naming rtmr1 and the required value" \
  output_has "policy_denied.*rtmr1 is $(json_field "$platform/reference.json" rtmr1).*requires 1111"
check "...and no file" test ! -e "$work/strict"

# Corrupt the first event's SHA-384 digest (Spec ID record of 65 bytes, then 14 bytes of
# pcrIndex, type, count and algorithm): the log still parses, its replay no longer matches.
cp "$ccel_data" "$work/ccel-good"
printf '\x5a' | dd of="$ccel_data" bs=1 seek=79 conv=notrunc status=none
check "the CCEL copy under ROOT was altered" bash -c "! cmp -s '$work/ccel-good' '$ccel_data'"
run "${get[@]}" --resource default/fde/disk-key --out "$work/broken"
check "a broken platform (CCEL replay mismatch): exit 1" exit_is 1
check "...attestation_refused for the replay mismatch" \
  output_has 'attestation_refused.*cc_eventlog replay does not match'
check "...and no file" test ! -e "$work/broken"
cp "$work/ccel-good" "$ccel_data"
run "${get[@]}" --resource default/fde/disk-key --out "$work/fetched-again"
check "with the CCEL restored the fetch succeeds again" \
  cmp -s "$work/disk-key" "$work/fetched-again"

# --- RTMR3 extension ---------------------------------------------------------------------------
# Profile mode: the configuration's platform_root also roots the runtime event log
# (<root>/run/attestation-agent/eventlog) that goes to devkbs after the CCEL.
jq -n --arg url "$DEVKBS_URL" --arg ca "$DEVKBS_CA" --arg root "$root" \
  '{version: 1, profiles: {default: {url: $url, ca_file: $ca, resources: ["default/*"]}},
    evidence: {tee: "tdx", platform_root: $root}}' >"$work/config.json"
get_profile=("$fdectl" kbs get --config "$work/config.json" --timeout 20)

cat "$rtmr3" >"$work/rtmr3-before"
head -c 48 /dev/urandom >"$work/digest1"
check "writing a 48-byte digest to rtmr3:sha384 succeeds" \
  bash -c "cat '$work/digest1' >'$rtmr3'"
extended1=$(sha384_of "$work/rtmr3-before" "$work/digest1")
check "rtmr3 now reads SHA-384(old RTMR3 || digest) (computed by sha384sum)" \
  test "$(hex_at "$rtmr3" 0 48)" = "$extended1"
check "...and RTMR2 is unchanged" test "$(hex_at "$measurements/rtmr2:sha384" 0 48)" = \
  "$(json_field "$platform/reference.json" rtmr2)"
instance=$report/after-extend
mkdir "$instance"
cat "$work/inblob1" >"$instance/inblob"
cat "$instance/outblob" >"$work/quote-extended"
rmdir "$instance"
check "a quote generated afterwards carries the extended RTMR3" \
  test "$(hex_at "$work/quote-extended" $((376 + 48 * 3)) 48)" = "$extended1"
check "...and the launch RTMR0..2" \
  test "$(hex_at "$work/quote-extended" 376 144)" = \
  "$(jq -r '.rtmr0 + .rtmr1 + .rtmr2' "$platform/reference.json")"

run pwrite "$rtmr3" 0 47
check "a 47-byte write to rtmr3 is refused with EINVAL" err_has 'Invalid argument'
run pwrite "$rtmr3" 1 47
check "a write at offset 1 is refused with EINVAL" err_has 'Invalid argument'
run pwrite "$rtmr3" 48 48
check "a write at offset 48 is refused with EFBIG" err_has 'File too large'
check "...and the refused writes left RTMR3 alone" test "$(hex_at "$rtmr3" 0 48)" = "$extended1"
cat "$rtmr3" >"$work/rtmr3-before-long"
run pwrite "$rtmr3" 0 49
check "a 49-byte write is clipped to 48 bytes, as sysfs does (returns 48)" output_has '^48$'
head -c 48 /dev/zero | tr '\0' '\132' >"$work/digest-5a"
check "...and extended RTMR3 with its first 48 bytes" \
  test "$(hex_at "$rtmr3" 0 48)" = "$(sha384_of "$work/rtmr3-before-long" "$work/digest-5a")"

rm -f "$runtime_log"
run "${get_profile[@]}" --resource default/fde/runtime --out "$work/unlogged"
check "RTMR3 extended without a runtime log record: the fetch is refused" exit_is 1
check "...attestation_refused for the replay mismatch" \
  output_has 'attestation_refused.*cc_eventlog replay does not match'
check "...and no file" test ! -e "$work/unlogged"

# A fresh emulator starts from the launch RTMRs; this one is marked as a root storage daemon.
check "SIGTERM ends the first daemon" stop_process "${emu_pid:-0}"
emu_pid=""
check "...and both mounts are gone" \
  bash -c "! grep -qE ' ($report|$measurements) fuse' /proc/mounts"
check "the first daemon wrote nothing to stderr but its announcement (no sanitizer reports)" \
  test "$(wc -l <"$work/daemon.err")" = 1
"$emu" serve --platform "$platform" --root "$root" --daemon --pid-file "$work/emu.pid" \
  --survive-switch-root >"$work/daemon2.out" 2>"$work/daemon2.err"
status=$?
check "serve --daemon --survive-switch-root returns 0" exit_is 0
emu_pid=$(cat "$work/emu.pid" 2>/dev/null)
check "--survive-switch-root sets argv[0][0] to '@' (systemd spares it at switch-root)" \
  test "$(head -c 1 "/proc/${emu_pid:-0}/cmdline")" = @
check "...and leaves the comm name alone" \
  test "$(cat "/proc/${emu_pid:-0}/comm" 2>/dev/null)" = "$(basename "$emu" | cut -c1-15)"
check "the new emulator starts from the launch RTMR3" \
  test "$(hex_at "$rtmr3" 0 48)" = "$(json_field "$platform/reference.json" rtmr3)"

mkdir -p "$(dirname "$runtime_log")"
aael_record "cc-fde phase-end initramfs-unlock" "$work/record1" "$work/record1.digest"
cat "$work/record1" >>"$runtime_log"
cat "$work/record1.digest" >"$rtmr3"
run "${get_profile[@]}" --resource default/fde/runtime --out "$work/logged"
check "RTMR3 extended with its runtime log record: the fetch is released" exit_is 0
check "...with the stored resource" cmp -s "$work/disk-key" "$work/logged"
run "${get_profile[@]}" --resource default/fde/disk-key --out "$work/pinned"
check "a policy pinning the launch RTMR3 refuses it (policy_denied naming rtmr3)" \
  output_has 'policy_denied.*rtmr3'

head -c 48 /dev/urandom >"$rtmr3"
run "${get_profile[@]}" --resource default/fde/runtime --out "$work/unlogged2"
check "one more extend without its record: refused" exit_is 1
check "...for the replay mismatch" output_has 'attestation_refused.*cc_eventlog replay does not match'
check "...and no file" test ! -e "$work/unlogged2"
devkbs_stop

# --- SIGTERM ---------------------------------------------------------------------------------
check "SIGTERM ends the daemon" stop_process "${emu_pid:-0}"
emu_pid=""
check "...and the mounts are gone" \
  bash -c "! grep -qE ' ($report|$measurements) fuse' /proc/mounts"
check "the daemon wrote nothing to stderr but its announcement (no sanitizer reports)" \
  test "$(wc -l <"$work/daemon2.err")" = 1

# --- foreground serve with sd_notify ---------------------------------------------------------
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
print(s.recv(4096).decode(), flush=True)
' "$work/notify.sock" >"$work/notify.out" 2>&1 &
notify_pid=$!
for _ in $(seq 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$work/notify.sock "$emu" serve --platform "$platform" --root "$root" \
  2>"$work/foreground.err" &
foreground_pid=$!
for _ in $(seq 100); do [ -s "$work/notify.out" ] && break; sleep 0.1; done
check "foreground serve sends READY=1 to NOTIFY_SOCKET" grep -q '^READY=1' "$work/notify.out"
check "...once the report directory is mounted" is_mounted "$report"
check "...and the measurements directory" is_mounted "$measurements"
check "...and announces it on stderr" \
  grep -q '^tdx-emu: serving configfs-tsm at' "$work/foreground.err"
kill -TERM "$foreground_pid"
wait "$foreground_pid"
foreground_status=$?
foreground_pid=""
check "SIGTERM ends foreground serve with status 0 (status $foreground_status)" \
  test "$foreground_status" = 0
check "...after unmounting both" \
  bash -c "! grep -qE ' ($report|$measurements) fuse' /proc/mounts"
check "...with nothing on stderr but its announcement" test "$(wc -l <"$work/foreground.err")" = 1

# --- measure-boot and serve --boot-fw-cfg -----------------------------------------------------
# The host's measurement of one direct boot, passed to the guest as QEMU's -fw_cfg files, which
# qemu_fw_cfg shows as BY_NAME/NAME/raw. The kernel is a PE image measured unpatched (0 MiB).
pe_kernel=$here/../../data/debian/fwupdx64.efi.signed
head -c 4096 /dev/urandom >"$work/initrd.img"
printf 'console=ttyS0 root=/dev/mapper/root\n' >"$work/cmdline"
run "$emu" measure-boot --platform "$platform" --kernel "$pe_kernel" --initrd "$work/initrd.img" \
  --cmdline-file "$work/cmdline" --qemu-below-4g-memory 0 --out "$work/boot"
check "measure-boot succeeds" exit_is 0
check "measure-boot writes the four files" \
  test -s "$work/boot/ccel-table.bin" -a -s "$work/boot/ccel-data.bin" -a \
  -s "$work/boot/reference.json" -a -s "$work/boot/cmdline"
check "the measured command line has no newline" \
  test "$(od -An -c "$work/boot/cmdline" | tr -d ' \n' | tail -c 4)" = root
# RTMR2, computed here from the layout OVMF and the stub use (the load options in UTF-16LE with
# " initrd=initrd" and a NUL, then the initrd), not by cc-fde.
want_rtmr2=$(python3 -c 'import hashlib, sys
options = (sys.argv[1] + " initrd=initrd").encode("utf-16-le") + b"\0\0"
rtmr = bytes(48)
for digest in (hashlib.sha384(options).digest(), hashlib.sha384(open(sys.argv[2], "rb").read()).digest()):
    rtmr = hashlib.sha384(rtmr + digest).digest()
print(rtmr.hex())' "console=ttyS0 root=/dev/mapper/root" "$work/initrd.img")
check "the boot's RTMR2 measures the command line and the initrd" \
  test "$(json_field "$work/boot/reference.json" rtmr2)" = "$want_rtmr2"
check "the boot keeps the platform's MRTD and RTMR0" \
  test "$(jq -r '.mr_td + .rtmr0' "$work/boot/reference.json")" = \
  "$(jq -r '.mr_td + .rtmr0' "$platform/reference.json")"
check "RTMR3 starts empty" test "$(json_field "$work/boot/reference.json" rtmr3)" = "$(printf '0%.0s' $(seq 96))"
for file in ccel-table.bin ccel-data.bin reference.json cmdline; do
  mkdir -p "$work/fw_cfg/$file"
  cp "$work/boot/$file" "$work/fw_cfg/$file/raw"
done
# MRCONFIGID, which the VMM sets at launch: the SHA-384 of an init-data document, as the host
# writes it for the optional fw_cfg item opt/cc-fde/tdx-boot/mrconfigid.
printf 'algorithm = "sha384"\nversion = "0.1.0"\n\n[data]\n' >"$work/init-data.toml"
mkdir -p "$work/fw_cfg/mrconfigid"
openssl dgst -sha384 -binary "$work/init-data.toml" >"$work/fw_cfg/mrconfigid/raw"
want_mrconfigid=$(sha384_of "$work/init-data.toml")
printf 'console=ttyS0 root=/dev/mapper/root\n' >"$work/proc-cmdline"
"$emu" serve --platform "$platform" --root "$root" --daemon --pid-file "$work/emu.pid" \
  --boot-fw-cfg "$work/fw_cfg" --check-cmdline "$work/proc-cmdline" >"$work/boot.out" 2>&1
check "serve --boot-fw-cfg with the booted command line starts" test $? = 0
emu_pid=$(cat "$work/emu.pid" 2>/dev/null)
check "...and serves the host's CCEL" cmp -s "$work/boot/ccel-data.bin" "$ccel_data"
instance=$report/measured-boot
mkdir "$instance" && head -c 64 /dev/zero >"$instance/inblob" && cat "$instance/outblob" >"$work/boot-quote"
check "...and its quotes carry the measured RTMR2" test "$(hex_at "$work/boot-quote" 472 48)" = "$want_rtmr2"
check "...and the host's MRCONFIGID (the init-data digest)" \
  test "$(hex_at "$work/boot-quote" 232 48)" = "$want_mrconfigid"
check "...which mrconfigid reads too" \
  test "$(hex_at "$measurements/mrconfigid" 0 4096)" = "$want_mrconfigid"
rmdir "$instance"
check "SIGTERM ends the measured-boot daemon" stop_process "${emu_pid:-0}"
emu_pid=""
printf 'console=ttyS0 root=/dev/mapper/root rd.break\n' >"$work/proc-cmdline"
run "$emu" serve --platform "$platform" --root "$root" --daemon --boot-fw-cfg "$work/fw_cfg" \
  --check-cmdline "$work/proc-cmdline"
check "serve refuses a kernel booted with another command line than the measured one" exit_is 1
check "...naming both" output_has 'rd.break.*the host measured "console=ttyS0 root=/dev/mapper/root"'
check "...and mounts nothing" bash -c "! grep -q ' $report fuse' /proc/mounts"
head -c 47 "$work/fw_cfg/mrconfigid/raw" >"$work/mrconfigid-47" &&
  mv "$work/mrconfigid-47" "$work/fw_cfg/mrconfigid/raw"
run "$emu" serve --platform "$platform" --root "$root" --daemon --boot-fw-cfg "$work/fw_cfg"
check "serve refuses an MRCONFIGID that is not 48 bytes" exit_is 1
check "...naming the file and its size" output_has "mrconfigid/raw.*the file has 47"
rm -r "$work/fw_cfg/mrconfigid"
rm "$work/fw_cfg/ccel-data.bin/raw"
run "$emu" serve --platform "$platform" --root "$root" --daemon --boot-fw-cfg "$work/fw_cfg"
check "serve refuses an incomplete fw_cfg boot" exit_is 1
check "...naming the file" output_has "boot measurements.*ccel-data.bin/raw"

finish "cc-fde-tdx-emu"

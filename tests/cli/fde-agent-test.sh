#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellcheck disable=SC2016  # the check expressions are single-quoted for eval on purpose
# CLI test of fde-agent against a real devkbs on 127.0.0.1 with `sample` evidence: volumes are
# LUKS2 image files made with the cryptsetup CLI, each with a broker key in keyslot 1 and a cc-fde
# token, found through a fake sysfs (--sys-root/--dev-root). Unlocking is checked with --dry-run
# (each key verified against its keyslot) and the keyscript route; real activation fails with its
# own error code where there is no device-mapper (the build host), and opens the volume where
# there is (the VM test covers that case in its provisioning VM).
# Usage: fde-agent-test.sh FDE_AGENT DEVKBS
set -uo pipefail

agent=${1:?fde-agent binary}
devkbs=${2:?devkbs binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/devkbs.sh
. "$here/lib/devkbs.sh"

if ! command -v cryptsetup >/dev/null; then
  echo "SKIP: the cryptsetup CLI is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi

# shellcheck source=tests/cli/lib/harness.sh
. "$here/lib/harness.sh"

elapsed=0
# run_agent ARGS...: as run, for fde-agent, with the seconds it took in $elapsed.
run_agent() {
  local start=$SECONDS
  run "$agent" "$@"
  elapsed=$((SECONDS - start))
}
json_is() { [ "$(jq -r "$1" "$work/out")" = "$2" ]; }

DEVKBS_LOG_REQUESTS=1 devkbs_start "$devkbs" "$work/kbs" --allow-sample || {
  cat "$work/kbs.log"
  exit 1
}

devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
  --data '{"resources":{"*":{"tees":["sample"]}}}' >/dev/null

# write_config FILE [failure_action] [volume_timeout_s] [url]
write_config() {
  local file=$1 action=${2:-fail} timeout=${3:-30} url=${4:-$DEVKBS_URL}
  cat >"$file" <<JSON
{
  "version": 1,
  "profiles": {
    "default": {"url": "$url", "ca_file": "$DEVKBS_CA", "resources": ["cc-fde/disk/*"], "connect_timeout_s": 2}
  },
  "evidence": {"tee": "sample"},
  "unlock": {
    "volume_timeout_s": $timeout,
    "overall_timeout_s": $((timeout + 10)),
    "failure_action": "$action",
    "measure_unlock": false,
    "require_phase_event": false,
    "crypttab": "$work/crypttab"
  }
}
JSON
}
write_config "$work/config.json"
printf 'recovery passphrase' >"$work/passphrase"
: >"$work/crypttab"
mkdir -p "$work/sys/class/block" "$work/dev"

# make_volume NAME [MIB]: a 16 MiB (or MIB) LUKS2 image as $work/dev/NAME (listed in the fake
# sysfs), keyslot 0 the recovery passphrase, keyslot 1 a random 32-byte key stored on devkbs as
# cc-fde/disk/NAME, and a cc-fde token for keyslot 1. At 16 MiB the data segment is empty (the
# header takes it all), enough for everything but a real activation.
make_volume() {
  local name=$1 mib=${2:-16} image="$work/dev/$1"
  truncate -s "${mib}M" "$image"
  cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/passphrase" "$image" >/dev/null || return 1
  head -c 32 /dev/urandom >"$work/$name.key"
  cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/passphrase" --new-key-slot 1 "$image" "$work/$name.key" || return 1
  devkbs_admin POST "/kbs/v0/resource/cc-fde/disk/$name" --data-binary @"$work/$name.key" \
    -H 'Content-Type: application/octet-stream' >/dev/null || return 1
  printf '{"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default","resource":"cc-fde/disk/%s"}' \
    "$name" >"$work/$name.token"
  cryptsetup token import --json-file "$work/$name.token" "$image" || return 1
  mkdir -p "$work/sys/class/block/$name" "$work/dev/disk/by-uuid"
  echo $((mib * 2048)) >"$work/sys/class/block/$name/size"
  ln -s "../../$name" "$work/dev/disk/by-uuid/$(cryptsetup luksUUID "$image")"
}

# attestations: POST /kbs/v0/attest requests devkbs has answered so far (from its request log,
# which devkbs writes just after answering: devkbs_log_settled waits for the lines to be there).
attestations() {
  devkbs_log_settled >&2
  grep -c 'POST /kbs/v0/attest' "$work/kbs.log"
}

common=(--config "$work/config.json" --cmdline /dev/null)
scan=(--sys-root "$work/sys" --dev-root "$work/dev")

# ---- one volume ----
make_volume vda || {
  echo "FAIL could not create the first volume"
  exit 1
}
before=$(attestations)
run_agent unlock "${common[@]}" --dry-run --json "$work/dev/vda"
check "1 volume: dry run succeeds" exit_is 0
check "1 volume: verified with keyslot 1" \
  json_is '.volumes[0].result + " " + (.volumes[0].keyslot|tostring)' "verified 1"
check "1 volume: one attestation (client)" json_is .attestations 1
check "1 volume: one attestation (devkbs)" [ $(($(attestations) - before)) -eq 1 ]
check "timeline line for the attestation" \
  err_has "^fde-agent: timeline: attestation ok [0-9]+ ms"
check "timeline line for the key fetch" err_has "^fde-agent: timeline: key-fetch ok [0-9]+ ms"
check "no key bytes in the output" \
  bash -c "! grep -qi \"\$(xxd -p -c 64 '$work/vda.key')\" '$work/out' '$work/err'"

# ---- required volumes: a substituted disk, a missing disk ----
# The host swaps in a LUKS2 disk with the UUID of a required volume, no cc-fde token and a
# passphrase it knows. Under failure_action fail: a failure naming the cause, no attestation, and
# no verdict for the cryptsetup gate (so no prompt, no token fallback).
swapped_uuid=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
mkdir -p "$work/swap/sys/class/block/swapped" "$work/swap/dev"
truncate -s 16M "$work/swap/dev/swapped"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --uuid "$swapped_uuid" --key-file "$work/passphrase" "$work/swap/dev/swapped" >/dev/null
echo 32768 >"$work/swap/sys/class/block/swapped/size"
required_config() { # FILE ACTION: the test configuration plus unlock.volumes
  write_config "$1.base" "$2" 2
  jq --arg uuid "$swapped_uuid" '.unlock.volumes = [{uuid: $uuid}]' "$1.base" >"$1"
}
required_config "$work/required.json" fail
before=$(attestations)
run_agent unlock --config "$work/required.json" --cmdline /dev/null --sys-root "$work/swap/sys" \
  --dev-root "$work/swap/dev" --run-dir "$work/swap/run" --all --json
check "substituted disk: exit 1 (failure_action fail)" exit_is 1
check "substituted disk: the cause names the missing token and the substitution" \
  err_has "required volume $swapped_uuid \\(unlock.volumes\\) at .*swapped has no cc-fde token: not unlocking it, and no passphrase either"
check "substituted disk: nothing was sent to the broker" [ $(($(attestations) - before)) -eq 0 ]
check "substituted disk: no verdict for the cryptsetup gate" \
  test ! -e "$work/swap/run/cc-fde/verdict/luks-$swapped_uuid"
required_config "$work/required-prompt.json" prompt
run_agent unlock --config "$work/required-prompt.json" --cmdline /dev/null \
  --sys-root "$work/swap/sys" --dev-root "$work/swap/dev" --run-dir "$work/swap/run" --all
check "substituted disk, failure_action prompt: exit 0, handed to the prompt on purpose" \
  eval 'exit_is 0 && grep -qx "prompt $swapped_uuid" "$work/swap/run/cc-fde/verdict/luks-$swapped_uuid"'
rm -f "$work/swap/dev/swapped"
rm -rf "$work/swap/sys/class/block/swapped"
run_agent unlock --config "$work/required.json" --cmdline /dev/null --sys-root "$work/swap/sys" \
  --dev-root "$work/swap/dev" --run-dir "$work/swap/run" --all
check "missing required volume: exit 1 after waiting for it (2 s deadline)" \
  eval 'exit_is 1 && [ "$elapsed" -ge 1 ] && [ "$elapsed" -le 10 ]'
check "missing required volume: the cause names it" \
  err_has "required volume $swapped_uuid \\(unlock.volumes\\) was not found before the deadline"

# ---- the kernel command line may set only what the configuration allows ----
printf 'quiet rd.cc-fde.url=https://evil.example:443 rd.cc-fde.timeout=5\n' >"$work/cmdline-url"
before=$(attestations)
run_agent unlock --config "$work/config.json" --cmdline "$work/cmdline-url" --dry-run \
  "$work/dev/vda"
check "rd.cc-fde.url= not allowed: exit 2, naming the option and the allow list" \
  eval 'exit_is 2 && err_has "rd.cc-fde.url=https://evil.example:443: the configuration .* does not let the command line set \"url\" \(kernel_command_line.allow: timeout, volume-timeout, debug\)"'
check "rd.cc-fde.url= not allowed: nothing was sent to any broker" \
  [ $(($(attestations) - before)) -eq 0 ]
printf 'rd.cc-fde.ca=/dev/null\n' >"$work/cmdline-ca"
jq '.kernel_command_line.allow = ["ca"]' "$work/config.json" >"$work/config-ca.json"
run_agent unlock --config "$work/config-ca.json" --cmdline "$work/cmdline-ca" --dry-run \
  "$work/dev/vda"
check "rd.cc-fde.ca= naming a device, even when allowed: exit 2" \
  eval 'exit_is 2 && err_has "/dev/null is a character device: only regular files of the measured image are trusted"'
printf 'rd.cc-fde.timeout="5"\n' >"$work/cmdline-quoted"
run_agent unlock --config "$work/config.json" --cmdline "$work/cmdline-quoted" --dry-run \
  "$work/dev/vda"
check "a quoted cc-fde word is refused" \
  eval 'exit_is 2 && err_has "quote characters in a cc-fde option are refused"'

# ---- 16 volumes, one attestation ----
for i in $(seq 1 15); do make_volume "vd$i" || echo "could not create vd$i"; done
before=$(attestations)
run_agent unlock "${common[@]}" "${scan[@]}" --dry-run --all --json
check "16 volumes: dry run succeeds" exit_is 0
check "16 volumes: all verified" json_is '[.volumes[] | select(.result == "verified")] | length' 16
check "16 volumes: one attestation (client)" json_is .attestations 1
check "16 volumes: one attestation (devkbs)" [ $(($(attestations) - before)) -eq 1 ]
check "16 volumes: mapping names luks-<UUID>" \
  json_is '[.volumes[] | select(.mapping == "luks-" + .uuid)] | length' 16

# ---- crypttab names and noauto ----
uuid=$(cryptsetup luksUUID "$work/dev/vd1")
uuid2=$(cryptsetup luksUUID "$work/dev/vd2")
printf '# test crypttab\ncryptdata UUID=%s none luks,discard\nlater UUID=%s none luks,noauto\n' \
  "$uuid" "$uuid2" >"$work/crypttab"
run_agent unlock "${common[@]}" "${scan[@]}" --dry-run --all --json
check "crypttab: name taken from crypttab" \
  json_is ".volumes[] | select(.uuid == \"$uuid\") | .mapping" cryptdata
check "crypttab: noauto volume skipped in --all" \
  json_is ".volumes[] | select(.uuid == \"$uuid2\") | .result" skipped
run_agent unlock "${common[@]}" --dev-root "$work/dev" --dry-run --json "UUID=$uuid2"
check "crypttab: noauto volume unlocked when named" json_is '.volumes[0].result' verified
: >"$work/crypttab"

# ---- one volume failing does not stop the others ----
devkbs_admin DELETE /kbs/v0/resource/cc-fde/disk/vd3 >/dev/null
run_agent unlock "${common[@]}" "${scan[@]}" --dry-run --all --json
check "missing resource: dry run exits 1" exit_is 1
check "missing resource: only that volume failed" \
  json_is '[.volumes[] | select(.result == "failed") | .error_code] | join(",")' resource_not_found
check "missing resource: the others verified" \
  json_is '[.volumes[] | select(.result == "verified")] | length' 15
check "missing resource: the failure names the resource" err_has 'cc-fde/disk/vd3'
jq --arg uuid "$(cryptsetup luksUUID "$work/dev/vda")" '.unlock.volumes = [{uuid: $uuid}]' \
  "$work/config.json" >"$work/config-required-vda.json"
run_agent unlock --config "$work/config-required-vda.json" --cmdline /dev/null "${scan[@]}" \
  --dry-run --all
check "only required volumes decide: vda required and verified, vd3 failing -> exit 0" \
  eval 'exit_is 0 && err_has "vd3 is not a required volume .*: its failure does not stop the boot"'
devkbs_admin POST /kbs/v0/resource/cc-fde/disk/vd3 --data-binary @"$work/vd3.key" >/dev/null

# ---- a broker key that opens nothing ----
head -c 32 /dev/urandom >"$work/wrong.key"
devkbs_admin POST /kbs/v0/resource/cc-fde/disk/vd4 --data-binary @"$work/wrong.key" >/dev/null
run_agent unlock "${common[@]}" --dry-run --json "$work/dev/vd4"
check "wrong key: key_rejected" json_is '.volumes[0].error_code' key_rejected
devkbs_admin POST /kbs/v0/resource/cc-fde/disk/vd4 --data-binary @"$work/vd4.key" >/dev/null

# ---- keyscript (Debian cryptroot) ----
CRYPTTAB_SOURCE="$work/dev/vd5" CRYPTTAB_NAME=data5 "$agent" keyscript "${common[@]}" \
  --run-dir "$work/keyscript-run" >"$work/keyscript.key" 2>"$work/err"
status=$?
check "keyscript: exit 0" exit_is 0
check "keyscript: the key on stdout opens the volume" \
  cryptsetup open --test-passphrase --key-file "$work/keyscript.key" "$work/dev/vd5"
check "keyscript: stdout is exactly the key" cmp -s "$work/keyscript.key" "$work/vd5.key"
vd5_uuid=$(cryptsetup luksUUID "$work/dev/vd5")
# mark_is FILE "MAPPING UUID OPENER": an unlock mark of this boot, mode 0600 in a 0700 directory.
mark_is() {
  [ "$(stat -c %a "$1" "$(dirname "$1")" | tr '\n' ' ')" = "600 700 " ] &&
    [ "$(jq -r '[.mapping, .luks_uuid, .opened_by, .boot_id] | join(" ")' "$1")" = \
      "$2 $(cat /proc/sys/kernel/random/boot_id)" ]
}
check "keyscript: an unlock mark names CRYPTTAB_NAME and the UUID" \
  mark_is "$work/keyscript-run/cc-fde/unlocks/fde-agent@$vd5_uuid@data5" "data5 $vd5_uuid fde-agent"
CRYPTTAB_SOURCE="$work/dev/vd4" CRYPTTAB_NAME=data4 "$agent" keyscript "${common[@]}" \
  --run-dir "$work/keyscript-run" >"$work/keyscript.key" 2>"$work/err"
status=$?
check "keyscript: plain LUKS key file works too" exit_is 0
truncate -s 0 "$work/plain.img" && truncate -s 16M "$work/plain.img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --key-file "$work/passphrase" "$work/plain.img" >/dev/null
CRYPTTAB_SOURCE="$work/plain.img" CRYPTTAB_NAME=plain "$agent" keyscript "${common[@]}" \
  --run-dir "$work/keyscript-run" >"$work/keyscript.key" 2>"$work/err"
status=$?
check "keyscript: volume without token fails" exit_is 1
check "keyscript: nothing on stdout when it fails" [ ! -s "$work/keyscript.key" ]
check "keyscript: the cause is named" err_has 'no_token'
"$agent" keyscript "${common[@]}" >"$work/out" 2>"$work/err"
status=$?
check "keyscript: without CRYPTTAB_SOURCE it refuses" exit_is 2

# ---- the unlock is recorded in RTMR3 and the runtime event log (fake TDX sysfs) ----
platform="$work/platform"
measurements="$platform/sys/devices/virtual/misc/tdx_guest/measurements"
mkdir -p "$measurements"
head -c 48 /dev/zero >"$measurements/rtmr3:sha384"
jq --arg root "$platform" '.unlock.measure_unlock = true | .evidence.platform_root = $root' \
  "$work/config.json" >"$work/measure.json"
CRYPTTAB_SOURCE="$work/dev/vd6" CRYPTTAB_NAME=data6 "$agent" keyscript \
  --config "$work/measure.json" --cmdline /dev/null --run-dir "$work/keyscript-run" \
  >"$work/keyscript.key" 2>"$work/err"
status=$?
log="$platform/run/attestation-agent/eventlog"
check "measure: keyscript still succeeds" exit_is 0
check "measure: a runtime event log record was appended" [ -s "$log" ]
check "measure: the record names the volume" \
  grep -q "cc-fde unlock {.*\"uuid\":\"$(cryptsetup luksUUID "$work/dev/vd6")\"" "$log"
# TCG_PCR_EVENT2: pcrIndex 4, type 6, 1 digest, alg 0x000c, digest (48), size, event data.
check "measure: RTMR3 (index 4), EV_EVENT_TAG, SHA-384" \
  [ "$(head -c 14 "$log" | xxd -p)" = "0400000006000000010000000c00" ]
check "measure: the digest written to RTMR3 is the record's" \
  cmp -s <(tail -c +15 "$log" | head -c 48) "$measurements/rtmr3:sha384"
check "measure: the digest is SHA-384 of the event data" \
  [ "$(tail -c +67 "$log" | openssl dgst -sha384 -binary | xxd -p -c 48)" = \
    "$(xxd -p -c 48 "$measurements/rtmr3:sha384")" ]

# ---- kernel command line ----
echo "root=/dev/vda1 rd.cc-fde=0 quiet" >"$work/cmdline"
run_agent unlock --config "$work/config.json" --cmdline "$work/cmdline" --dry-run --all
check "rd.cc-fde=0 without the configuration's consent: exit 2, naming it" \
  eval 'exit_is 2 && err_has "rd.cc-fde=0: the configuration .* does not let the command line set \"disable\""'
jq '.kernel_command_line.allow = ["disable"]' "$work/config.json" >"$work/config-disable.json"
run_agent unlock --config "$work/config-disable.json" --cmdline "$work/cmdline" --dry-run --all
check "rd.cc-fde=0 allowed by the configuration disables the agent" exit_is 0
check "rd.cc-fde=0 is reported" err_has 'disabled by rd.cc-fde=0'
echo "rd.cc-fde.timeout=abc" >"$work/cmdline"
run_agent unlock --config "$work/config.json" --cmdline "$work/cmdline" --dry-run --all
check "bad rd.cc-fde.timeout: exit 2" exit_is 2
check "bad rd.cc-fde.timeout: named" err_has 'config_invalid.*rd.cc-fde.timeout'

# ---- bad configuration ----
sed 's/"failure_action"/"failure_actoin"/' "$work/config.json" >"$work/bad.json"
run_agent unlock --config "$work/bad.json" --cmdline /dev/null --dry-run --all
check "bad config: exit 2" exit_is 2
check "bad config: names the file, line and key" err_has "bad.json:[0-9]+:.*failure_actoin"
run_agent unlock --config "$work/missing.json" --cmdline /dev/null --dry-run --all
check "missing config: exit 2" exit_is 2
run_agent unlock --cmdline /dev/null --config "$work/config.json"
check "neither --all nor devices: exit 2" exit_is 2

# ---- deadline and failure action with the broker down ----
dead_url="https://127.0.0.1:9"
write_config "$work/dead.json" fail 3 "$dead_url"
run_agent unlock --config "$work/dead.json" --cmdline /dev/null --dry-run "$work/dev/vda"
check "broker down: dry run fails" exit_is 1
check "broker down: gives up at the deadline (<= 8 s)" [ "$elapsed" -le 8 ]
check "broker down: the cause is on stderr" err_has 'unreachable|deadline_exceeded'
run_agent unlock --config "$work/dead.json" --cmdline /dev/null --run-dir "$work/fail-run" \
  "$work/dev/vda"
check "broker down, failure_action fail: exit 1" exit_is 1
write_config "$work/dead.json" prompt 3 "$dead_url"
run_agent unlock --config "$work/dead.json" --cmdline /dev/null --run-dir "$work/run" \
  "$work/dev/vda"
check "broker down, failure_action prompt: exit 0" exit_is 0
check "broker down, failure_action prompt: says so" err_has "left to the passphrase prompt"
vda_uuid=$(cryptsetup luksUUID "$work/dev/vda")
check "failure_action prompt: the hand-off to the prompt is recorded" \
  test -f "$work/run/cc-fde/prompt/$vda_uuid"
check "failure_action prompt: only for the failed volume" \
  test "$(ls "$work/run/cc-fde/prompt")" = "$vda_uuid"

# ---- real activation ----
# Without device-mapper (this host) it must fail with its own code. With it, the volume is open
# under its own name (luks-UUID), what is written through it reads back after a new activation
# with the recovery passphrase, and no mapping or loop device is left. The VM test checks the same
# where device-mapper always exists: its provisioning VM runs `fde-agent unlock --json`, requires
# luks-UUID unlocked, writes the root through it and closes it (tests/e2e/guest/prov-init).
# loop_of FILE: the loop devices backing FILE.
loop_of() { losetup -j "$1" 2>/dev/null; }
# vdm: 20 MiB, so that its data segment is not empty. Removed again afterwards (the scans below
# count the volumes of the fake sysfs).
make_volume vdm 20 || echo "FAIL could not create the volume vdm"
vdm_uuid=$(cryptsetup luksUUID "$work/dev/vdm")
vdm_mapping=luks-$vdm_uuid
if grep -q device-mapper /proc/misc 2>/dev/null; then
  # The agent unlocks block devices (a mapping of a file reads from a loop device libcryptsetup
  # attached, which the agent's read-back refuses as another device): the image on a loop device.
  vdm_loop=$(losetup --find --show "$work/dev/vdm")
  run_agent unlock "${common[@]}" --run-dir "$work/run" --json "$vdm_loop"
  check "activation: unlocked, exit 0" eval 'exit_is 0 && json_is ".volumes[0].result" unlocked'
  check "activation: under the volume's own name" json_is '.volumes[0].mapping' "$vdm_mapping"
  check "activation: the mapping exists" test -b "/dev/mapper/$vdm_mapping"
  check "activation: with its unlock mark" \
    mark_is "$work/run/cc-fde/unlocks/fde-agent@$vdm_uuid@$vdm_mapping" \
    "$vdm_mapping $vdm_uuid fde-agent"
  head -c 65536 /dev/urandom >"$work/pattern"
  dd if="$work/pattern" of="/dev/mapper/$vdm_mapping" bs=64k count=1 conv=fsync status=none
  cryptsetup close "$vdm_mapping"
  cryptsetup open --key-file "$work/passphrase" "$vdm_loop" "$vdm_mapping"
  check "activation: what was written through it reads back" \
    cmp -n 65536 "$work/pattern" "/dev/mapper/$vdm_mapping"
  cryptsetup close "$vdm_mapping"
  check "activation: the mapping is closed again" test ! -e "/dev/mapper/$vdm_mapping"
  losetup -d "$vdm_loop"
  sleep 0.5
  check "activation: no loop device is left on the image" test -z "$(loop_of "$work/dev/vdm")"
else
  run_agent unlock "${common[@]}" --run-dir "$work/run" --json "$work/dev/vdm"
  check "activation without device-mapper: activation_failed, not ignored" \
    json_is '.volumes[0].error_code' activation_failed
  check "activation without device-mapper: exit 1" exit_is 1
fi
rm -rf "$work/dev/vdm" "$work/sys/class/block/vdm" "$work/dev/disk/by-uuid/$vdm_uuid"

# ---- the unlock record is bound to the volume key (computed here with openssl alone) ----
# binding = HMAC-SHA256(HKDF-SHA256(volume key, no salt, "cc-fde unlock record v1"),
# "cc-fde:volume:" + UUID). The volume key of this throwaway test image goes through argv.
uuid6=$(cryptsetup luksUUID "$work/dev/vd6")
cryptsetup luksDump --batch-mode --dump-volume-key --volume-key-file "$work/vd6.vk" \
  --key-file "$work/passphrase" "$work/dev/vd6" >/dev/null 2>&1
binding_key=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 \
  -kdfopt hexkey:"$(xxd -p -c 256 "$work/vd6.vk")" -kdfopt info:"cc-fde unlock record v1" HKDF |
  tr -d ':\n' | tr 'A-F' 'a-f')
expected_binding=$(printf 'cc-fde:volume:%s' "$uuid6" |
  openssl dgst -sha256 -mac HMAC -macopt hexkey:"$binding_key" -r | cut -d' ' -f1)
recorded_binding=$(grep -ao 'cc-fde unlock {[^}]*}' "$log" 2>/dev/null | head -n 1 |
  sed 's/^cc-fde unlock //' | jq -r .binding 2>/dev/null)
binding_matches() { [ -n "$expected_binding" ] && [ "$recorded_binding" = "$expected_binding" ]; }
check "measure: the unlock record carries the binding to the volume key" binding_matches

# ---- the end of the initramfs unlock phase (the fake TDX sysfs of the measure checks) ----
# The AAEL event data of the constant text: "AAEL" tag (u32le), text size 33 (u32le), the text.
phase_event() { printf 'LEAA\041\000\000\000cc-fde phase-end initramfs-unlock'; }
log_bytes() { if [ -e "$log" ]; then stat -c %s "$log"; else echo 0; fi; }
log_size_is() { [ "$(log_bytes)" -eq "$1" ]; }
rtmr3_is_zero() { cmp -s "$measurements/rtmr3:sha384" <(head -c 48 /dev/zero); }
log_size=$(log_bytes)
run_agent phase-end --config "$work/measure.json" --run-dir "$work/phase-run"
check "phase-end: exit 0" exit_is 0
check "phase-end: one line naming the event" \
  err_has "^fde-agent: initramfs unlock phase ended: RTMR3 extended with 'cc-fde phase-end initramfs-unlock'$"
check "phase-end: the marker is in the run directory" test -f "$work/phase-run/cc-fde/phase-ended"
check "phase-end: one record appended (66-byte header + event data)" \
  log_size_is $((log_size + 66 + 41))
check "phase-end: the record ends with the AAEL data of the constant text" \
  cmp -s <(tail -c 41 "$log") <(phase_event)
check "phase-end: RTMR3 extended with SHA-384 of that event data" \
  [ "$(phase_event | openssl dgst -sha384 -binary | xxd -p -c 48)" = \
    "$(xxd -p -c 48 "$measurements/rtmr3:sha384")" ]

head -c 48 /dev/zero >"$measurements/rtmr3:sha384"
log_size=$(log_bytes)
run_agent phase-end --config "$work/measure.json" --run-dir "$work/phase-run"
check "phase-end again: exit 0" exit_is 0
check "phase-end again: already recorded" \
  err_has "^fde-agent: initramfs unlock phase ended: already recorded$"
check "phase-end again: nothing appended" log_size_is "$log_size"
check "phase-end again: RTMR3 not written" rtmr3_is_zero

mkdir -p "$work/no-tdx"
jq --arg root "$work/no-tdx" '.evidence.platform_root = $root' "$work/config.json" \
  >"$work/no-tdx.json"
run_agent phase-end --config "$work/no-tdx.json" --run-dir "$work/no-tdx-run"
check "phase-end without RTMR3: exit 0" exit_is 0
check "phase-end without RTMR3: says why, naming the register file and the kernel requirement" \
  err_has "^fde-agent: initramfs unlock phase ended: cannot be recorded on this platform \(.*/no-tdx/sys/devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384 does not exist: extending RTMR3 needs Linux 6.16 or later"
check "phase-end without RTMR3: the marker is still written" \
  test -f "$work/no-tdx-run/cc-fde/phase-ended"

rm -f "$measurements/rtmr3:sha384"
mkdir "$measurements/rtmr3:sha384" # exists, but the write fails like a kernel refusal
log_size=$(log_bytes)
run_agent phase-end --config "$work/measure.json" --run-dir "$work/failed-run"
check "phase-end, extend refused: exit 1 (the boot must end)" exit_is 1
check "phase-end, extend refused: the cause is on stderr" \
  err_has "^fde-agent: initramfs unlock phase could not be ended: RTMR3 was not extended"
check "phase-end, extend refused: no marker (a retry may record it)" \
  test ! -e "$work/failed-run/cc-fde/phase-ended"
check "phase-end, extend refused: the log is truncated back" log_size_is "$log_size"
rmdir "$measurements/rtmr3:sha384"
head -c 48 /dev/zero >"$measurements/rtmr3:sha384"
run_agent phase-end --config "$work/measure.json" --run-dir "$work/failed-run"
check "phase-end, retried after a refused extend: exit 0" exit_is 0
check "phase-end, retried after a refused extend: recorded" err_has "RTMR3 extended with"
check "phase-end, retried after a refused extend: the marker is written" \
  test -f "$work/failed-run/cc-fde/phase-ended"

# A configuration that does not load still ends the phase, at the real platform root. Only where
# that cannot touch a real register: this host must not have one.
if [ -e /sys/devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384 ]; then
  echo "note: this host has a TDX RTMR3 interface; the bad-configuration phase-end check is skipped"
else
  run_agent phase-end --config "$work/bad.json" --run-dir "$work/bad-run"
  check "phase-end, bad configuration: exit 2" exit_is 2
  check "phase-end, bad configuration: names the file, then ends the phase at the default root" \
    eval 'err_has "bad.json:[0-9]+:.*failure_actoin.*ending the phase at the default platform root" && err_has "cannot be recorded on this platform \(/sys/devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384 does not exist"'
  check "phase-end, bad configuration: the marker is written" \
    test -f "$work/bad-run/cc-fde/phase-ended"
fi

finish "fde-agent CLI"

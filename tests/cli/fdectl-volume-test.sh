#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of `fdectl enroll/list/test/rotate/unbind` on LUKS2 image files made by the
# cryptsetup CLI, against a real devkbs on 127.0.0.1 (sample evidence): every key the broker holds
# opens its keyslot per `cryptsetup open --test-passphrase`, old keys stop working after rotate and
# unbind, the last credential is never removed, bad input fails with its own error, and no byte of
# the data area changes. Usage: fdectl-volume-test.sh FDECTL DEVKBS (exit 77: tools missing).
set -uo pipefail

fdectl=${1:?fdectl binary}
devkbs=${2:?devkbs binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/devkbs.sh
source "$here/lib/devkbs.sh"

for tool in cryptsetup jq curl mkfs.ext4 sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done

# shellcheck source=tests/cli/lib/harness.sh
source "$here/lib/harness.sh"
# run ARGS...: runs fdectl (output in $work/out and $work/err, exit status in $status).
run() {
  "$fdectl" "$@" >"$work/out" 2>"$work/err"
  status=$?
}
# Exactly one "fdectl: <code>:" error line, naming `code`.
error_is() {
  [ "$(grep -c '^fdectl: [a-z_0-9]*: ' "$work/err")" -eq 1 ] && grep -q "^fdectl: $1: " "$work/err"
}

# new_image NAME [SIZE]: a LUKS2 image (passphrase file $work/pw in keyslot 0, minimal PBKDF2)
# whose data area holds random bytes.
new_image() {
  local image="$work/$1.img"
  truncate -s "${2:-32M}" "$image"
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/pw" "$image" || return 1
  local offset
  offset=$(data_offset "$image")
  dd if=/dev/urandom of="$image" bs=1M seek=$((offset >> 20)) conv=notrunc status=none \
    count=$((($(stat -c %s "$image") - offset) >> 20))
  echo "$image"
}
data_offset() { cryptsetup luksDump "$1" | awk '$1 == "offset:" { print $2; exit }'; }
data_sum() { tail -c +$(($(data_offset "$1") + 1)) "$1" | sha256sum | cut -d' ' -f1; }
# opens KEYFILE IMAGE [KEYSLOT]: the cryptsetup CLI accepts the key (no activation).
opens() {
  local slot=()
  [ $# -ge 3 ] && slot=(--key-slot "$3")
  cryptsetup open --test-passphrase "${slot[@]}" --key-file "$1" "$2" 2>/dev/null
}
# fetch RESOURCE FILE: the broker's current key, through `fdectl kbs get` with the profile.
fetch() { "$fdectl" kbs get --config "$config" --resource "$1" --out "$2" >/dev/null 2>&1; }
list_json() { "$fdectl" list --json "$1" 2>/dev/null; }
jq_true() {  # jq_true IMAGE FILTER: the filter over `fdectl list --json IMAGE` yields true
  [ "$(list_json "$1" | jq -r "$2")" = true ]
}
# set_header_uuid IMAGE BYTES: writes BYTES (a printf format: "\033", "\377"...) into the UUID
# field of both LUKS2 binary headers (offset 168, 40 bytes, NUL padded) and recomputes each
# header's SHA-256 checksum (offset 448, over the header area with the checksum zeroed), as a host
# editing the disk would; libcryptsetup then loads the header with that UUID.
set_header_uuid() {
  local image=$1 bytes=$2 size offset sum
  size=$(od -An -tu1 -j8 -N8 "$image" | awk '{ v = 0; for (i = 1; i <= NF; i++) v = v * 256 + $i; print v }')
  for offset in 0 "$size"; do
    # shellcheck disable=SC2059  # the bytes are given as a printf format on purpose
    { printf "$bytes"; head -c 40 /dev/zero; } | head -c 40 |
      dd of="$image" bs=1 seek=$((offset + 168)) conv=notrunc status=none
    head -c 64 /dev/zero | dd of="$image" bs=1 seek=$((offset + 448)) conv=notrunc status=none
    sum=$(dd if="$image" bs="$size" count=1 skip="$offset" iflag=skip_bytes status=none |
      sha256sum | cut -d' ' -f1)
    # shellcheck disable=SC2059  # \xNN escapes built from the checksum's hex
    printf "$(printf '%s' "$sum" | sed 's/../\\x&/g')" |
      dd of="$image" bs=1 seek=$((offset + 448)) conv=notrunc status=none
  done
}
# no_raw_controls: neither output holds an escape or other control character (tab and newline
# aside), nor a byte outside ASCII.
no_raw_controls() { ! LC_ALL=C grep -q '[^[:print:][:space:]]' "$work/out" "$work/err"; }

config="$work/config.json"
devkbs_start_sample "$devkbs" "$work/kbs" "$config"
printf 'correct horse battery staple\n' >"$work/pw"
backups="$work/backups"
common=(--config "$config" --backup-dir "$backups" --timeout 20)
read_only=(--config "$config" --timeout 20)  # test changes nothing: no --backup-dir

# ---- enroll (generated key), list, test, rotate, unbind ----
image=$(new_image a)
sum=$(data_sum "$image")
run enroll "$image" "${common[@]}" --resource default/fde/a --unlock-with "$work/pw"
check "enroll --key-source generate: exit 0" exit_is 0
check "enroll reports token and keyslot" output_has 'token 0, keyslot 1'
check "enroll warns about sample evidence" output_has 'WARNING.*sample'
fetch default/fde/a "$work/key-a"
check "the uploaded key is 32 bytes" test "$(stat -c %s "$work/key-a" 2>/dev/null)" = 32
key_hex=$(od -An -tx1 -v "$work/key-a" | tr -d ' \n')
check "the key is never printed" bash -c "! grep -qi '$key_hex' '$work/out' '$work/err'"
check "cryptsetup opens keyslot 1 with the fetched key" opens "$work/key-a" "$image" 1
check "the passphrase still opens keyslot 0" opens "$work/pw" "$image" 0
check "a header backup was written (mode 0600)" \
  bash -c "ls '$backups'/*-enroll.img >/dev/null && [ \"\$(stat -c %a '$backups'/*-enroll.img)\" = 600 ]"
check "enroll leaves the data area unchanged" test "$(data_sum "$image")" = "$sum"

run list "$image"
check "list: exit 0" exit_is 0
check "list shows the cc-fde token" output_has 'token 0: cc-fde, keyslots 1, profile default, resource default/fde/a \(complete\)'
check "list --json: keyslots [0,1]" jq_true "$image" '.keyslots == [0, 1]'
check "list --json: the token" jq_true "$image" \
  '.tokens | length == 1 and .[0].type == "cc-fde" and .[0].valid and .[0].keyslots == [1] and .[0].state == "complete" and .[0].resource == "default/fde/a" and .[0].pending_keyslot == null'

run enroll "$image" "${common[@]}" --resource default/fde/a --unlock-with "$work/pw"
check "enroll again: exit 0, already enrolled" output_has 'already enrolled'
fetch default/fde/a "$work/key-a2"
check "enroll again uploads nothing new" cmp -s "$work/key-a" "$work/key-a2"

run test "$image" "${read_only[@]}"
check "test: exit 0" exit_is 0
check "test names the keyslot" output_has 'opens keyslot 1'

run rotate "$image" "${common[@]}"
check "rotate: exit 0" exit_is 0
check "rotate reports old and new keyslots" output_has 'keyslot 1 replaced by keyslot 2'
fetch default/fde/a "$work/key-a-new"
check "rotate uploaded a different key" bash -c "! cmp -s '$work/key-a' '$work/key-a-new'"
check "the old key no longer opens the volume" bash -c "! cryptsetup open --test-passphrase --key-file '$work/key-a' '$image' 2>/dev/null"
check "the new key opens keyslot 2" opens "$work/key-a-new" "$image" 2
check "list --json after rotate" jq_true "$image" '.keyslots == [0, 2] and .tokens[0].keyslots == [2]'
check "rotate leaves the data area unchanged" test "$(data_sum "$image")" = "$sum"
run test "$image" "${read_only[@]}"
check "test after rotate: exit 0" exit_is 0

run unbind "$image" "${common[@]}"
check "unbind: exit 0" exit_is 0
check "unbind removed keyslot 2" output_has 'removed keyslots 2'
check "list --json after unbind: no token, keyslot 0 only" jq_true "$image" '.tokens == [] and .keyslots == [0]'
check "the key no longer opens the volume" bash -c "! cryptsetup open --test-passphrase --key-file '$work/key-a-new' '$image' 2>/dev/null"
check "the passphrase still opens it" opens "$work/pw" "$image" 0
check "unbind leaves the data area unchanged" test "$(data_sum "$image")" = "$sum"
run test "$image" "${read_only[@]}"
check "test without a token: exit 2, no_token" error_is no_token

# ---- enroll with a broker key ----
image=$(new_image b)
head -c 32 /dev/urandom >"$work/key-b"
devkbs_admin POST /kbs/v0/resource/default/fde/b --data-binary @"$work/key-b" >/dev/null
run enroll "$image" "${common[@]}" --resource default/fde/b --key-source broker --unlock-with "$work/pw"
check "enroll --key-source broker: exit 0" exit_is 0
check "the broker's existing key opens keyslot 1" opens "$work/key-b" "$image" 1
fetch default/fde/b "$work/key-b2"
check "the broker's resource is unchanged" cmp -s "$work/key-b" "$work/key-b2"

run enroll "$image" "${common[@]}" --resource default/fde/missing --key-source broker \
  --unlock-with "$work/pw"
check "a missing broker resource: exit 1, resource_not_found" exit_is 1
check "...named once" error_is resource_not_found
check "...and nothing changed" jq_true "$image" '.keyslots == [0, 1] and (.tokens | length) == 1'

# A broker key for a new keyslot must be at least 32 random-looking bytes (the keyslot's PBKDF2 is
# minimal): a refusal names the length and the estimate, never the key, and changes nothing.
image=$(new_image k)
head -c 16 /dev/urandom >"$work/short-key"
printf 'a%.0s' $(seq 64) >"$work/same-key"
printf 'hunter2!%.0s' 1 2 3 4 >"$work/phrase-key"
od -An -tx1 -v "$work/key-b" | tr -d ' \n' >"$work/hex-key"
# key_not_shown KEYFILE: neither output holds the key in hex, nor (for a printable key) as text.
key_not_shown() {
  local hex
  hex=$(od -An -tx1 -v "$1" | tr -d ' \n')
  ! grep -qiF -- "$hex" "$work/out" "$work/err" || return 1
  if LC_ALL=C grep -q '^[[:print:]]*$' "$1"; then
    ! grep -qF -- "$(cat "$1")" "$work/out" "$work/err"
  fi
}
declare -A weak_reason=(
  [short]='the key is 16 bytes; at least 32 are required'
  [same]='the key does not look random: 64 bytes with 1 distinct byte values give 0 bits'
  [phrase]='the key does not look random: 32 bytes with 8 distinct byte values give 96 bits'
)
for weak in short same phrase; do
  devkbs_admin POST "/kbs/v0/resource/default/fde/$weak" --data-binary @"$work/$weak-key" >/dev/null
  run enroll "$image" "${common[@]}" --resource "default/fde/$weak" --key-source broker \
    --unlock-with "$work/pw"
  check "a $weak broker key: exit 2, key_rejected" error_is key_rejected
  check "...naming the resource and why" \
    output_has "key_rejected: --key-source broker: default/fde/$weak: ${weak_reason[$weak]}"
  check "...never the key" key_not_shown "$work/$weak-key"
  check "...and nothing changed" jq_true "$image" '.keyslots == [0] and .tokens == []'
done
check "no header backup was written for the refusals" \
  bash -c "! ls '$backups' | grep -q \"^\$(cryptsetup luksUUID '$image')-\""
devkbs_admin POST /kbs/v0/resource/default/fde/hex --data-binary @"$work/hex-key" >/dev/null
run enroll "$image" "${common[@]}" --resource default/fde/hex --key-source broker --unlock-with "$work/pw"
check "a 64-character hex broker key is accepted" exit_is 0
check "...and opens keyslot 1" opens "$work/hex-key" "$image" 1

# ---- enroll --recovery-key: a typeable key in an argon2id keyslot, printed once ----
# recovery_key FILE: the recovery key line of fdectl's output (4 spaces, 8 groups of 8 modhex).
recovery_key() { sed -n 's/^    \([cbdefghijklnrtuv]\{8\}\(-[cbdefghijklnrtuv]\{8\}\)\{7\}\)$/\1/p' "$1"; }
# key_nowhere_else KEY: the key, and each of its groups, is on no line but the one on stdout.
key_nowhere_else() {
  local group
  [ "$(grep -cF -- "$1" "$work/out")" -eq 1 ] && ! grep -qF -- "$1" "$work/err" || return 1
  for group in ${1//-/ }; do
    ! grep -qF -- "$group" "$work/err" || return 1
    [ "$(grep -cF -- "$group" "$work/out")" -eq 1 ] || return 1
  done
}
keyslot_pbkdf() {  # keyslot_pbkdf IMAGE SLOT: the PBKDF luksDump names for the keyslot
  cryptsetup luksDump "$1" | awk -v slot="  $2: luks2" '$0 == slot { found = 1 } found && $1 == "PBKDF:" { print $2; exit }'
}
image=$(new_image rk)
sum=$(data_sum "$image")
run enroll "$image" "${common[@]}" --resource default/fde/rk --unlock-with "$work/pw" --recovery-key
check "enroll --recovery-key: exit 0" exit_is 0
check "enroll --recovery-key binds as usual" output_has 'token 0, keyslot 1'
check "enroll --recovery-key names the recovery keyslot" \
  output_has '^recovery key added to .*: keyslot 2 \(token 1, systemd-recovery\), created 20[0-9-]+T[0-9:]+Z$'
check "enroll --recovery-key says to store it offline" output_has 'Store this recovery key offline'
rk1=$(recovery_key "$work/out")
check "the recovery key is 8 groups of 8 modhex letters (71 characters)" test "${#rk1}" -eq 71
check "the recovery key is printed once, on stdout only" key_nowhere_else "$rk1"
printf '%s' "$rk1" >"$work/rk1"
check "cryptsetup --key-file - with the printed key opens keyslot 2" \
  bash -c "printf '%s' '$rk1' | cryptsetup open --test-passphrase --key-slot 2 --key-file - '$image'"
check "typed at the passphrase prompt (with its newline) it opens keyslot 2 too" \
  bash -c "printf '%s\n' '$rk1' | cryptsetup open --test-passphrase --key-slot 2 '$image'"
check "the recovery keyslot uses argon2id" test "$(keyslot_pbkdf "$image" 2)" = argon2id
check "the cc-fde keyslot keeps the minimal PBKDF2" test "$(keyslot_pbkdf "$image" 1)" = pbkdf2
check "enroll --recovery-key leaves the data area unchanged" test "$(data_sum "$image")" = "$sum"
run list "$image"
check "list shows the recovery key" \
  output_has '^token 1: recovery key \(systemd-recovery\), keyslots 2 \(argon2id\), created 20'
check "list --json: the recovery token and its PBKDF" jq_true "$image" \
  '.tokens[1].type == "systemd-recovery" and .tokens[1].keyslots == [2] and .keyslot_pbkdf["2"] == "argon2id" and (.tokens[1].recovery_key.created | test("^20[0-9-]+T[0-9:]+Z$")) and .tokens[1].recovery_key.pending_keyslot == null'

run enroll "$image" "${common[@]}" --recovery-key
check "enroll --recovery-key alone on a bound volume: exit 0" exit_is 0
check "...adds only a recovery key (nothing enrolled)" bash -c "! grep -q '^enrolled' '$work/out'"
check "...in keyslot 3" output_has 'keyslot 3 \(token 2, systemd-recovery\)'
rk2=$(recovery_key "$work/out")
check "...a different key" test -n "$rk2" -a "$rk2" != "$rk1"
check "...printed once, on stdout only" key_nowhere_else "$rk2"
printf '%s' "$rk2" >"$work/rk2"
check "the second recovery key opens keyslot 3" opens "$work/rk2" "$image" 3

run rotate "$image" "${common[@]}"
check "rotate with recovery keys: exit 0" exit_is 0
check "rotate replaced the cc-fde keyslot only" output_has 'keyslot 1 replaced by keyslot 4'
run test "$image" "${read_only[@]}"
check "test with recovery keys: exit 0" exit_is 0
run unbind "$image" "${common[@]}"
check "unbind with recovery keys: exit 0" exit_is 0
check "unbind removed the cc-fde keyslot only" output_has 'removed keyslots 4$'
check "after rotate and unbind the recovery keys still open their keyslots" \
  bash -c "cryptsetup open --test-passphrase --key-slot 2 --key-file '$work/rk1' '$image' && cryptsetup open --test-passphrase --key-slot 3 --key-file '$work/rk2' '$image'"
check "after unbind: the passphrase and both recovery tokens remain" jq_true "$image" \
  '.keyslots == [0, 2, 3] and ([.tokens[] | select(.type == "systemd-recovery") | .keyslots[0]] == [2, 3]) and ([.tokens[] | select(.type == "cc-fde")] == [])'

image=$(new_image rk-plain)
run enroll "$image" "${common[@]}" --recovery-key
check "--recovery-key on a volume without a cc-fde token nor --unlock-with: no_token" error_is no_token
check "...and nothing changed" jq_true "$image" '.keyslots == [0] and .tokens == []'
run enroll "$image" "${common[@]}" --recovery-key --unlock-with "$work/pw"
check "--recovery-key --unlock-with on a plain LUKS2 volume: exit 0" exit_is 0
rk3=$(recovery_key "$work/out")
printf '%s' "$rk3" >"$work/rk3"
check "...its key opens keyslot 1" opens "$work/rk3" "$image" 1
run enroll "$image" "${common[@]}" --recovery-key --remove-passphrase
check "--recovery-key alone refuses enroll-only options" error_is invalid_argument
run enroll "$image" "${common[@]}" --resource default/fde/x --unlock-with "$work/pw" --token 0
check "--token with --resource is refused" error_is invalid_argument
run enroll "$image" "${common[@]}" --unlock-with "$work/pw"
check "enroll without --resource nor --recovery-key is refused" error_is invalid_argument

# ---- --remove-passphrase, and unbind refusing the last credential ----
image=$(new_image c)
sum=$(data_sum "$image")
run enroll "$image" "${common[@]}" --resource default/fde/c --unlock-with "$work/pw" --remove-passphrase
check "enroll --remove-passphrase: exit 0" exit_is 0
check "it reports the removed keyslot" output_has 'removed passphrase keyslot 0'
fetch default/fde/c "$work/key-c"
check "the broker key opens keyslot 1" opens "$work/key-c" "$image" 1
check "the passphrase no longer opens the volume" bash -c "! cryptsetup open --test-passphrase --key-file '$work/pw' '$image' 2>/dev/null"
run unbind "$image" "${common[@]}"
check "unbind of the last credential: exit 2, last_credential" exit_is 2
check "...named once" error_is last_credential
check "...and nothing changed" jq_true "$image" '.keyslots == [1] and .tokens[0].state == "complete"'
check "the broker key still opens it" opens "$work/key-c" "$image" 1
check "the data area is unchanged" test "$(data_sum "$image")" = "$sum"

# ---- bad input: each with its own error, nothing modified ----
image=$(new_image d)
printf 'wrong\n' >"$work/wrong"
run enroll "$image" "${common[@]}" --resource default/fde/d --unlock-with "$work/wrong"
check "a wrong unlock secret: exit 2, key_rejected" error_is key_rejected
run enroll "$image" "${common[@]}" --resource default/fde/d --profile nope --unlock-with "$work/pw"
check "an unknown profile: exit 2, unknown_profile" error_is unknown_profile
check "...naming it" output_has "nope"
run enroll "$image" "${common[@]}" --resource default/fde/d
check "binding without --unlock-with: invalid_argument" error_is invalid_argument
check "nothing was enrolled by the refusals" jq_true "$image" '.keyslots == [0] and .tokens == []'
run enroll "$work/absent.img" "${common[@]}" --resource default/fde/d --unlock-with "$work/pw"
check "a missing device: exit 2, not_found" error_is not_found
truncate -s 16M "$work/plain.img"
run enroll "$work/plain.img" "${common[@]}" --resource default/fde/d --unlock-with "$work/pw"
check "a non-LUKS device: not_luks2" error_is not_luks2
truncate -s 16M "$work/luks1.img"
cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 --key-file "$work/pw" "$work/luks1.img"
run list "$work/luks1.img"
check "a LUKS1 device: not_luks2" error_is not_luks2
printf '{"version": 1, "profiles": {}}' >"$work/bad-config.json"
run enroll "$image" --config "$work/bad-config.json" --resource default/fde/d --unlock-with "$work/pw"
check "an invalid configuration: config_invalid" error_is config_invalid

# Resource references the broker makes the key for (a provisioner URI, init-data) cannot take an
# uploaded key, and init-data needs an init-data document; a profile that allows them, no change.
jq '.profiles.default.resources += ["kbs+provisioner:///default/*", "init-data"]' "$config" \
  >"$work/provisioner-config.json"
provisioner_common=(--config "$work/provisioner-config.json" --backup-dir "$work/backups" --timeout 20)
run enroll "$image" "${provisioner_common[@]}" --unlock-with "$work/pw" \
  --resource kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root
check "a generated key for a provisioner URI: invalid_argument" error_is invalid_argument
check "...naming the plugin" output_has "provisioner plugin, which makes its keys itself"
run enroll "$image" "${provisioner_common[@]}" --unlock-with "$work/pw" --resource init-data
check "a generated key for init-data: invalid_argument" error_is invalid_argument
run enroll "$image" "${provisioner_common[@]}" --unlock-with "$work/pw" --resource init-data \
  --key-source broker
check "init-data without an init-data document: invalid_argument" error_is invalid_argument
check "...naming the claim it would need" output_has "trustee.kbs.resource claim"
run kbs get --config "$work/provisioner-config.json" --resource init-data --timeout 20
check "kbs get init-data without an init-data document: invalid_argument" error_is invalid_argument
check "nothing was enrolled for them" jq_true "$image" '.keyslots == [0] and .tokens == []'

# A token naming a profile the configuration lacks, and a malformed token.
cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$work/pw" \
  --key-slot 3 "$image" "$work/wrong"
echo '{"type":"cc-fde","keyslots":["3"],"cc-fde-version":1,"profile":"elsewhere","resource":"default/fde/d"}' |
  cryptsetup token import "$image"
run test "$image" "${read_only[@]}"
check "a token naming an unknown profile: unknown_profile" error_is unknown_profile
cryptsetup token remove --token-id 0 "$image"
echo '{"type":"cc-fde","keyslots":["3"],"cc-fde-version":1,"profile":"default"}' |
  cryptsetup token import "$image"
run list "$image"
check "list shows a malformed token as INVALID" output_has 'token 0: cc-fde, INVALID: invalid_token'
check "list --json: its error" jq_true "$image" '.tokens[0].valid == false and .tokens[0].error.code == "invalid_token"'
run test "$image" "${read_only[@]}"
check "test of a malformed token: invalid_token" error_is invalid_token
run enroll "$image" "${common[@]}" --resource default/fde/d --unlock-with "$work/pw"
check "enroll next to a malformed token: invalid_token" error_is invalid_token
check "...nothing changed" jq_true "$image" '.keyslots == [0, 3] and (.tokens | length) == 1'

# The broker hands out a wrong key: the keyslot rejects it.
image=$(new_image e)
run enroll "$image" "${common[@]}" --resource default/fde/e --unlock-with "$work/pw"
check "enroll e: exit 0" exit_is 0
head -c 32 /dev/urandom >"$work/other-key"
devkbs_admin POST /kbs/v0/resource/default/fde/e --data-binary @"$work/other-key" >/dev/null
run test "$image" "${read_only[@]}"
check "a wrong broker key: exit 2, key_rejected" error_is key_rejected
run rotate "$image" "${common[@]}"
check "rotate with a wrong broker key: key_rejected" error_is key_rejected
check "...nothing changed" jq_true "$image" '.keyslots == [0, 1] and .tokens[0].keyslots == [1] and .tokens[0].state == "complete"'

# --admin-token-file overrides the profile's token: a wrong one is refused by the broker.
(umask 077 && printf 'not-the-admin-token' >"$work/bad-admin-token")
image=$(new_image h)
run enroll "$image" "${common[@]}" --resource default/fde/h --unlock-with "$work/pw" \
  --admin-token-file "$work/bad-admin-token"
check "a refused admin token: exit 1, policy_denied" exit_is 1
check "...named once" error_is policy_denied
check "...and nothing changed" jq_true "$image" '.keyslots == [0] and .tokens == []'

# ---- --format ----
truncate -s 32M "$work/fresh.img"
run enroll "$work/fresh.img" "${common[@]}" --resource default/fde/f --format
check "--format without --yes: invalid_argument" error_is invalid_argument
run enroll "$work/fresh.img" "${common[@]}" --resource default/fde/f --format --yes
check "--format --yes: exit 0" exit_is 0
fetch default/fde/f "$work/key-f"
check "the formatted volume opens with the broker key" opens "$work/key-f" "$work/fresh.img"
check "it has the token" jq_true "$work/fresh.img" '.tokens[0].resource == "default/fde/f" and .tokens[0].state == "complete"'
run enroll "$work/fresh.img" "${common[@]}" --resource default/fde/f --format --yes
check "--format over a LUKS header without --force: refused" error_is invalid_argument
check "...saying so" output_has 'force'
check "...and the volume still opens" opens "$work/key-f" "$work/fresh.img"

# ---- --integrity (authenticated encryption) ----
truncate -s 32M "$work/integ.img"
zeros_sum=$(sha256sum <"$work/integ.img" | cut -d' ' -f1)
run enroll "$work/integ.img" "${common[@]}" --resource default/fde/i --format --yes \
  --integrity hmac-sha512
check "--integrity with an unknown value: invalid_argument" error_is invalid_argument
check "...naming the value and the accepted ones" \
  err_has '--integrity: integrity "hmac-sha512" is not one of none, hmac-sha256 .*aes-gcm-random'
run enroll "$work/integ.img" "${common[@]}" --resource default/fde/i --encrypt \
  --integrity hmac-sha256
check "--integrity with --encrypt: invalid_argument" error_is invalid_argument
check "...saying why" err_has \
  '--integrity hmac-sha256 cannot be combined with --encrypt: libcryptsetup cannot encrypt in place with integrity'
image=$(new_image integ-bind)
run enroll "$image" "${common[@]}" --resource default/fde/i --unlock-with "$work/pw" \
  --integrity aes-gcm-random
check "--integrity without --format: invalid_argument" error_is invalid_argument
check "...saying it applies to --format only" err_has '--integrity aes-gcm-random applies to --format only'
check "...and the volume is unchanged" jq_true "$image" '.keyslots == [0] and .tokens == []'
if grep -q device-mapper /proc/misc; then
  echo "skip the no-device-mapper checks of --integrity: this kernel has device-mapper (the VM test dracut-integrity formats with integrity)"
else
  run enroll "$work/integ.img" "${common[@]}" --resource default/fde/i --format --yes \
    --integrity hmac-sha256
  check "--format --integrity hmac-sha256 without device-mapper: exit 2" exit_is 2
  check "...unsupported, named once" error_is unsupported
  check "...saying what it needs and that nothing changed" err_has \
    'integ.img: formatting with integrity hmac\(sha256\) needs device-mapper \(dm-integrity, dm-crypt\) to initialise the integrity tags, and this kernel has no device-mapper.*\(nothing was changed\)'
  check "...and the device is unchanged" test "$(sha256sum <"$work/integ.img" | cut -d' ' -f1)" = "$zeros_sum"
  check "...and no key was uploaded" bash -c "! $(printf '%q ' "$fdectl") kbs get --config '$config' --resource default/fde/i --out '$work/key-i' >/dev/null 2>&1"
  backups_before=$(find "$backups" -name '*-format.img' | wc -l)
  run enroll "$work/fresh.img" "${common[@]}" --resource default/fde/f2 --format --yes --force \
    --integrity aes-gcm-random
  check "--format --force --integrity aes-gcm-random over a volume: unsupported" error_is unsupported
  check "...the old volume still opens with its broker key" opens "$work/key-f" "$work/fresh.img"
  check "...and no header backup was needed" \
    test "$(find "$backups" -name '*-format.img' | wc -l)" = "$backups_before"
fi

# ---- --encrypt ----
truncate -s 64M "$work/fs.img"
mkfs.ext4 -q -F "$work/fs.img" 30M
run enroll "$work/fs.img" "${common[@]}" --resource default/fde/g --encrypt
check "--encrypt: exit 0" exit_is 0
fetch default/fde/g "$work/key-g"
check "the encrypted volume opens with the broker key" opens "$work/key-g" "$work/fs.img"
check "encryption finished, token written" jq_true "$work/fs.img" \
  '.reencryption_in_progress == false and .tokens[0].resource == "default/fde/g"'
run enroll "$work/fs.img" "${common[@]}" --resource default/fde/g --encrypt
check "--encrypt again: already enrolled" output_has 'already enrolled'

# ---- reencrypt: a new volume key ----
# volume_key KEYFILE IMAGE: the volume key (hex) that KEYFILE unwraps.
volume_key() {
  cryptsetup luksDump --dump-volume-key -q --key-file "$1" "$2" 2>/dev/null |
    sed -n '/MK dump:/,$p' | sed 's/MK dump://' | tr -d ' \t\n'
}
image=$(new_image r 48M)
run enroll "$image" "${common[@]}" --resource default/fde/r --unlock-with "$work/pw"
check "reencrypt setup: enroll" exit_is 0
fetch default/fde/r "$work/key-r"
old_vk=$(volume_key "$work/key-r" "$image")
sum=$(data_sum "$image")
plain=$("$here/lib/luks-plaintext-sum" "$image" "$work/key-r")
run reencrypt "$image" "${common[@]}"
check "reencrypt with a passphrase keyslot, unconfirmed: invalid_argument" error_is invalid_argument
check "...naming keyslot 0 and the flag" \
  err_has 'keyslots 0 are not token 0.s: .*--drop-other-keyslots.*nothing changed'
check "...and nothing changed" test "$(data_sum "$image")" = "$sum"
check "...the passphrase still opens it" opens "$work/pw" "$image" 0
run reencrypt "$image" "${common[@]}" --drop-other-keyslots --recovery-passphrase "$work/missing"
check "reencrypt with a missing recovery passphrase file: exit 2" exit_is 2
check "...naming the option" err_has 'recovery-passphrase'
check "...and nothing changed" test "$(data_sum "$image")" = "$sum"
printf 'a new recovery passphrase' >"$work/recovery"
run reencrypt "$image" "${common[@]}" --drop-other-keyslots --recovery-passphrase "$work/recovery"
check "reencrypt --drop-other-keyslots --recovery-passphrase: exit 0" exit_is 0
check "...reports the new keyslot and the destroyed ones" \
  output_has 'with a new volume key: token 0, keyslot 2; destroyed the old key.s keyslots 0, 1'
check "...and the recovery keyslot" output_has '^recovery passphrase: keyslot 0$'
check "...after a header backup" bash -c "ls '$backups'/*-reencrypt.img >/dev/null"
new_vk=$(volume_key "$work/key-r" "$image")
check "the volume key changed (both ${#old_vk} hex digits)" \
  bash -c "[ ${#old_vk} = 128 ] && [ ${#new_vk} = 128 ] && [ '$old_vk' != '$new_vk' ]"
check "the volume key is never printed" \
  bash -c "! grep -qi -e '$old_vk' -e '$new_vk' '$work/out' '$work/err'"
check "every sector was rewritten" bash -c "[ '$(data_sum "$image")' != '$sum' ]"
check "...and decrypts under the new key to the same plaintext" \
  test "$("$here/lib/luks-plaintext-sum" "$image" "$work/key-r")" = "$plain"
check "the old passphrase no longer opens the volume" bash -c "! cryptsetup open --test-passphrase --key-file '$work/pw' '$image' 2>/dev/null"
check "the recovery passphrase opens keyslot 0" opens "$work/recovery" "$image" 0
check "the broker key (unchanged) opens keyslot 2" opens "$work/key-r" "$image" 2
check "list --json: one complete token on keyslot 2" jq_true "$image" \
  '.keyslots == [0, 2] and .reencryption_in_progress == false and .tokens[0].state == "complete" and .tokens[0].keyslots == [2]'
run test "$image" "${read_only[@]}"
check "test after reencrypt: exit 0" exit_is 0
old_header=$(ls "$backups"/*-reencrypt.img)
check "the old header backup still holds the old key, which no longer decrypts the data" \
  test "$(volume_key "$work/pw" "$old_header")" = "$old_vk"
run reencrypt "$work/fs.img" "${common[@]}"
check "reencrypt of a volume with only the token's keyslot needs no flag: exit 0" exit_is 0
check "...and the broker key still opens it" opens "$work/key-g" "$work/fs.img"
# A reencryption another tool started (or the host wrote into the header): refused, not resumed.
cryptsetup reencrypt -q --init-only --force-offline-reencrypt --pbkdf pbkdf2 \
  --pbkdf-force-iterations 1000 --key-file "$work/key-r" --key-slot 2 "$image" >/dev/null 2>&1
check "cryptsetup reencrypt --init-only: the header records a reencryption" \
  jq_true "$image" '.reencryption_in_progress == true'
run reencrypt "$image" "${common[@]}" --drop-other-keyslots
check "reencrypt of a reencryption fdectl did not start: unfinished_operation" \
  error_is unfinished_operation
check "...naming cryptsetup's resume" err_has 'did not start.*cryptsetup reencrypt --resume-only'

# ---- a header UUID that is not a UUID (the host edited the header) ----
# uuid_json_is TEXT: $work/out is JSON whose "uuid" is TEXT.
uuid_json_is() { jq -e --arg want "$1" '.uuid == $want' "$work/out" >/dev/null; }
image=$(new_image u)
set_header_uuid "$image" '../../x\033[31m\377'
check "cryptsetup loads the edited header" bash -c "cryptsetup luksDump '$image' >/dev/null"
run list "$image"
check "list of a crafted UUID: exit 0" exit_is 0
check "...shows it escaped" output_has 'UUID \.\./\.\./x\\x1b\[31m\\xff,'
check "...and nothing raw" no_raw_controls
run list --json "$image"
check "list --json of a crafted UUID: exit 0" exit_is 0
check "...valid JSON, the UUID escaped" uuid_json_is '../../x\x1b[31m\xff'
run enroll "$image" "${common[@]}" --resource default/fde/u --unlock-with "$work/pw"
check "enroll on a crafted UUID: exit 2, malformed" error_is malformed
check "...naming the UUID, escaped" output_has 'UUID "\.\./\.\./x\\x1b\[31m\\xff" is not a UUID'
check "...and nothing raw" no_raw_controls
check "...no header backup, in or outside the backup directory" \
  bash -c "[ -z \"\$(find '$work/..' -maxdepth 2 -name 'x*-enroll*.img' 2>/dev/null)\" ]"
check "...and nothing changed" jq_true "$image" '.keyslots == [0] and .tokens == []'
run kbs get --config "$config" --resource default/fde/u
check "...nothing was uploaded to the broker" error_is resource_not_found
set_header_uuid "$image" 'x\nfdectl: ok: forged'
run enroll "$image" "${common[@]}" --resource default/fde/u --unlock-with "$work/pw"
check "a UUID with a newline: exit 2, malformed" error_is malformed
check "...forging no output line" bash -c "! grep -q '^fdectl: ok' '$work/out' '$work/err'"
run list "$image"
check "list shows the newline escaped" output_has 'UUID x\\x0afdectl: ok: forged,'

# ---- process protection: not dumpable, memory locked ----
# fdectl is held after its start-up protection, waiting for a broker that accepts the connection
# and never answers (a listening socket that is never accepted: the kernel completes the handshake),
# while /proc shows its state. The files under /proc/<pid> of a non-dumpable process belong to root whatever its
# user, and other processes of that user cannot read its environment or memory, so fdectl runs as
# another user (nobody, keeping CAP_IPC_LOCK, when this suite runs as root); `sleep` as the same
# user is the control that shows the difference. Memory can be locked
# with CAP_IPC_LOCK or an unlimited memlock limit; without either fdectl must say it is not.
hold="$work/hold"
mkdir -m 0755 "$hold"
chmod 0711 "$work"
cp "$DEVKBS_CA" "$hold/ca.pem"
chmod 0644 "$hold/ca.pem"
python3 -c 'import socket, sys, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
time.sleep(300)' >"$hold/port" &
tarpit=$!
for _ in $(seq 100); do
  [ -s "$hold/port" ] && break
  sleep 0.1
done
tarpit_port=$(cat "$hold/port")
as_user=()
user_id=$(id -u)
if [ "$user_id" = 0 ]; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+ipc_lock
    --ambient-caps=+ipc_lock --)
  user_id=65534
  if ! "${as_user[@]}" test -x "$fdectl"; then
    echo "note: nobody cannot run $fdectl: observing as root (dumpability not observable)"
    as_user=()
    user_id=0
  fi
fi
# proc_owner PID: the owner of /proc/PID/status.
proc_owner() { stat -c %u "/proc/$1/status"; }
# peek PID: the same user reads PID's environment (what ptrace access allows).
peek() { "${as_user[@]}" cat "/proc/$1/environ" >/dev/null 2>&1; }
no_peek() { ! peek "$1"; }
# locked_kib PID: VmLck of PID in KiB.
locked_kib() { awk '$1 == "VmLck:" { print $2 }' "/proc/$1/status"; }
# can_lock PID: PID has CAP_IPC_LOCK (bit 14) or an unlimited memlock limit.
# A sanitizer build cannot lock its memory: ASan intercepts mlockall and ignores it (its shadow
# mappings could not be locked), so neither the lock nor the warning can be observed there.
# ldd's output is captured first: `ldd | grep -q` fails under pipefail when grep stops early.
sanitized=no
linked=$(ldd "$fdectl")
grep -qE 'lib(asan|ubsan)\.so' <<<"$linked" && sanitized=yes
can_lock() {
  local effective
  [ "$sanitized" = no ] || return 1
  effective=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$1/status")
  (((0x$effective >> 14) & 1)) || grep -qE '^Max locked memory +unlimited' "/proc/$1/limits"
}
"${as_user[@]}" sleep 30 &
control=$!
"${as_user[@]}" "$fdectl" kbs get --url "https://127.0.0.1:$tarpit_port" --ca "$hold/ca.pem" \
  --tee sample --platform-root "$hold/no-tee" --resource default/fde/hold --timeout 120 \
  >"$work/hold.out" 2>"$work/hold.err" &
held=$!
# Wait until both run their programs, and fdectl shows what it should once protected.
for _ in $(seq 100); do
  if [ "$(cat "/proc/$control/comm" 2>/dev/null)" = sleep ] &&
    [ "$(cat "/proc/$held/comm" 2>/dev/null)" = fdectl ] &&
    { [ "$user_id" = 0 ] || [ "$(proc_owner "$held")" != "$user_id" ]; } &&
    { ! can_lock "$held" || [ "$(locked_kib "$held")" -gt 0 ]; }; then
    break
  fi
  sleep 0.1
done
check "the held fdectl runs as uid $user_id" grep -qE "^Uid:\s+$user_id\s" "/proc/$held/status"
check "the control runs as uid $user_id, its /proc files are its own" \
  test "$(proc_owner "$control")" = "$user_id"
if [ "$user_id" != 0 ]; then
  check "...and the same user can read its environment" peek "$control"
  check "fdectl is not dumpable: /proc/$held/status belongs to root" \
    test "$(proc_owner "$held")" != "$user_id"
  check "...and the same user cannot read its environment" no_peek "$held"
fi
locking=no
if can_lock "$held"; then
  locking=yes
  check "fdectl's memory is locked (VmLck $(locked_kib "$held") KiB)" test "$(locked_kib "$held")" -gt 0
fi
kill "$control"
wait "$control" 2>/dev/null
check "the held fdectl is still waiting for the broker" kill -0 "$held"
kill "$held"
wait "$held"
status=$?
kill "$tarpit"
wait "$tarpit" 2>/dev/null
cp "$work/hold.out" "$work/out"
cp "$work/hold.err" "$work/err"
check "SIGTERM ends the held fdectl (exit status $status)" test "$status" -eq 143
if [ "$locking" = yes ]; then
  check "...without a memory warning" bash -c "! grep -q 'WARNING: memory' '$work/err'"
elif [ "$sanitized" = no ]; then
  check "...after warning that memory is not locked" err_has '^fdectl: WARNING: memory is not locked'
else
  echo "skip the memory-lock checks (a sanitizer build: ASan ignores mlockall)"
fi
chmod 0700 "$work"

# ---- fdectl kbs get with a profile; an unreachable broker ----
run kbs get --config "$config" --resource default/fde/b --url "$DEVKBS_URL"
check "kbs get: --url with --config is refused" error_is invalid_argument
devkbs_stop
start=$(date +%s)
run test "$work/fresh.img" --config "$config" --timeout 3
elapsed=$(($(date +%s) - start))
check "broker down: exit 2" exit_is 2
check "broker down: gives up at the 3 s deadline (took ${elapsed}s)" test "$elapsed" -le 6
check "broker down: deadline_exceeded or unreachable" output_has 'deadline_exceeded|unreachable'

finish "fdectl volume CLI"

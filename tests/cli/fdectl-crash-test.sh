#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash injection: fdectl killed with SIGKILL at every fault point of enroll, rotate, unbind,
# reencrypt and `enroll --recovery-key` ("recovery.*") (the names come from `fdectl debug
# fault-points`, so the list is the real one). After each kill the volume must open with the old
# or the new credential, the data area must be unchanged, and running the same command again must
# complete (exit 0) and leave a consistent token (for "recovery.*": one recovery token, whose
# printed key opens its keyslot, and no keyslot whose key was never shown). The `encrypt.*` points
# kill `enroll --encrypt` (in-place encryption of an ext4 image): the re-run must resume and finish
# the encryption with the broker's key. The `reencrypt.*` points kill a volume-key change (with
# --drop-other-keyslots, and a recovery passphrase for the point that needs one): the re-run must
# finish it, and the plaintext under the new volume key must be the plaintext before.
# Usage: fdectl-crash-test.sh FDECTL DEVKBS [OPERATION...]: only the points of these operations
# (enroll, rotate, unbind, encrypt, reencrypt, recovery) when given, so that ctest can run the
# suite in parallel shards; an operation with no fault point fails the run. Exit 77 (skipped) when
# fdectl was built without -DCCFDE_FAULT_INJECTION=ON or cryptsetup/jq are missing.
set -uo pipefail

fdectl=${1:?fdectl binary}
devkbs=${2:?devkbs binary}
operations=("${@:3}")
[ "${#operations[@]}" -gt 0 ] || operations=(enroll rotate unbind encrypt reencrypt recovery)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/devkbs.sh
source "$here/lib/devkbs.sh"

for tool in cryptsetup jq curl sha256sum mkfs.ext4; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done
if ! points=$("$fdectl" debug fault-points 2>/dev/null) || [ -z "$points" ]; then
  echo "SKIP: fdectl was built without fault injection (-DCCFDE_FAULT_INJECTION=ON)"
  exit 77
fi
all_points=$points
points=()
for operation in "${operations[@]}"; do
  case $operation in
    enroll | rotate | unbind | encrypt | reencrypt | recovery) ;;
    *) echo "FAIL: unknown operation $operation"; exit 1 ;;
  esac
  if ! grep -qE "^$operation\\." <<<"$all_points"; then
    echo "FAIL: fdectl has no fault point of $operation"
    exit 1
  fi
  mapfile -t -O "${#points[@]}" points < <(grep -E "^$operation\\." <<<"$all_points")
done

# shellcheck source=tests/cli/lib/harness.sh
source "$here/lib/harness.sh"
harness_quiet=1  # hundreds of checks: only failures are printed
# run ARGS...: runs fdectl (output in $work/out and $work/err, exit status in $status).
run() {
  "$fdectl" "$@" >"$work/out" 2>"$work/err"
  status=$?
}

data_offset() { cryptsetup luksDump "$1" | awk '$1 == "offset:" { print $2; exit }'; }
data_sum() { tail -c +$(($(data_offset "$1") + 1)) "$1" | sha256sum | cut -d' ' -f1; }
opens() {  # opens KEYFILE IMAGE [KEYSLOT]
  local slot=()
  [ $# -ge 3 ] && slot=(--key-slot "$3")
  [ -s "$1" ] && cryptsetup open --test-passphrase "${slot[@]}" --key-file "$1" "$2" 2>/dev/null
}
does_not_open() { ! opens "$@"; }
opens_either() { opens "$1" "$3" || opens "$2" "$3"; }
# fetch RESOURCE FILE: the broker's current key (FILE emptied when there is none).
fetch() {
  : >"$2"
  "$fdectl" kbs get --config "$config" --resource "$1" --out "$2" >/dev/null 2>&1
}
# The data area still has checksum $sum (encryption and reencryption rewrite it by design).
unchanged_data_area() {
  [ "$operation" = encrypt ] || [ "$operation" = reencrypt ] || test "$(data_sum "$image")" = "$sum"
}
plaintext_sum() { "$here/lib/luks-plaintext-sum" "$@" 2>/dev/null; }
jq_true() { [ "$("$fdectl" list --json "$1" 2>/dev/null | jq -r "$2")" = true ]; }

config="$work/config.json"
devkbs_start_sample "$devkbs" "$work/kbs" "$config"
printf 'correct horse battery staple\n' >"$work/pw"
printf 'a new recovery passphrase' >"$work/recovery"
common=(--config "$config" --backup-dir "$work/backups" --timeout 20)

n=0
for point in "${points[@]}"; do
  n=$((n + 1))
  operation=${point%%.*}
  image="$work/crash-$n.img"
  resource="default/fde/crash-$n"
  if [ "$operation" = encrypt ]; then
    truncate -s 64M "$image"
    mkfs.ext4 -q -F "$image" 30M
    command=(enroll "$image" "${common[@]}" --resource "$resource" --encrypt)
    old=/dev/null  # a plaintext device has no old credential
  else
    # A volume-key change goes in steps of 16 MiB: two of them, so a kill can fall between.
    size_mib=32
    [ "$operation" = reencrypt ] && size_mib=48
    truncate -s "${size_mib}M" "$image"
    cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
      --key-file "$work/pw" "$image"
    offset=$(data_offset "$image")
    dd if=/dev/urandom of="$image" bs=1M seek=$((offset >> 20)) \
      count=$((((size_mib << 20) - offset) >> 20)) conv=notrunc status=none
  fi
  enroll_args=(enroll "$image" "${common[@]}" --resource "$resource" --unlock-with "$work/pw")
  case $operation in
    enroll)
      command=("${enroll_args[@]}" --remove-passphrase)
      old="$work/pw"
      ;;
    rotate | unbind | reencrypt | recovery)
      run "${enroll_args[@]}"
      check "$point: setup enroll" exit_is 0
      fetch "$resource" "$work/old-key"
      old="$work/old-key"
      command=("$operation" "$image" "${common[@]}")
      [ "$operation" = recovery ] && command=(enroll "$image" "${common[@]}" --recovery-key)
      ;;&
    reencrypt)
      command+=(--drop-other-keyslots)
      # A recovery keyslot costs a benchmarked Argon2: only where its fault point needs one.
      recovery=no
      if [ "$point" = reencrypt.after-recovery-keyslot ]; then
        recovery=yes
        command+=(--recovery-passphrase "$work/recovery")
      fi
      plain=$(plaintext_sum "$image" "$work/old-key")
      ;;
  esac
  sum=$([ "$operation" = encrypt ] || data_sum "$image")

  CCFDE_FAULT_POINT=$point run "${command[@]}"
  check "$point: fdectl died by SIGKILL (status $status)" exit_is 137
  # The new credential: the broker's current key (enroll, rotate), the passphrase (unbind).
  if [ "$operation" = unbind ]; then
    new="$work/pw"
  else
    fetch "$resource" "$work/new-key"
    new="$work/new-key"
  fi
  check "$point: the volume opens with the old or the new credential" \
    opens_either "$old" "$new" "$image"
  check "$point: the data area is unchanged" unchanged_data_area
  if [ "$point" = encrypt.during-reencryption ]; then
    check "$point: the header records the unfinished encryption" \
      jq_true "$image" '.reencryption_in_progress == true'
  fi

  run "${command[@]}"
  check "$point: the same command again completes (exit 0)" exit_is 0
  cp "$work/out" "$work/rerun.out"
  check "$point: the data area is still unchanged" unchanged_data_area
  fetch "$resource" "$work/final-key"
  case $operation in
    enroll | rotate | encrypt | reencrypt | recovery)
      check "$point: one complete cc-fde token" jq_true "$image" \
        '[.tokens[] | select(.type == "cc-fde")] | length == 1 and .[0].valid and .[0].state == "complete" and .[0].pending_keyslot == null and (.[0].keyslots | length) == 1'
      token_slot=$("$fdectl" list --json "$image" | jq -r '.tokens[0].keyslots[0]')
      check "$point: the broker's key opens the token's keyslot $token_slot" \
        opens "$work/final-key" "$image" "$token_slot"
      run test "$image" --config "$config" --timeout 20
      check "$point: fdectl test passes" exit_is 0
      ;;&
    enroll)
      check "$point: the passphrase keyslot is gone (--remove-passphrase)" \
        does_not_open "$work/pw" "$image"
      check "$point: the only keyslot is the token's" jq_true "$image" '.keyslots == .tokens[0].keyslots'
      ;;
    rotate)
      check "$point: the old key no longer opens the volume" does_not_open "$work/old-key" "$image"
      check "$point: two keyslots (passphrase and token)" jq_true "$image" \
        '.keyslots == ([0] + .tokens[0].keyslots)'
      ;;
    encrypt)
      check "$point: the encryption is finished" jq_true "$image" '.reencryption_in_progress == false'
      check "$point: the only keyslot is the token's" jq_true "$image" '.keyslots == .tokens[0].keyslots'
      ;;
    reencrypt)
      check "$point: the reencryption is finished" jq_true "$image" '.reencryption_in_progress == false'
      check "$point: the plaintext under the new volume key is the plaintext before" \
        test "$(plaintext_sum "$image" "$work/final-key")" = "$plain"
      check "$point: the old passphrase no longer opens the volume" does_not_open "$work/pw" "$image"
      if [ "$recovery" = yes ]; then
        check "$point: the recovery passphrase opens it" opens "$work/recovery" "$image"
        check "$point: two keyslots (recovery and token)" jq_true "$image" \
          '(.keyslots | length) == 2 and (.keyslots - .tokens[0].keyslots | length) == 1'
      else
        check "$point: the only keyslot is the token's" jq_true "$image" '.keyslots == .tokens[0].keyslots'
      fi
      ;;
    recovery)
      check "$point: one complete recovery token with one keyslot" jq_true "$image" \
        '[.tokens[] | select(.type == "systemd-recovery")] | length == 1 and .[0].recovery_key.pending_keyslot == null and (.[0].keyslots | length) == 1'
      recovery_slot=$("$fdectl" list --json "$image" |
        jq -r '.tokens[] | select(.type == "systemd-recovery") | .keyslots[0]')
      sed -n 's/^    \([cbdefghijklnrtuv-]\{71\}\)$/\1/p' "$work/rerun.out" | tr -d '\n' >"$work/recovery-key"
      check "$point: the printed recovery key opens keyslot $recovery_slot" \
        opens "$work/recovery-key" "$image" "$recovery_slot"
      check "$point: no never-shown keyslot is left (passphrase, token, recovery)" jq_true "$image" \
        "(.keyslots | length) == 3 and (.keyslots | index($recovery_slot)) != null"
      ;;
    unbind)
      check "$point: no token is left" jq_true "$image" '.tokens == []'
      check "$point: only the passphrase keyslot is left" jq_true "$image" '.keyslots == [0]'
      check "$point: the broker key no longer opens the volume" does_not_open "$work/old-key" "$image"
      check "$point: the passphrase opens it" opens "$work/pw" "$image" 0
      ;;
  esac
  echo "tried $point"
done

echo "${#points[@]} fault points: $passed checks passed, $failed failed"
[ "${#points[@]}" -gt 0 ] && [ "$failed" -eq 0 ]

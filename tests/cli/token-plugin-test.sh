#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The token plugin through the real cryptsetup CLI against a real devkbs: the plugin is put where
# libcryptsetup looks for it and a configuration at /etc/cc-fde/config.json, both only inside a
# private mount namespace (a bind mount and overlays of /etc and /run: the plugin writes its unlock
# mark to /run/cc-fde/unlocks), so the host is never changed.
# Checks: validate refuses a bad token at import, luksDump shows the token's fields,
# `cryptsetup open --token-only --test-passphrase` unlocks with the broker's key and leaves an
# unlock mark, and the failures
# are clean (unknown profile, wrong key on the broker, invalid configuration, broker down within
# the deadline). With a third argument (fdectl), `fdectl status --json` is checked as well.
# Usage: token-plugin-test.sh PLUGIN.so DEVKBS [FDECTL]   (exit 77: namespaces/mounts not allowed)
set -uo pipefail

plugin=${1:?plugin .so}
devkbs=${2:?devkbs binary}
fdectl=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${CCFDE_TOKEN_TEST_INSIDE:-}" != 1 ]; then
  if ! command -v cryptsetup >/dev/null; then
    echo "SKIP: the cryptsetup CLI is not installed"
    exit 77
  fi
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: cannot create a private mount namespace (unshare -m not permitted)"
    exit 77
  fi
  CCFDE_TOKEN_TEST_INSIDE=1 exec unshare -m --propagation private bash "$0" "$@"
fi

# ---- inside the private mount namespace ----
# shellcheck source=tests/cli/lib/devkbs.sh
source "$here/lib/devkbs.sh"
# shellcheck source=tests/cli/lib/harness.sh
source "$here/lib/harness.sh"
json_has_keys() { jq -e 'has("volumes") and has("volumes_error") and has("units") and has("units_error")' "$work/out" >/dev/null; }
# What the user saw (for the log of a refusal).
show() { cat "$work/out" "$work/err" | sed 's/^/     > /' | head -n 6; echo "     > (exit $status)"; }

plugin_dir=$(cryptsetup --help | sed -n 's/.*LUKS2 external token plugin path: *\([^ ]*[^ .]\).*/\1/p')
plugin_dir=${plugin_dir:-/usr/lib/x86_64-linux-gnu/cryptsetup}
if [ ! -d "$plugin_dir" ]; then
  echo "SKIP: libcryptsetup's plugin directory $plugin_dir does not exist"
  exit 77
fi
mkdir -p "$work/plugins" "$work/etc-upper/cc-fde" "$work/etc-work" "$work/etc-cc-fde" \
  "$work/run-upper" "$work/run-work"
cp "$plugin" "$work/plugins/libcryptsetup-token-cc-fde.so"
# /etc/cc-fde itself is a bind mount of a directory on the root file system: the plugin trusts
# only configuration files on the file system of / (an overlay has a file system of its own).
if ! mount --bind "$work/plugins" "$plugin_dir" 2>"$work/err" ||
  ! mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" \
    /etc 2>>"$work/err" ||
  ! mount --bind "$work/etc-cc-fde" /etc/cc-fde 2>>"$work/err" ||
  ! mount -t overlay overlay -o "lowerdir=/run,upperdir=$work/run-upper,workdir=$work/run-work" \
    /run 2>>"$work/err"; then
  echo "SKIP: mounts are not permitted here: $(cat "$work/err")"
  exit 77
fi

# A sanitizer build of the plugin needs its runtime loaded first into the (plain) cryptsetup.
sanitizer_libs=$(ldd "$plugin" | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
cs() {
  if [ -n "$sanitizer_libs" ]; then
    LD_PRELOAD="$sanitizer_libs" ASAN_OPTIONS=detect_leaks=0 cryptsetup "$@"
  else
    cryptsetup "$@"
  fi
}

if ! devkbs_start "$devkbs" "$work/kbs" --allow-sample; then
  echo "FAIL devkbs did not start"
  cat "$work/kbs.log"
  exit 1
fi
head -c 32 /dev/urandom >"$work/disk-key"
head -c 32 /dev/urandom >"$work/other-key"
key_hex=$(od -An -tx1 -v "$work/disk-key" | tr -d ' \n')
devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
  --data '{"resources":{"default/fde/disk-key":{"tees":["sample"]},"default/fde/wrong":{"tees":["sample"]},"default/fde/enrolled":{"tees":["sample"]}}}' >/dev/null
devkbs_admin POST /kbs/v0/resource/default/fde/disk-key --data-binary @"$work/disk-key" >/dev/null
devkbs_admin POST /kbs/v0/resource/default/fde/wrong --data-binary @"$work/other-key" >/dev/null

write_config() {  # write_config VOLUME_TIMEOUT_S
  cat >/etc/cc-fde/config.json <<EOF
{"version": 1,
 "profiles": {"default": {"url": "$DEVKBS_URL", "ca_file": "$DEVKBS_CA", "resources": ["default/*"]}},
 "evidence": {"tee": "sample"},
 "unlock": {"volume_timeout_s": $1, "require_phase_event": false}}
EOF
}
write_config 4

token_json() {  # token_json PROFILE RESOURCE
  printf '{"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"%s","resource":"%s"}' \
    "$1" "$2"
}

# make_image NAME PROFILE RESOURCE: a LUKS2 image whose keyslot 1 opens with disk-key and whose
# token 0 is a cc-fde token naming PROFILE and RESOURCE.
printf 'correct horse battery staple' >"$work/passphrase"
make_image() {
  local image="$work/$1.img"
  truncate -s 32M "$image"
  cs luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/passphrase" "$image" &&
    cs luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-slot 1 \
      --key-file "$work/passphrase" "$image" "$work/disk-key" &&
    token_json "$2" "$3" >"$work/$1.token" &&
    cs token import --json-file "$work/$1.token" --token-id 0 "$image"
}

# validate runs at import: a token with a member the schema does not have is refused.
truncate -s 32M "$work/bad.img"
cs luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --key-file "$work/passphrase" "$work/bad.img"
printf '{"type":"cc-fde","keyslots":[],"cc-fde-version":1,"profile":"default","resource":"a/b/c","url":"https://evil.example"}' >"$work/bad.token"
run cs token import --json-file "$work/bad.token" "$work/bad.img"
check "token import: validate refuses an unknown member" exit_is_not 0
check "...naming it" output_has 'cc-fde: invalid token.*url'

check "images with a cc-fde token are created" make_image good default default/fde/disk-key
run cs luksDump "$work/good.img"
check "luksDump succeeds" exit_is 0
check "luksDump shows the token type" output_has '^ +0: cc-fde'
check "luksDump shows the profile" output_has 'profile: +default'
check "luksDump shows the resource" output_has 'resource: +default/fde/disk-key'
check "luksDump shows the state and schema version" \
  bash -c "grep -qE 'state: +complete' '$work/out' && grep -qE 'cc-fde version: +1' '$work/out'"

rm -rf /run/cc-fde/unlocks
run cs open --token-only --test-passphrase "$work/good.img"
check "cryptsetup open --token-only --test-passphrase unlocks with the broker's key" exit_is 0
good_uuid=$(cs luksUUID "$work/good.img")
# A mark of this boot, mode 0600 in a 0700 directory, naming the UUID and no mapping; the only one.
plugin_mark_is() {
  local mark="/run/cc-fde/unlocks/token-plugin@$1"
  [ "$(stat -c %a "$mark" /run/cc-fde/unlocks | tr '\n' ' ')" = "600 700 " ] &&
    [ "$(jq -r '[.mapping, .luks_uuid, .opened_by, .boot_id] | join(",")' "$mark")" = \
      ",$1,token-plugin,$(cat /proc/sys/kernel/random/boot_id)" ] &&
    [ "$(ls -A /run/cc-fde/unlocks)" = "token-plugin@$1" ]
}
check "...and leaves an unlock mark naming the UUID, not a mapping" plugin_mark_is "$good_uuid"
run cs open --token-only --token-id 0 --test-passphrase -v "$work/good.img"
check "...also with --token-id 0 (verbose)" exit_is 0
check "...verbose names the resource fetched" output_has 'cc-fde: .*default/fde/disk-key'
check "...and never prints the key" bash -c "! grep -qi '$key_hex' '$work/out' '$work/err'"

# The whole operator path: an image made by the cryptsetup CLI, enrolled by fdectl (a new key
# generated and uploaded to devkbs), then opened by cryptsetup through the plugin alone.
if [ -n "$fdectl" ]; then
  truncate -s 32M "$work/enrolled.img"
  cs luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/passphrase" "$work/enrolled.img"
  run "$fdectl" enroll "$work/enrolled.img" --config /etc/cc-fde/config.json \
    --resource default/fde/enrolled --key-source generate --unlock-with "$work/passphrase" \
    --admin-token-file "$DEVKBS_ADMIN_TOKEN_FILE" --backup-dir "$work/backups"
  check "fdectl enroll binds a cryptsetup-made image" exit_is 0
  run cs open --token-only --test-passphrase "$work/enrolled.img"
  check "...and the plugin alone opens it (cryptsetup open --token-only --test-passphrase)" \
    exit_is 0
fi

make_image unknown nope default/fde/disk-key >/dev/null 2>&1
run cs open --token-only --test-passphrase "$work/unknown.img"
check "a token naming an unknown profile is refused" exit_is_not 0
check "...with a message naming the profile" output_has 'cc-fde: .*nope'
show

make_image wrong default default/fde/wrong >/dev/null 2>&1
run cs open --token-only --test-passphrase "$work/wrong.img"
check "a wrong key on the broker is refused by the keyslot (exit 2: no key available)" exit_is 2
show

cp /etc/cc-fde/config.json "$work/config.saved"
printf '{"version": 1, "profiles": 3}' >/etc/cc-fde/config.json
run cs open --token-only --test-passphrase "$work/good.img"
check "an invalid configuration is refused" exit_is_not 0
check "...naming the configuration" output_has 'cc-fde: configuration: .*config.json'
show
cp "$work/config.saved" /etc/cc-fde/config.json

devkbs_stop
write_config 3
start=$(date +%s)
run cs open --token-only --test-passphrase "$work/good.img"
elapsed=$(($(date +%s) - start))
check "broker down: refused" exit_is_not 0
check "broker down: gives up within the 3 s volume deadline (took ${elapsed}s)" test "$elapsed" -le 8
check "broker down: the cause is named" output_has 'cc-fde: .*(unreachable|deadline_exceeded)'
show

if [ -n "$fdectl" ]; then
  if "$fdectl" status --help >/dev/null 2>&1; then
    run "$fdectl" status --json
    check "fdectl status --json exits 0 without failures" exit_is 0
    check "...and prints one JSON object with every key" json_has_keys
    run "$fdectl" status
    check "fdectl status (text) names both sources" \
      bash -c "grep -q '^Volumes' '$work/out' && grep -q '^Units' '$work/out'"
  else
    echo "note: fdectl has no status subcommand yet; its checks are skipped"
  fi
fi

finish "token plugin CLI"

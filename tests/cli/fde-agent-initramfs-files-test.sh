#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellcheck disable=SC2016  # the check expressions are single-quoted for eval on purpose
# CLI test of `fde-agent initramfs-files`, which the dracut module and the initramfs-tools hook run
# to learn which files to copy into the image: the list for a configuration with every path
# setting (and what it leaves out), --root (a system tree the image is built from), and the
# refusal, with exit 2 and nothing on stdout, of a configuration the agent would refuse at boot or
# that names a file that is not there; and that the example configuration the packages ship
# (EXAMPLE_CONFIG) is one the agent accepts once its CA file exists.
# Usage: fde-agent-initramfs-files-test.sh FDE_AGENT EXAMPLE_CONFIG
set -uo pipefail

agent=${1:?fde-agent binary}
example=${2:?the shipped example configuration (agent/examples/config.json)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/lib/harness.sh
. "$here/lib/harness.sh"

stdout_is() { [ "$(cat "$work/out")" = "$1" ]; }
stdout_empty() { [ ! -s "$work/out" ]; }

# write_config FILE DIR [CRYPTTAB]: every path setting of the schema, the files in DIR.
write_config() {
  local file=$1 dir=$2 crypttab=${3:-$2/crypttab}
  cat >"$file" <<JSON
{
  "version": 1,
  "profiles": {
    "default": {
      "url": "https://kbs.example:8443", "ca_file": "$dir/ca.pem", "resources": ["default/fde/*"],
      "client_certificate": "$dir/client.pem", "client_key": "$dir/client.key",
      "admin_token_file": "$dir/admin-token"
    },
    "ita": {
      "protocol": "ita", "url": "https://ita.example", "ca_file": "$dir/ita-ca.pem",
      "resources": ["0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"]
    },
    "same-ca": {"url": "https://kbs2.example", "ca_file": "$dir/ca.pem", "resources": ["x/y/z"]}
  },
  "evidence": {"tee": "tdx", "platform_root": "$dir/platform"},
  "unlock": {"crypttab": "$crypttab"}
}
JSON
}

files=$work/etc
mkdir -p "$files/platform"
for f in ca.pem ita-ca.pem client.pem client.key admin-token crypttab; do
  echo "$f" >"$files/$f"
done
write_config "$files/config.json" "$files"

# ---- the list ----
run "$agent" initramfs-files --config "$files/config.json"
check "every path setting: exit 0" exit_is 0
# The configuration first, then the profiles in name order (std::map), each path once; never
# admin_token_file (fdectl's) nor platform_root (a directory prefix).
check "every path setting: the configuration, CAs, client certificate and key, crypttab" \
  stdout_is "$files/config.json
$files/ca.pem
$files/client.pem
$files/client.key
$files/ita-ca.pem
$files/crypttab"
check "never the admin token" bash -c '! grep -q admin-token "$1"' _ "$work/out"
check "nothing on stderr" [ ! -s "$work/err" ]

# /etc/crypttab is the one the initramfs generator writes (filtered to the image's volumes).
write_config "$files/etc-crypttab.json" "$files" /etc/crypttab
run "$agent" initramfs-files --config "$files/etc-crypttab.json"
check "unlock.crypttab /etc/crypttab: not listed" stdout_is "$files/etc-crypttab.json
$files/ca.pem
$files/client.pem
$files/client.key
$files/ita-ca.pem"

# ---- --root: the paths are those inside the image, the files are found under the root ----
sysroot=$work/sysroot
mkdir -p "$sysroot/etc/cc-fde"
echo ca >"$sysroot/etc/cc-fde/kbs-ca.pem"
cat >"$sysroot/etc/cc-fde/config.json" <<'JSON'
{"version": 1, "profiles": {"default": {"url": "https://10.0.2.100:8443",
  "ca_file": "/etc/cc-fde/kbs-ca.pem", "resources": ["default/*"]}}}
JSON
run "$agent" initramfs-files --root "$sysroot"
check "--root: the default configuration and its CA, as the image names them" \
  stdout_is "/etc/cc-fde/config.json
/etc/cc-fde/kbs-ca.pem"
rm "$sysroot/etc/cc-fde/kbs-ca.pem"
run "$agent" initramfs-files --root "$sysroot"
check "--root: a file missing under the root: exit 2" exit_is 2
check "--root: names the setting and the path under the root" \
  err_has "profiles/default/ca_file names $sysroot/etc/cc-fde/kbs-ca.pem, which the initramfs needs"

# ---- --programs: the mkfs of each unlock.first_boot file system, once, found under the root ----
cat >"$sysroot/etc/cc-fde/config.json" <<'JSON'
{"version": 1, "profiles": {"default": {"url": "https://10.0.2.100:8443",
  "ca_file": "/etc/cc-fde/kbs-ca.pem", "resources": ["default/*", "init-data"]}},
 "unlock": {"first_boot": [
   {"partlabel": "state", "name": "state", "resource": "init-data"},
   {"partlabel": "logs", "name": "logs", "resource": "default/fde/logs", "filesystem": "ext4"},
   {"partlabel": "raw", "name": "raw", "resource": "default/fde/raw", "filesystem": "none"}]}}
JSON
echo ca >"$sysroot/etc/cc-fde/kbs-ca.pem"
run "$agent" initramfs-files --root "$sysroot"
check "first_boot: the files are unchanged" stdout_is "/etc/cc-fde/config.json
/etc/cc-fde/kbs-ca.pem"
run "$agent" initramfs-files --programs --root "$sysroot"
check "--programs: mkfs missing under the root: exit 2" exit_is 2
check "--programs: names the setting and the program" \
  err_has "unlock/first_boot/0/filesystem \\(ext4\\) names $sysroot/usr/sbin/mkfs.ext4"
mkdir -p "$sysroot/usr/sbin"
printf '#!/bin/sh\n' >"$sysroot/usr/sbin/mkfs.ext4"
run "$agent" initramfs-files --programs --root "$sysroot"
check "--programs: exit 0" exit_is 0
check "--programs: mkfs.ext4 once, nothing for none" stdout_is "/usr/sbin/mkfs.ext4"
write_config "$files/no-first-boot.json" "$files"
run "$agent" initramfs-files --programs --config "$files/no-first-boot.json"
check "--programs without first_boot: exit 0, nothing listed" stdout_empty

# ---- refusals: exit 2, the cause on stderr, nothing on stdout ----
refused() {
  local name=$1 pattern=$2
  shift 2
  run "$agent" initramfs-files "$@"
  check "$name: exit 2" exit_is 2
  check "$name: nothing on stdout" stdout_empty
  check "$name: says why" err_has "$pattern"
}
printf '{"version": 1,\n "profiles": {\n' >"$work/syntax.json"
refused "invalid JSON" "syntax.json:[0-9]+:[0-9]+: invalid JSON" --config "$work/syntax.json"
sed 's/"unlock": {/"unlock": {"failure_actoin": "fail", /' "$files/config.json" >"$work/key.json"
refused "unknown key" 'key.json:[0-9]+: /unlock/failure_actoin: unknown key' --config "$work/key.json"
sed 's|"url": "https://kbs.example:8443"|"url": "http://kbs.example"|' "$files/config.json" \
  >"$work/http.json"
refused "plain http URL" 'http.json:[0-9]+: /profiles/default/url: .*not an https:// URL' \
  --config "$work/http.json"
refused "missing configuration" "not_found: configuration .*missing.json: no such file" \
  --config "$work/missing.json"
refused "relative --config" "absolute path" --config etc/config.json
rm "$files/client.key"
refused "a named file is missing" \
  "profiles/default/client_key names $files/client.key, which the initramfs needs" \
  --config "$files/config.json"
mkdir "$files/client.key"
refused "a named file is a directory" \
  "profiles/default/client_key names $files/client.key, which is not a regular file" \
  --config "$files/config.json"
rmdir "$files/client.key"
echo key >"$files/client.key"
rm "$files/crypttab"
refused "the named crypttab is missing" "unlock/crypttab names $files/crypttab" \
  --config "$files/config.json"

# ---- the shipped example (/usr/share/doc/cc-fde/examples/config.json) ----
# Only its CA path is changed, to a file that exists here; every other setting is as shipped.
check "the example names the CA /etc/cc-fde/kbs-ca.pem" \
  [ "$(jq -r .profiles.default.ca_file "$example")" = /etc/cc-fde/kbs-ca.pem ]
jq --arg ca "$files/ca.pem" '.profiles.default.ca_file = $ca' "$example" >"$work/example.json"
run "$agent" initramfs-files --config "$work/example.json"
check "the shipped example is accepted: exit 0" exit_is 0
check "the shipped example: the configuration and its CA first" \
  bash -c '[ "$(head -n 2 "$1")" = "$2" ]' _ "$work/out" "$work/example.json
$files/ca.pem"

run "$agent" --help
check "--help lists initramfs-files" output_has "initramfs-files"
run "$agent" initramfs-files --help
check "initramfs-files --help describes --root" output_has "--root"

finish fde-agent-initramfs-files

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# shellcheck disable=SC2016  # the check expressions are single-quoted for eval on purpose
# Structural test of the boot integration (dracut/, initramfs-tools/, systemd/), without a VM:
#   1. the install rules put every file where dracut, initramfs-tools and systemd look for it;
#   2. the units carry the ordering and failure handling of docs/BOOT-INTEGRATION.md, and
#      `systemd-analyze verify` accepts them;
#   3. dracut's module-setup.sh, sourced with stubbed dracut functions, asks for fde-agent, the
#      token plugin, the configuration and the files it names (not the admin token), the units,
#      the NSS libraries and the kernel modules;
#   4. the initramfs-tools hook, run in a private mount namespace + chroot with stubbed
#      hook-functions, copies the same;
#   5. the local-top and local-bottom scripts, run there with stubbed /scripts/functions, ip and
#      fde-agent, bring the network up, map fde-agent's exit status to panic, and tear the
#      network down again.
# Usage: boot-structure-test.sh SOURCE_DIR BUILD_DIR
set -u
src=${1:?source directory}
build=${2:?build directory}
# shellcheck source=tests/cli/lib/harness.sh
. "$src/tests/cli/lib/harness.sh"

has() { grep -qE -- "$1" "$2"; }
lacks() { ! grep -qE -- "$1" "$2"; }
skip() { echo "skip $1"; }

# ---- 1. install rules ------------------------------------------------------------------------
dest=$work/dest
for dir in systemd dracut initramfs-tools; do
  if [ ! -f "$build/$dir/cmake_install.cmake" ]; then
    echo "FAIL $dir is not configured in $build (add_subdirectory missing?)"
    failed=$((failed + 1))
    continue
  fi
  DESTDIR=$dest cmake -DCMAKE_INSTALL_PREFIX=/usr -P "$build/$dir/cmake_install.cmake" \
    >"$work/out" 2>"$work/err" || { echo "FAIL cmake install of $dir"; cat "$work/err"; failed=$((failed + 1)); }
done
unit_dir=$(sed -n 's/^CCFDE_SYSTEMD_UNIT_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$unit_dir" in
/*) unit_root=$dest$unit_dir ;;
*) unit_root=$dest/usr/$unit_dir ;;
esac
module_dir=$dest/usr/lib/dracut/modules.d/50cc-fde
itools_dir=$dest/usr/share/initramfs-tools
check "install: dracut module in /usr/lib/dracut/modules.d/50cc-fde" \
  test -x "$module_dir/module-setup.sh" -a -x "$module_dir/cc-fde-cryptsetup-gate.sh" \
  -a -f "$module_dir/cryptsetup-cc-fde.conf"
check "install: initramfs-tools hook and boot scripts, executable" \
  test -x "$itools_dir/hooks/cc-fde" -a -x "$itools_dir/scripts/local-top/cc-fde" \
  -a -x "$itools_dir/scripts/local-bottom/cc-fde"
check "install: units in the systemd unit directory ($unit_dir)" \
  test -f "$unit_root/fde-agent.service" -a -f "$unit_root/fde-agent-late.service" \
  -a -f "$unit_root/cc-fde-phase-end.service"
check "install: nothing else" \
  test "$(find "$dest" -type f | wc -l)" -eq 11

# ---- 2. units --------------------------------------------------------------------------------
initrd_unit=$unit_root/fde-agent.service
# shellcheck disable=SC2034  # used in the eval'd checks
late_unit=$unit_root/fde-agent-late.service
# shellcheck disable=SC2034  # used in the eval'd checks
phase_unit=$unit_root/cc-fde-phase-end.service
check "fde-agent.service: DefaultDependencies=no, only in the initrd" \
  eval 'has "^DefaultDependencies=no$" "$initrd_unit" && has "^ConditionPathExists=/etc/initrd-release$" "$initrd_unit"'
check "fde-agent.service: wants and is ordered after network-online.target" \
  eval 'has "^Wants=.*network-online\.target" "$initrd_unit" && has "^After=.*network-online\.target.*systemd-networkd-wait-online\.service" "$initrd_unit"'
check "fde-agent.service: before cryptsetup-pre.target (and wants it), after udev coldplug" \
  eval 'has "^Before=.*cryptsetup-pre\.target" "$initrd_unit" && has "^Wants=.*cryptsetup-pre\.target" "$initrd_unit" && has "^After=.*systemd-udev-trigger\.service" "$initrd_unit"'
check "fde-agent.service: Type=oneshot (ordering waits for its exit), bounded start timeout above the agent's 300 s" \
  eval 'has "^Type=oneshot$" "$initrd_unit" && has "^RemainAfterExit=yes$" "$initrd_unit" && t=$(sed -n "s/^TimeoutStartSec=//p" "$initrd_unit") && [ "$t" -gt 300 ] && [ "$t" -le 600 ]'
check "fde-agent.service: runs fde-agent unlock --all, output on the console" \
  eval 'has "^ExecStart=/.*/sbin/fde-agent unlock --all$" "$initrd_unit" && has "^StandardOutput=journal\+console$" "$initrd_unit"'
check "fde-agent.service: failure -> emergency.target, WantedBy=cryptsetup.target" \
  eval 'has "^OnFailure=emergency\.target$" "$initrd_unit" && has "^WantedBy=cryptsetup\.target$" "$initrd_unit"'
check "fde-agent.service: no key files (nothing about /run/cryptsetup-keys.d)" \
  lacks "cryptsetup-keys" "$initrd_unit"
check "systemd-cryptsetup@ drop-in: after fde-agent, gated on its verdict" \
  eval 'has "^After=fde-agent\.service$" "$module_dir/cryptsetup-cc-fde.conf" && has "^ExecStartPre=/usr/lib/cc-fde/cryptsetup-gate %I$" "$module_dir/cryptsetup-cc-fde.conf"'

# The gate reads the verdicts fde-agent leaves under $CCFDE_RUN_DIR/cc-fde/verdict: positive
# evidence for this volume, or no passphrase and no token fallback.
gate() { # VOLUME [VERDICT_LINE]: runs the gate for VOLUME with that verdict (none without)
  rm -rf "$work/gaterun"
  mkdir -p "$work/gaterun/cc-fde/verdict"
  [ $# -gt 1 ] && printf '%s\n' "$2" >"$work/gaterun/cc-fde/verdict/$1"
  : >"$work/kmsg"
  CCFDE_KMSG=$work/kmsg CCFDE_RUN_DIR=$work/gaterun run sh "$module_dir/cc-fde-cryptsetup-gate.sh" "$1"
}
gate luks-1234
check "gate: no verdict (agent failed, crashed, masked, never ran, never saw it) -> 1, naming the volume" \
  eval 'exit_is 1 && err_has "not unlocking luks-1234 with a passphrase or token fallback: fde-agent left no verdict"'
check "gate: the cause also goes to the kernel log (the console), at error level" \
  grep -q '^<3>cc-fde: not unlocking luks-1234' "$work/kmsg"
gate luks-1234 "prompt 0b1c6d4e-1111-2222-3333-444455556666"
check "gate: a deliberate hand-off to the prompt (failure_action prompt) -> 0" \
  eval 'exit_is 0 && [ ! -s "$work/kmsg" ]'
gate luks-9999 "unlocked 0b1c6d4e-1111-2222-3333-444455556666"
check "gate: 'unlocked' but the mapping is gone -> 1" \
  eval 'exit_is 1 && err_has "/dev/mapper/luks-9999 is gone"'
gate luks-1234 "failed 0b1c6d4e-1111-2222-3333-444455556666"
check "gate: an unknown verdict -> 1" eval 'exit_is 1 && err_has "unknown verdict"'
gate "../../etc/x" "prompt x"
check "gate: a volume name that is not a device-mapper name -> 1" \
  eval 'exit_is 1 && err_has "is not a device-mapper name"'
# boot-failed replaces the emergency and rescue shells: the phase ends, the cause reaches the
# console, the VM powers off (a stub here).
printf '#!/bin/sh\necho "agent $*" >>"%s"\n' "$work/boot-failed.log" >"$work/stub-agent"
chmod 755 "$work/stub-agent"
: >"$work/kmsg"
CCFDE_KMSG=$work/kmsg CCFDE_AGENT=$work/stub-agent CCFDE_POWEROFF="echo poweroff" \
  run sh "$module_dir/cc-fde-boot-failed.sh"
check "boot-failed: ends the unlock phase, says why on the console, powers off (no shell)" \
  eval 'exit_is 0 && grep -qx "agent phase-end" "$work/boot-failed.log" && grep -q "^<2>cc-fde: the boot cannot continue" "$work/kmsg" && output_has "^poweroff$"'
check "fde-agent-late.service: only after switch-root, after network-online" \
  eval 'has "^ConditionPathExists=!/etc/initrd-release$" "$late_unit" && has "^After=.*network-online\.target" "$late_unit" && has "^Wants=.*network-online\.target" "$late_unit"'
check "fde-agent-late.service: before the remote (_netdev) cryptsetup units, Type=oneshot" \
  eval 'has "^Before=.*remote-fs-pre\.target.*remote-cryptsetup\.target" "$late_unit" && has "^Type=oneshot$" "$late_unit" && has "^WantedBy=remote-cryptsetup\.target$" "$late_unit"'

check "cc-fde-phase-end.service: initrd only, oneshot, runs fde-agent phase-end" \
  eval 'has "^ConditionPathExists=/etc/initrd-release$" "$phase_unit" && has "^Type=oneshot$" "$phase_unit" && has "^RemainAfterExit=yes$" "$phase_unit" && has "^ExecStart=/.*/sbin/fde-agent phase-end$" "$phase_unit"'
check "cc-fde-phase-end.service: after the agent and cryptsetup, before switch-root and the shells" \
  eval 'has "^After=fde-agent\.service cryptsetup\.target remote-cryptsetup\.target$" "$phase_unit" && has "^Before=initrd-switch-root\.target initrd-switch-root\.service initrd-cleanup\.service$" "$phase_unit" && has "^Before=emergency\.service emergency\.target rescue\.service rescue\.target shutdown\.target$" "$phase_unit"'
check "cc-fde-phase-end.service: a failure powers off; required by switch-root and the shells" \
  eval 'has "^FailureAction=poweroff-force$" "$phase_unit" && lacks "^OnFailure=" "$phase_unit" && has "^RequiredBy=initrd-switch-root\.service emergency\.service rescue\.service$" "$phase_unit" && has "^WantedBy=initrd\.target initrd-switch-root\.target emergency\.target rescue\.target$" "$phase_unit"'

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs an executable ExecStart: the same units with /bin/true in place of fde-agent.
  mkdir -p "$work/units"
  for unit in fde-agent.service fde-agent-late.service cc-fde-phase-end.service; do
    sed 's|^ExecStart=[^ ]*|ExecStart=/bin/true|' "$unit_root/$unit" >"$work/units/$unit"
  done
  run systemd-analyze verify --man=no "$work/units/fde-agent.service" \
    "$work/units/fde-agent-late.service" "$work/units/cc-fde-phase-end.service"
  check "systemd-analyze verify accepts the three units" \
    eval 'exit_is 0 && ! err_has "fde-agent|cc-fde-phase-end"'
else
  skip "systemd-analyze verify (not installed)"
fi

# ---- 3. dracut module-setup.sh with stubbed dracut functions ---------------------------------
sysroot=$work/sysroot
mkdir -p "$sysroot/etc/cc-fde" "$sysroot/usr/lib/systemd/system" "$sysroot/usr/local/sbin" \
  "$sysroot/lib/x86_64-linux-gnu/cryptsetup" "$sysroot/root"
agent_path=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$initrd_unit")
mkdir -p "$sysroot$(dirname "$agent_path")"
# The real fde-agent: the module asks it which files to copy (initramfs-files --root SYSROOT).
real_agent=$build/agent/fde-agent/fde-agent
cp "$real_agent" "$sysroot$agent_path"
cp "$initrd_unit" "$sysroot/usr/lib/systemd/system/fde-agent.service"
cp "$phase_unit" "$sysroot/usr/lib/systemd/system/cc-fde-phase-end.service"
: >"$sysroot/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-cc-fde.so"
cat >"$sysroot/etc/cc-fde/config.json" <<'JSON'
{
  "version": 1,
  "profiles": {
    "default": {
      "url": "https://10.0.2.100:8443",
      "ca_file": "/etc/cc-fde/kbs-ca.pem", "resources": ["default/*"],
      "admin_token_file": "/root/kbs-admin-token"
    },
    "mtls": {"url": "https://kbs2.example:1", "ca_file": "/etc/cc-fde/ca2.pem", "resources": ["default/*"],
             "client_certificate": "/etc/cc-fde/client.pem", "client_key": "/etc/cc-fde/client.key"}
  }
}
JSON
for file in kbs-ca.pem ca2.pem client.pem client.key; do : >"$sysroot/etc/cc-fde/$file"; done
: >"$sysroot/root/kbs-admin-token"

# shellcheck disable=SC2034,SC2317  # the variables and stubs are used by module-setup.sh
dracut_run() { # FUNCTION...: sources module-setup.sh with stubs and calls the functions in order
  (
    log=$work/dracut.log
    initdir=$work/initdir
    moddir=$module_dir
    dracutsysrootdir=$sysroot
    systemdsystemunitdir=/usr/lib/systemd/system
    libdirs="/lib64 /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu"
    dracutbasedir=$work/dracutbase
    hostonly=yes
    SYSTEMCTL=stub_systemctl
    stub_systemctl() { echo "systemctl $*" >>"$log"; }
    inst_binary() { echo "inst_binary $*" >>"$log"; }
    inst_simple() { echo "inst_simple $*" >>"$log"; }
    inst_script() { echo "inst_script $*" >>"$log"; }
    inst_multiple() { echo "inst_multiple $*" >>"$log"; }
    inst_libdir_file() { echo "inst_libdir_file $*" >>"$log"; }
    instmods() { echo "instmods hostonly=[$hostonly] $*" >>"$log"; }
    dwarn() { echo "dwarn $*" >>"$log"; }
    dfatal() { echo "dfatal $*" >>"$log"; }
    mkdir -p "$initdir"
    # shellcheck source=/dev/null
    . "$module_dir/module-setup.sh"
    for function in "$@"; do
      "$function"
      echo "$function returned $?" >>"$log"
    done
  )
}
dlog=$work/dracut.log
mkdir -p "$work/dracutbase/modules.d/01systemd-cryptsetup"
run dracut_run check depends cmdline installkernel install
cp "$dlog" "$work/dracut-full.log"
check "dracut: check() includes the module when the host has /etc/cc-fde/config.json" \
  has "^check returned 0$" "$dlog"
check "dracut: depends() systemd crypt network (+ systemd-cryptsetup where it exists)" \
  eval 'grep -qx "systemd crypt network systemd-cryptsetup" "$work/out"'
check "dracut: cmdline() and /etc/cmdline.d/50cc-fde.conf ask for rd.neednet=1" \
  eval 'grep -qx "rd.neednet=1" "$work/out" && grep -qx "rd.neednet=1" "$work/initdir/etc/cmdline.d/50cc-fde.conf"'
check "dracut: installkernel() forces the TEE, dm-crypt, dm-integrity and NIC modules (hostonly='')" \
  eval 'has "^instmods hostonly=\[\] .*tdx_guest.*sev-guest.*tsm.*dm_crypt.*algif_skcipher.*dm_integrity.*authenc.*gcm.*virtio_net" "$dlog"'
check "dracut: fde-agent (the unit's ExecStart path)" has "^inst_binary $agent_path$" "$dlog"
check "dracut: the token plugin from the libdirs" \
  has "^inst_libdir_file cryptsetup/libcryptsetup-token-cc-fde\.so$" "$dlog"
check "dracut: the configuration, its CA and client certificate files" \
  eval '(for f in config.json kbs-ca.pem ca2.pem client.pem client.key; do has "^inst_simple /etc/cc-fde/$f$" "$dlog" || exit 1; done)'
check "dracut: never the admin token" lacks "admin-token" "$dlog"
check "dracut: NSS libraries, /etc/hosts" \
  eval 'has "^inst_libdir_file libnss_files\.so\.\* libnss_dns\.so\.\*$" "$dlog" && has "^inst_multiple -o /etc/hosts" "$dlog"'
check "dracut: fde-agent.service, the systemd-cryptsetup@ drop-in and its gate, enabled" \
  eval 'has "^inst_simple /usr/lib/systemd/system/fde-agent\.service /usr/lib/systemd/system/fde-agent\.service$" "$dlog" && has "^inst_script $module_dir/cc-fde-cryptsetup-gate\.sh /usr/lib/cc-fde/cryptsetup-gate$" "$dlog" && has "^inst_simple $module_dir/cryptsetup-cc-fde\.conf /usr/lib/systemd/system/systemd-cryptsetup@\.service\.d/50-cc-fde\.conf$" "$dlog" && has "^systemctl -q --root $work/initdir enable fde-agent\.service cc-fde-phase-end\.service$" "$dlog"'
check "dracut: the phase-end unit, no shell (emergency, rescue, dracut-emergency replaced; debug shell masked)" \
  eval 'has "^inst_simple /usr/lib/systemd/system/cc-fde-phase-end\.service /usr/lib/systemd/system/cc-fde-phase-end\.service$" "$dlog" && has "^inst_script $module_dir/cc-fde-boot-failed\.sh /usr/lib/cc-fde/boot-failed$" "$dlog" && (for u in emergency rescue dracut-emergency; do has "^inst_simple $module_dir/emergency-cc-fde\.conf /usr/lib/systemd/system/$u\.service\.d/50-cc-fde\.conf$" "$dlog" || exit 1; done) && [ "$(readlink "$work/initdir/etc/systemd/system/debug-shell.service")" = /dev/null ]'
check "dracut: install() succeeds without warnings" \
  eval 'has "^install returned 0$" "$dlog" && lacks "^(dwarn|dfatal)" "$dlog"'

rm -f "$dlog"
mv "$sysroot/etc/cc-fde/config.json" "$sysroot/etc/cc-fde/config.json.off"
run dracut_run check
check "dracut: check() returns 255 (only on request) without a configuration" \
  has "^check returned 255$" "$dlog"
mv "$sysroot/etc/cc-fde/config.json.off" "$sysroot/etc/cc-fde/config.json"
rm -f "$dlog" "$sysroot/etc/cc-fde/ca2.pem"
run dracut_run install
check "dracut: a CA file the configuration names but the host lacks fails the build" \
  eval 'has "^dfatal cc-fde: fde-agent initramfs-files refused /etc/cc-fde/config\.json" "$dlog" && exit_is 1 && lacks "^install returned" "$dlog" && err_has "profiles/mtls/ca_file names $sysroot/etc/cc-fde/ca2\.pem"'
: >"$sysroot/etc/cc-fde/ca2.pem"
cp "$sysroot/etc/cc-fde/config.json" "$work/config.json.good"
sed -i 's/"resources": \["default\/\*"\],$/"resources": [],/' "$sysroot/etc/cc-fde/config.json"
rm -f "$dlog"
run dracut_run install
check "dracut: a configuration the agent refuses fails the build, no file installed" \
  eval 'exit_is 1 && lacks "^install returned" "$dlog" && lacks "^inst_simple /etc/cc-fde/" "$dlog" && err_has "config\.json:[0-9]+: /profiles/default/resources: at least one"'
cp "$work/config.json.good" "$sysroot/etc/cc-fde/config.json"
rm -f "$dlog" "$sysroot/usr/lib/systemd/system/fde-agent.service"
run dracut_run install
check "dracut: install() fails without fde-agent.service" \
  eval 'has "^dfatal cc-fde: fde-agent\.service is not installed" "$dlog" && exit_is 1 && lacks "^install returned" "$dlog"'

# ---- 4./5. initramfs-tools scripts in a private mount namespace + chroot ---------------------
plugin_dir=$(find /usr/lib -maxdepth 2 -type d -name cryptsetup -path '/usr/lib/*-linux-gnu*/*' | head -n 1)
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
  [ ! -d /usr/share/initramfs-tools ] || [ -z "$plugin_dir" ] || [ ! -L /lib ]; then
  skip "initramfs-tools scripts (need root, unshare, a merged /usr, /usr/share/initramfs-tools and $plugin_dir)"
  finish boot-structure
  exit
fi

# A root whose /usr is the host's, with /usr/sbin, /usr/share/initramfs-tools and the
# cryptsetup token directory replaced by stubs (fde-agent, ip, modprobe record their arguments
# in /tmp/log and fde-agent exits with $FAKE_AGENT_STATUS).
make_root() {
  local root=$1
  rm -rf "$root" "$root.aux"
  mkdir -p "$root"/{usr,dev,etc/cc-fde,proc,run,tmp,scripts,cryptroot,sys/class/net/lo,sys/class/net/eth0} \
    "$root.aux"/{sbin,itools,cryptsetup}
  : >"$root/dev/null"
  ln -s usr/bin "$root/bin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  ln -s usr/sbin "$root/sbin"
  cp "$sysroot/etc/cc-fde/"* "$root/etc/cc-fde/"
  echo "127.0.0.1 localhost" >"$root/etc/hosts"
  echo "console=ttyS0 root=/dev/mapper/cryptroot ip=dhcp" >"$root/proc/cmdline"
  echo "cryptroot UUID=0b1c6d4e-1111-2222-3333-444455556666 none luks" >"$root/cryptroot/crypttab"
  echo 0x9 >"$root/sys/class/net/lo/flags"
  echo 0x1002 >"$root/sys/class/net/eth0/flags"
  echo 1 >"$root/sys/class/net/eth0/carrier"
  local tool
  for tool in fde-agent ip modprobe; do
    printf '#!/bin/sh\necho "%s $*" >>/tmp/log\n' "$tool" >"$root.aux/sbin/$tool"
  done
  echo 'exit "${FAKE_AGENT_STATUS:-0}"' >>"$root.aux/sbin/fde-agent"
  # The hook's `fde-agent initramfs-files` is the real one (it links only libraries of /usr).
  cp "$real_agent" "$root.aux/sbin/fde-agent.real"
  sed -i '2i [ "$1" = initramfs-files ] && exec /usr/sbin/fde-agent.real "$@"' \
    "$root.aux/sbin/fde-agent"
  chmod 755 "$root.aux/sbin/"*
  : >"$root.aux/cryptsetup/libcryptsetup-token-cc-fde.so"
  cat >"$root.aux/itools/hook-functions" <<'SH'
copy_exec() { echo "copy_exec $*" >>/tmp/log; }
copy_file() { echo "copy_file $*" >>/tmp/log; }
manual_add_modules() { echo "manual_add_modules $*" >>/tmp/log; }
SH
  cat >"$root/scripts/functions" <<'SH'
configure_networking() {
  echo "configure_networking" >>/tmp/log
  echo "IP-Config: eth0 complete (noise on stdout)"
  printf "DEVICE='eth0'\nIPV4DNS0='10.0.2.3'\nIPV4DNS1='0.0.0.0'\n" >/run/net-eth0.conf
}
panic() { echo "panic $*" >>/tmp/log; }
log_begin_msg() { echo "log_begin_msg $*" >>/tmp/log; }
log_end_msg() { :; }
wait_for_udev() { echo "wait_for_udev $*" >>/tmp/log; }
SH
  cp "$itools_dir/hooks/cc-fde" "$root/tmp/hook"
  cp "$itools_dir/scripts/local-top/cc-fde" "$root/tmp/local-top"
  cp "$itools_dir/scripts/local-bottom/cc-fde" "$root/tmp/local-bottom"
}

in_root() { # ROOT COMMAND...
  unshare -m --propagation private /bin/bash -c '
    set -e
    root=$1 plugin_dir=$2
    shift 2
    mount --bind /usr "$root/usr"
    mount --bind "$root.aux/sbin" "$root/usr/sbin"
    mount --bind "$root.aux/itools" "$root/usr/share/initramfs-tools"
    mount --bind "$root.aux/cryptsetup" "$root$plugin_dir"
    mount --bind /dev/null "$root/dev/null"
    # The boot scripts read the root'"'"'s fake /proc/cmdline; the hook runs at image build time and
    # gets the real /proc (the ASan runtime of a sanitizer build cannot start without it).
    if [ "${CCFDE_REAL_PROC:-0}" = 1 ]; then mount --bind /proc "$root/proc"; fi
    exec chroot "$root" "$@"
  ' in_root "$1" "$plugin_dir" "${@:2}"
}

root=$work/root
make_root "$root"
rlog=$root/tmp/log
CCFDE_REAL_PROC=1 DESTDIR=/tmp/dest run in_root "$root" /bin/sh /tmp/hook
check "hook: runs and exits 0" exit_is 0
check "hook: the image's default is panic=0 (init's panic reboots instead of opening a shell)" \
  eval '[ "$(cat "$root/tmp/dest/conf/conf.d/cc-fde")" = panic=0 ]'
check "hook: prereqs prints nothing (runs whether or not cryptroot is installed)" \
  eval '[ -z "$(CCFDE_REAL_PROC=1 in_root "$root" /bin/sh /tmp/hook prereqs)" ]'
check "hook: copy_exec fde-agent as /usr/sbin/fde-agent" has "^copy_exec /usr/sbin/fde-agent /usr/sbin/fde-agent$" "$rlog"
check "hook: copy_exec the dlopened token plugin (with its libraries)" \
  has "^copy_exec /lib/[^ ]*/cryptsetup/libcryptsetup-token-cc-fde\.so$" "$rlog"
check "hook: the configuration, its CA and client certificate files" \
  eval '(for f in config.json kbs-ca.pem ca2.pem client.pem client.key; do has "^copy_file config /etc/cc-fde/$f$" "$rlog" || exit 1; done)'
check "hook: never the admin token" lacks "admin-token" "$rlog"
check "hook: libnss_files/libnss_dns, /etc/hosts, ip" \
  eval 'has "^copy_exec .*/libnss_files\.so\.2$" "$rlog" && has "^copy_exec .*/libnss_dns\.so\.2$" "$rlog" && has "^copy_file config /etc/hosts$" "$rlog" && has "^copy_exec /sbin/ip /sbin/ip$" "$rlog"'
check "hook: TEE, dm-crypt, dm-integrity, cipher and NIC modules" \
  has "^manual_add_modules .*tdx_guest.*sev-guest.*tsm.*dm_crypt.*algif_skcipher.*xts.*dm_integrity.*authenc.*hmac.*gcm.*virtio_net" "$rlog"

make_root "$root"
rm "$root/etc/cc-fde/client.key"
CCFDE_REAL_PROC=1 DESTDIR=/tmp/dest run in_root "$root" /bin/sh /tmp/hook
check "hook: a file the configuration names is missing: exit 1, no configuration copied" \
  eval 'exit_is 1 && lacks "^copy_file config /etc/cc-fde/" "$rlog" && err_has "profiles/mtls/client_key names /etc/cc-fde/client\.key" && err_has "fde-agent initramfs-files refused"'

make_root "$root"
rm "$root/etc/cc-fde/config.json"
CCFDE_REAL_PROC=1 run in_root "$root" /bin/sh /tmp/hook
check "hook: without a configuration it exits 0 and adds nothing" \
  eval 'exit_is 0 && [ ! -e "$rlog" ]'

# local-top + local-bottom, success
make_root "$root"
FAKE_AGENT_STATUS=0 run in_root "$root" /bin/sh /tmp/local-top
check "local-top: exit 0 when fde-agent succeeds, no panic" eval 'exit_is 0 && lacks "^panic" "$rlog"'
check "local-top: prereqs prints nothing (cryptroot runs after it)" \
  eval '[ -z "$(in_root "$root" /bin/sh /tmp/local-top prereqs)" ]'
check "local-top: raises eth0 (not lo), then configure_networking, then fde-agent unlock --all" \
  eval 'has "^ip link set dev eth0 up$" "$rlog" && lacks "dev lo" "$rlog" && [ "$(grep -nE "^(ip link set dev eth0 up|configure_networking|fde-agent unlock --all)$" "$rlog" | cut -d: -f2 | tr "\n" ,)" = "ip link set dev eth0 up,configure_networking,fde-agent unlock --all," ]'
check "local-top: configure_networking's stdout kept off stdout" lacks "IP-Config" "$work/out"
check "local-top: /etc/crypttab -> /cryptroot/crypttab for the agent's mapping names" \
  eval '[ "$(readlink "$root/etc/crypttab")" = /cryptroot/crypttab ]'
check "local-top: resolv.conf from the DHCP answer (0.0.0.0 left out)" \
  eval 'has "^nameserver 10\.0\.2\.3$" "$root/etc/resolv.conf" && lacks "0\.0\.0\.0" "$root/etc/resolv.conf"'
check "local-top: TEE modules loaded, udev waited for" \
  eval 'has "^modprobe -q tdx_guest$" "$rlog" && has "^wait_for_udev" "$rlog"'
check "local-top: remembers the links it configured" eval 'grep -qx eth0 "$root/run/cc-fde/links"'
: >"$rlog"
run in_root "$root" /bin/sh /tmp/local-bottom
check "local-bottom: flushes and downs eth0, forgets /run/net-eth0.conf and its state" \
  eval 'exit_is 0 && has "^ip addr flush dev eth0$" "$rlog" && has "^ip link set dev eth0 down$" "$rlog" && [ ! -e "$root/run/net-eth0.conf" ] && [ ! -e "$root/run/cc-fde" ]'

for case in "1 failure_action is fail" "2 refused its configuration" "139 ended with status 139"; do
  make_root "$root"
  mkdir -p "$root/proc/sys/kernel"
  FAKE_AGENT_STATUS=${case%% *} run in_root "$root" /usr/bin/timeout 5 /bin/sh /tmp/local-top
  check "local-top: fde-agent exit ${case%% *} -> phase end, cause on kmsg and console, SysRq power-off, no panic shell (${case#* })" \
    eval 'exit_is 124 && has "^fde-agent phase-end$" "$rlog" && has "^<2>cc-fde: .*${case#* }.*; powering off$" "$root/dev/kmsg" && [ "$(cat "$root/proc/sysrq-trigger")" = o ] && lacks "^panic" "$rlog"'
done

make_root "$root"
echo "console=ttyS0 rd.cc-fde=0 ip=dhcp" >"$root/proc/cmdline"
FAKE_AGENT_STATUS=0 run in_root "$root" /bin/sh /tmp/local-top
check "local-top: rd.cc-fde=0 does not skip the agent (the configuration decides whether it may)" \
  eval 'exit_is 0 && has "^fde-agent unlock --all$" "$rlog"'

make_root "$root"
rm "$root/etc/cc-fde/config.json"
run in_root "$root" /bin/sh /tmp/local-top
check "local-top: no configuration -> does nothing" eval 'exit_is 0 && [ ! -e "$rlog" ]'

# A network someone else configured (e.g. dropbear) is left alone by local-bottom.
make_root "$root"
echo 0x1003 >"$root/sys/class/net/eth0/flags"
printf "DEVICE='eth0'\n" >"$root/run/net-eth0.conf"
FAKE_AGENT_STATUS=0 run in_root "$root" /bin/sh /tmp/local-top
: >"$rlog"
run in_root "$root" /bin/sh /tmp/local-bottom
check "local-bottom: a network configured before local-top is left alone" \
  eval 'exit_is 0 && lacks "^ip " "$rlog" && [ -e "$root/run/net-eth0.conf" ]'

# local-bottom ends the initramfs unlock phase first, keeps its marker, and powers off when that
# fails (the fake agent stands in for fde-agent phase-end; the fake /proc records the SysRq).
make_root "$root"
FAKE_AGENT_STATUS=0 run in_root "$root" /bin/sh /tmp/local-top
touch "$root/run/cc-fde/phase-ended"
mkdir -m 0700 "$root/run/cc-fde/unlocks" "$root/run/cc-fde/prompt"
echo '{}' >"$root/run/cc-fde/unlocks/fde-agent@u@root"
: >"$rlog"
run in_root "$root" /bin/sh /tmp/local-bottom
check "local-bottom: fde-agent phase-end first, then the network teardown" \
  eval '[ "$(grep -nE "^(fde-agent|ip addr flush)" "$rlog" | cut -d: -f2 | tr "\n" ,)" = "fde-agent phase-end,ip addr flush dev eth0," ]'
check "local-bottom: the phase-end marker and the unlock marks stay, the rest of /run/cc-fde goes" \
  eval 'exit_is 0 && [ "$(ls -A "$root/run/cc-fde" | tr "\n" " ")" = "phase-ended unlocks " ] && [ -f "$root/run/cc-fde/unlocks/fde-agent@u@root" ]'
echo "console=ttyS0 rd.cc-fde=0" >"$root/proc/cmdline"
: >"$rlog"
run in_root "$root" /bin/sh /tmp/local-bottom
check "local-bottom: rd.cc-fde=0 does not skip the phase end" has "^fde-agent phase-end$" "$rlog"
for case in "1 RTMR3 was not extended" "2 could not load its configuration" "3 ended with status 3"; do
  make_root "$root"
  mkdir -p "$root/proc/sys/kernel"
  FAKE_AGENT_STATUS=0 run in_root "$root" /bin/sh /tmp/local-top
  : >"$rlog"
  FAKE_AGENT_STATUS=${case%% *} run in_root "$root" /usr/bin/timeout 2 /bin/sh /tmp/local-bottom
  check "local-bottom: phase-end exit ${case%% *} -> cause on kmsg and console, SysRq power-off, never returns" \
    eval 'exit_is 124 && has "^<2>cc-fde: .*${case#* }.*; powering off$" "$root/dev/kmsg" && has "${case#* }" "$root/dev/console" && [ "$(cat "$root/proc/sys/kernel/sysrq")" = 1 ] && [ "$(cat "$root/proc/sysrq-trigger")" = o ] && lacks "^ip addr flush" "$rlog"'
done

# ---- shellcheck -------------------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  run shellcheck "$src/dracut/50cc-fde/module-setup.sh" "$src/dracut/50cc-fde/cc-fde-cryptsetup-gate.sh" \
    "$src/initramfs-tools/hooks/cc-fde" \
    "$src/initramfs-tools/scripts/local-top/cc-fde" "$src/initramfs-tools/scripts/local-bottom/cc-fde"
  check "shellcheck: dracut module and initramfs-tools scripts" exit_is 0
else
  skip "shellcheck (not installed)"
fi

finish boot-structure

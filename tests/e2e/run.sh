#!/usr/bin/env bash
# The encrypted-root VM test: builds a Debian 12 guest (cached debootstrap base and flavour
# chroots), installs cc-fde with the project's install rules, provisions a LUKS2 root disk in a
# provisioning VM with `fdectl enroll --format` against devkbs, and boots it under QEMU TCG, where
# the initramfs runs fde-agent, fetches the key from devkbs on the host's 127.0.0.1 (reached only
# through user networking with restrict=on and a guestfwd relay), unlocks the root and switches
# to it. A marker unit in the real root reports the root device and that no key was left behind.
#
# Usage: tests/e2e/run.sh [options] [all|cache]
#   all (default)        the whole test: cache, build, image, provision, boot
#   cache                only build/refresh the cached trees
# Options:
#   --flavour dracut     initramfs flavour (only dracut so far)
#   --build-dir DIR      cc-fde build directory, configured RelWithDebInfo with prefix /usr
#                        (default: build-e2e in the source tree)
#   --keep               keep the work directory (logs, initramfs images, devkbs state) after a
#                        pass; it is always kept after a failure. Disk images are always deleted.
# Environment: CCFDE_E2E_CACHE (default /var/tmp/cc-fde-e2e), CCFDE_E2E_WORK (default: a new
#   directory under /var/tmp), E2E_BOOT_TIMEOUT (180), E2E_PROV_TIMEOUT (240).
# Every cc-fde file in the guest comes from the project's install rules.
# Needs root, and: qemu-system-x86 debootstrap busybox-static cpio e2fsprogs cryptsetup-bin
#   openssl jq curl cmake ninja-build (see scripts/install-deps.sh).
# Exit status: 0 the guest reached its root through cc-fde's unlock; 1 otherwise (the cause is
#   printed, the console logs are in the work directory).
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$E2E_DIR/../.." && pwd)
SUITE=bookworm
CACHE_DIR=${CCFDE_E2E_CACHE:-/var/tmp/cc-fde-e2e}
FLAVOUR=dracut
BUILD_DIR=$SOURCE_DIR/build-e2e
KEEP=0
COMMAND=all

while [ $# -gt 0 ]; do
  case $1 in
    --flavour) FLAVOUR=${2:?}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    all | cache) COMMAND=$1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ "$FLAVOUR" = dracut ] || { echo "run.sh: only --flavour dracut is implemented" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (debootstrap, chroot, bind mounts)" >&2; exit 2; }

WORKDIR=${CCFDE_E2E_WORK:-$(mktemp -d /var/tmp/cc-fde-e2e-work.XXXXXX)}
mkdir -p "$WORKDIR"
: >"$WORKDIR/phases.txt"

# shellcheck source=tests/e2e/lib/common.sh
source "$E2E_DIR/lib/common.sh"
# shellcheck source=tests/e2e/lib/cache.sh
source "$E2E_DIR/lib/cache.sh"
# shellcheck source=tests/e2e/lib/qemu.sh
source "$E2E_DIR/lib/qemu.sh"
# shellcheck source=tests/e2e/lib/kbs.sh
source "$E2E_DIR/lib/kbs.sh"
# shellcheck source=tests/e2e/lib/image.sh
source "$E2E_DIR/lib/image.sh"
# shellcheck source=tests/e2e/lib/provision.sh
source "$E2E_DIR/lib/provision.sh"

ROOT=$WORKDIR/root-$FLAVOUR
PASSED=0
cleanup() {
  local tree
  devkbs_stop
  # A cache tree interrupted while it was being built may still have its bind mounts.
  for tree in "$CACHE_DIR"/*.tmp; do
    [ -d "$tree" ] && chroot_umount "$tree"
  done
  remove_tree "$ROOT"
  rm -f "$WORKDIR"/*.img "$WORKDIR"/*.tar
  if [ "$PASSED" = 1 ] && [ "$KEEP" = 0 ]; then
    rm -rf --one-file-system "$WORKDIR"
  else
    log "work directory kept: $WORKDIR (console logs: *.console.log)"
  fi
}
trap cleanup EXIT

phase_begin cache
chroot=$(flavour_tree "$FLAVOUR")
phase_end
[ "$COMMAND" = cache ] && { PASSED=1; cat "$WORKDIR/phases.txt"; exit 0; }

phase_begin build
# The units name the agent by its configured path, so the prefix must be the guest's (/usr).
cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr -DCCFDE_BUILD_TESTS=OFF -DCCFDE_BUILD_BENCHMARKS=OFF \
  >"$WORKDIR/cmake.log" 2>&1 || die "cmake configure failed (see $WORKDIR/cmake.log)"
cmake --build "$BUILD_DIR" -j2 >"$WORKDIR/build.log" 2>&1 ||
  die "build failed (see $WORKDIR/build.log)"
DEVKBS=$BUILD_DIR/devkbs/devkbs
phase_end

phase_begin root-tree
remove_tree "$ROOT"
cp -a "$chroot" "$ROOT"
rm -f "$ROOT/.complete"
KVER=$(kernel_version "$ROOT")
image_install_ccfde "$ROOT" "$BUILD_DIR"
kbs_make_pki "$WORKDIR/pki"
image_add_test_files "$ROOT" "$WORKDIR/pki/ca.pem"
phase_end

phase_begin "initramfs-$FLAVOUR"
image_dracut "$ROOT" "$KVER" "$WORKDIR/initrd-$FLAVOUR"
listing=$(gzip -dc "$WORKDIR/initrd-$FLAVOUR" | cpio -it --quiet 2>/dev/null) ||
  die "cannot list the initramfs"
for want in usr/sbin/fde-agent etc/cc-fde/config.json etc/cc-fde/kbs-ca.pem \
  'fde-agent.service$' 'libcryptsetup-token-cc-fde.so$'; do
  grep -Eq "$want" <<<"$listing" || die "the initramfs lacks $want"
done
# The admin token never reaches the booted guest.
if grep -q admin-token <<<"$listing" || grep -q admin_token "$ROOT/etc/cc-fde/config.json"; then
  die "the guest carries an admin token"
fi
phase_end

phase_begin root-tar
image_tar "$ROOT" "$WORKDIR/root.tar"
cp "$ROOT/boot/vmlinuz-$KVER" "$WORKDIR/vmlinuz"
phase_end

phase_begin devkbs
kbs_start "$DEVKBS" "$WORKDIR/kbs" "$WORKDIR/pki"
image_config "$WORKDIR/prov-config.json" /etc/cc-fde/admin-token
prov_build_initramfs "$WORKDIR/initrd-prov" "$ROOT" "$KVER" "$WORKDIR/prov-config.json" \
  "$WORKDIR/pki/ca.pem" "$DEVKBS_ADMIN_TOKEN_FILE"
phase_end

phase_begin provision
rm -f "$WORKDIR/root.img"
truncate -s 1536M "$WORKDIR/root.img"
prov_run "$WORKDIR/root.img" "$WORKDIR/root.tar" "$WORKDIR/vmlinuz" "$WORKDIR/initrd-prov" \
  "$E2E_RESOURCE" "$DEVKBS_PORT" "$WORKDIR/provision.console.log" ||
  die "provisioning failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line}"
host_uuid=$(cryptsetup luksUUID "$WORKDIR/root.img")
[ "$host_uuid" = "$PROV_UUID" ] || die "LUKS UUID mismatch: console $PROV_UUID, header $host_uuid"
rm -f "$WORKDIR/root.tar"
phase_end

phase_begin "boot-$FLAVOUR"
UUID=$PROV_UUID
mapfile -t net < <(qemu_netdev "$DEVKBS_PORT")
cmdline="console=ttyS0 rd.luks.uuid=$UUID root=/dev/mapper/luks-$UUID rd.neednet=1 ip=dhcp"
cmdline+=" systemd.show_status=1 panic=-1 module_blacklist=kvm,kvm_amd,kvm_intel"
cmdline+=" rd.luks.options=timeout=10s rd.shell=0 rd.emergency=poweroff"
# shellcheck disable=SC2034  # read by qemu_run
QEMU_MILESTONES=(
  "kernel=Linux version"
  "agent-start=Starting fde-agent.service"
  "network-online=Reached target.*Network is Online"
  "attestation=fde-agent: timeline: attestation ok"
  "key-fetch=fde-agent: timeline: key-fetch ok"
  "activation=fde-agent: timeline: activation ok"
  "cryptsetup-target=Reached target.*Local Encrypted Volumes\.$"
  "switch-root=Starting initrd-switch-root.service|Switching root"
  "marker=E2E-ROOT-REACHED"
)
fail_re='Please enter passphrase|Dependency failed for.*Root Device|Entering emergency'
qemu_run "$WORKDIR/boot-$FLAVOUR.console.log" "${E2E_BOOT_TIMEOUT:-180}" 'E2E-ROOT-REACHED' \
  "$fail_re" 1 \
  -cpu max -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "$WORKDIR/vmlinuz" -initrd "$WORKDIR/initrd-$FLAVOUR" -append "$cmdline" \
  -drive "file=$WORKDIR/root.img,if=virtio,format=raw,cache=unsafe" \
  "${net[@]}" || die "boot failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line}"
phase_end

# The verdict line must show the unlocked root and no key left behind.
marker=$QEMU_VERDICT_LINE
[[ $marker =~ root=/dev/mapper/luks-$UUID ]] || die "root is not the cc-fde mapping: $marker"
[[ $marker =~ dm-uuid=CRYPT-LUKS2- ]] || die "root is not a LUKS2 dm-crypt device: $marker"
[[ $marker =~ initrd-release=absent ]] || die "still in the initramfs: $marker"
[[ $marker =~ keys\.d=\[(\(no directory\))?\] ]] || die "key files left in /run/cryptsetup-keys.d: $marker"
[[ $marker =~ run-key-files=\[\] ]] || die "key files left in /run: $marker"
[ -n "${QEMU_TIMES[agent-start]:-}" ] || die "fde-agent.service did not run in the initramfs"
grep -q "fde-agent: timeline: activation ok .*mapping=luks-$UUID" \
  "$WORKDIR/boot-$FLAVOUR.console.log" || die "the console shows no fde-agent activation of luks-$UUID"

PASSED=1
{
  echo "== e2e $FLAVOUR: PASS ($marker)"
  echo "== phases (host wall clock)"
  cat "$WORKDIR/phases.txt"
  echo "== boot milestones (seconds since QEMU start)"
  for entry in "${QEMU_MILESTONES[@]}"; do
    name=${entry%%=*}
    printf '%-18s %s\n' "$name" "${QEMU_TIMES[$name]:--}"
  done
  awk -v a="${QEMU_TIMES[agent-start]:-0}" -v b="${QEMU_TIMES[activation]:-0}" \
    -v r="${QEMU_TIMES[switch-root]:-0}" -v m="${QEMU_TIMES[marker]:-0}" 'BEGIN {
      printf "agent share: %.2f s (fde-agent.service start to activation ok)\n", b - a
      printf "boot to switch-root: %.2f s; to the marker in the real root: %.2f s\n", r, m }'
} | tee "$WORKDIR/summary.txt"

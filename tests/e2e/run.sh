#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The encrypted-root VM test: builds a Debian 12 guest (cached debootstrap base and flavour
# chroots), installs cc-fde with the project's install rules, provisions LUKS2 root disks in a
# provisioning VM with `fdectl enroll --format` or `--encrypt` against devkbs, and boots them under
# QEMU TCG, where the initramfs (dracut or initramfs-tools) runs fde-agent, fetches the key from
# devkbs on the host's 127.0.0.1 (reached only through user networking with restrict=on and a
# guestfwd relay), unlocks the root and switches to it. A marker unit in the real root reports the
# root device and that no key was left behind. Negative cases boot with the broker refusing, late,
# absent, or presenting a certificate from another CA, and require a bounded end with the cause
# on the console.
#
# Usage: tests/e2e/run.sh [options] [all|cache|CASE...]
#   all (default)        every case of ALL_CASES in lib/cases.sh (dracut-format ...
#                        dracut-integrity ... itools-no-kbs-fail)
#   CASE...              only these cases (also the opt-in bench-integrity, never in `all`)
#   cache                only build/refresh the cached trees
# Options:
#   --build-dir DIR      cc-fde build directory to use; when it is not configured yet it is
#                        configured RelWithDebInfo with prefix /usr (default: build-e2e in the
#                        source tree). An existing one must have CMAKE_INSTALL_PREFIX=/usr.
#   --packages DIR       install cc-fde into the guests from the Debian packages in DIR
#                        (dpkg-buildpackage's cc-fde and cc-fde-dracut / cc-fde-initramfs-tools
#                        .debs, built from the same tree as --build-dir) with apt inside the guest
#                        root, as CI does; without it, with the project's install rules
#                        (cmake --install), for a quick run from a build tree.
#   --keep               keep the work directory (logs, initramfs images, devkbs state) after a
#                        pass; it is always kept after a failure. Disk images are always deleted.
# Environment: CCFDE_E2E_CACHE (default /var/tmp/cc-fde-e2e), CCFDE_E2E_WORK (default: a new
#   directory under /var/tmp), E2E_BOOT_TIMEOUT (240), E2E_NEG_TIMEOUT (240), E2E_PROV_TIMEOUT
#   (300), E2E_ROOT_DISK_SIZE (768M, every root disk).
# Every cc-fde file in the guest comes from the packages (--packages) or the install rules.
# Needs root, and: qemu-system-x86 debootstrap busybox-static cpio e2fsprogs fdisk cryptsetup-bin
#   openssl jq curl cmake ninja-build (see scripts/install-deps.sh).
# Exit status: 0 every case passed; 1 otherwise (the cause is printed, the console logs are in the
#   work directory); 2 bad usage.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$E2E_DIR/../.." && pwd)
SUITE=bookworm
CACHE_DIR=${CCFDE_E2E_CACHE:-/var/tmp/cc-fde-e2e}
BUILD_DIR=$SOURCE_DIR/build-e2e
KEEP=0
PACKAGES_DIR=""
COMMAND=all
CASES=()

while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --packages) PACKAGES_DIR=$(cd "${2:?}" && pwd); shift 2 ;;
    all | cache) COMMAND=$1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option: $1" >&2; exit 2 ;;
    *) CASES+=("$1"); shift ;;
  esac
done
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
# shellcheck source=tests/e2e/lib/snp.sh
source "$E2E_DIR/lib/snp.sh"
# shellcheck source=tests/e2e/lib/provision.sh
source "$E2E_DIR/lib/provision.sh"
# shellcheck source=tests/e2e/lib/cases.sh
source "$E2E_DIR/lib/cases.sh"

[ ${#CASES[@]} -gt 0 ] || CASES=("${ALL_CASES[@]}")
for name in "${CASES[@]}"; do
  case_flavour "$name" >/dev/null
done

PASSED=0
KBS_LATE_SUBSHELL=""
cleanup() {
  local tree
  # Clean-up runs to its end whatever fails on the way (and keeps the script's exit status).
  set +e
  devkbs_stop
  # A devkbs started late by a case that failed before adopting it, and its subshell.
  if [ -s "$WORKDIR/kbs.late.pid" ]; then
    kill "$(cat "$WORKDIR/kbs.late.pid")" 2>/dev/null || true
  fi
  if [ -n "$KBS_LATE_SUBSHELL" ]; then kill "$KBS_LATE_SUBSHELL" 2>/dev/null || true; fi
  # A cache tree interrupted while it was being built may still have its bind mounts.
  for tree in "$CACHE_DIR"/*.tmp "$WORKDIR"/root-*; do
    [ -d "$tree" ] && chroot_umount "$tree"
  done
  for tree in "$WORKDIR"/root-*; do
    [ -d "$tree" ] && remove_tree "$tree"
  done
  rm -f "$WORKDIR"/*.img "$WORKDIR"/*.tar
  if [ "$PASSED" = 1 ] && [ "$KEEP" = 0 ]; then
    rm -rf --one-file-system "$WORKDIR"
  else
    log "work directory kept: $WORKDIR (console logs: *.console.log)"
  fi
}
trap cleanup EXIT
: >"$WORKDIR/results.txt"

phase_begin cache
declare -A flavours=()
for name in "${CASES[@]}"; do
  flavours[$(case_flavour "$name")]=1
done
for flavour in "${!flavours[@]}"; do
  flavour_tree "$flavour" >/dev/null
done
phase_end
[ "$COMMAND" = cache ] && { PASSED=1; cat "$WORKDIR/phases.txt"; exit 0; }

phase_begin build
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  # The units name the agent by its configured path, so the prefix must be the guest's (/usr).
  cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_INSTALL_PREFIX=/usr -DCCFDE_BUILD_TESTS=OFF -DCCFDE_BUILD_BENCHMARKS=OFF \
    >"$WORKDIR/cmake.log" 2>&1 || die "cmake configure failed (see $WORKDIR/cmake.log)"
fi
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
[ "$prefix" = /usr ] ||
  die "$BUILD_DIR is configured with CMAKE_INSTALL_PREFIX=$prefix; the guest's units need /usr"
cmake --build "$BUILD_DIR" -j2 >"$WORKDIR/build.log" 2>&1 ||
  die "build failed (see $WORKDIR/build.log)"
DEVKBS=$BUILD_DIR/devkbs/devkbs
# The predictor that tells the broker which boots to accept (lib/kbs.sh, kbs_pin_boot).
CC_MEASURE=$BUILD_DIR/measure/tools/cc-measure/cc-measure
phase_end

phase_begin devkbs
kbs_make_pki "$WORKDIR/pki"
# The emulated TDX platform of the dracut guest: devkbs trusts its test PCK root, and the policy
# requires its reference values (lib/kbs.sh).
TDX_EMU=$BUILD_DIR/tests/e2e/tdx-emu/cc-fde-tdx-emu
[ -x "$TDX_EMU" ] || die "no $TDX_EMU (libfuse3-dev missing at configure time?)"
"$TDX_EMU" make-platform --out "$WORKDIR/tdx-platform" >"$WORKDIR/tdx-platform.log" 2>&1 ||
  die "cc-fde-tdx-emu make-platform failed (see $WORKDIR/tdx-platform.log)"
# The emulated SEV-SNP platform of the SNP boots (lib/snp.sh): a throwaway ARK -> ASK -> VCEK,
# which devkbs trusts only through its TEST ONLY --test-only-unpinned-snp-ca option.
snp_make_platform "$WORKDIR/snp-platform"
E2E_DEVKBS_OPTIONS="--tdx-root $WORKDIR/tdx-platform/root.pem --snp-ca $WORKDIR/snp-platform/ca.pem"
E2E_DEVKBS_OPTIONS+=" --test-only-unpinned-snp-ca"
E2E_TDX_REFERENCE=$(jq -c . "$WORKDIR/tdx-platform/reference.json")
E2E_SNP_REFERENCE=$(jq -c . "$WORKDIR/snp-platform/reference.json")
kbs_start "$DEVKBS" "$WORKDIR/kbs" "$WORKDIR/pki"
phase_end

for name in "${CASES[@]}"; do
  run_case "$name"
done

PASSED=1
{
  echo "== e2e: PASS (${#CASES[@]} cases)"
  cat "$WORKDIR/results.txt"
  echo "== phases (host wall clock)"
  cat "$WORKDIR/phases.txt"
} | tee "$WORKDIR/summary.txt"

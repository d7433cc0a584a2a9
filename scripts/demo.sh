#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job, end to end, on a fresh Debian 12 machine: installs what is missing, builds cc-fde,
# starts devkbs on 127.0.0.1, provisions a guest whose root filesystem is on LUKS2 with
# `fdectl enroll --format` (in a provisioning VM), and boots it unattended under QEMU (software
# emulation): the initramfs attests, fetches the key, unlocks the root and switches to it. The
# guest's console is streamed; a summary ends the run. This is the VM test's `dracut-format` case
# (tests/e2e/run.sh); the guest trees are cached in /var/tmp/cc-fde-e2e, so a second run is fast.
#
# Usage: sudo bash scripts/demo.sh
# Exit status: 0 the guest reached its root through cc-fde's unlock; non-zero otherwise, with the
# cause on the last lines.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

fail() {
  printf '\ndemo: FAILED: %s\n' "$*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || {
  echo "demo: needs root (packages, debootstrap, chroot); run: sudo bash scripts/demo.sh" >&2
  exit 2
}

printf '== 1/3 installing what is missing (scripts/install-deps.sh)\n'
mkdir -p build
bash scripts/install-deps.sh >build/demo-deps.log 2>&1 ||
  fail "installing packages failed (see build/demo-deps.log)"

printf '== 2/3 building cc-fde (build/demo, install prefix /usr as in the guest)\n'
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DCCFDE_BUILD_TESTS=OFF -DCCFDE_BUILD_BENCHMARKS=OFF >build/demo-cmake.log 2>&1 ||
  fail "cmake configure failed (see build/demo-cmake.log)"
cmake --build build/demo -j "$(nproc)" >build/demo-build.log 2>&1 ||
  fail "build failed (see build/demo-build.log)"

printf '== 3/3 devkbs, provisioning VM, unattended boot of the encrypted-root guest\n'
work=$(mktemp -d /var/tmp/cc-fde-demo.XXXXXX)
status=0
CCFDE_E2E_WORK=$work bash tests/e2e/run.sh --keep --build-dir build/demo dracut-format || status=$?
log=$work/dracut-format.console.log
if [ "$status" -ne 0 ]; then
  fail "the VM test failed (status $status; cause above; logs kept in $work)"
fi

# The agent's own timeline lines, as the guest printed them on its console.
stage_ms() {
  sed -n "s/.*fde-agent: timeline: $1 ok \([0-9]*\) ms.*/\1/p" "$log" | head -n1
}
marker=$(grep -m1 -o 'E2E-ROOT-REACHED.*' "$log")
mapping=$(sed -n 's/.*root=\(\/dev\/mapper\/[^ ]*\).*/\1/p' <<<"$marker")
tee=$(sed -n 's/.*fde-agent: timeline: attestation ok .* tee=\([a-z]*\).*/\1/p' "$log" | head -n1)
to_root=$(sed -n 's/^\[ *\([0-9.]*\)\].*E2E-ROOT-REACHED.*/\1/p' "$log" | head -n1)
cat <<SUMMARY

== demo summary
volume unlocked:   ${mapping:-?} is the root filesystem of the booted guest (LUKS2, dm-crypt)
attestation:       $(stage_ms attestation) ms (evidence: ${tee:-?}; TDX from the test-only configfs-tsm emulation)
key fetch:         $(stage_ms key-fetch) ms
activation:        $(stage_ms activation) ms
boot to root:      ${to_root:-?} s after QEMU started (software emulation, no KVM)
keys left behind:  none (checked from inside the booted guest)
logs:              $work
SUMMARY

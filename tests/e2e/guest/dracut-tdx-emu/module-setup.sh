#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TEST ONLY (tests/e2e): dracut module that puts the configfs-tsm TDX emulation into the
# initramfs of the VM test's guest, so that fde-agent's production `tdx` evidence path runs under
# QEMU TCG. Installed into the guest's modules.d by tests/e2e/lib/image.sh, never by cc-fde's
# install rules. The emulator, its platform files and its unit come from the guest root.
# shellcheck shell=bash disable=SC2154 # moddir, initdir, systemdsystemunitdir come from dracut

check() {
    return 255
}

depends() {
    echo "systemd"
    return 0
}

installkernel() {
    hostonly='' instmods fuse qemu_fw_cfg
}

install() {
    inst_binary /usr/local/sbin/cc-fde-tdx-emu
    inst_multiple /etc/cc-fde-e2e/tdx-platform/chain.pem \
        /etc/cc-fde-e2e/tdx-platform/ccel-table.bin /etc/cc-fde-e2e/tdx-platform/ccel-data.bin \
        /etc/cc-fde-e2e/tdx-platform/reference.json
    inst_simple "$moddir/cc-fde-tdx-emu.service" "$systemdsystemunitdir/cc-fde-tdx-emu.service"
    $SYSTEMCTL -q --root "$initdir" enable cc-fde-tdx-emu.service
}

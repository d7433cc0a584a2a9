#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TEST ONLY (tests/e2e): dracut module that puts the configfs-tsm emulation in its SEV-SNP mode
# (cc-fde-tdx-emu serve --tee snp) into the initramfs of the VM test's SNP boots, so that
# fde-agent's production `snp` evidence path runs under QEMU TCG. Installed into the guest's
# modules.d by tests/e2e/lib/image.sh, never by cc-fde's install rules. The emulator, the SNP
# platform's files (a throwaway VCEK key and certificate) and the unit come from the guest root.
# shellcheck shell=bash disable=SC2154 # moddir, initdir, systemdsystemunitdir come from dracut

check() {
    return 255
}

depends() {
    echo "systemd"
    return 0
}

installkernel() {
    hostonly='' instmods fuse
}

install() {
    inst_binary /usr/local/sbin/cc-fde-tdx-emu
    inst_multiple /etc/cc-fde-e2e/snp-platform/vcek-key.pem /etc/cc-fde-e2e/snp-platform/vcek.der \
        /etc/cc-fde-e2e/snp-platform/reference.json
    inst_simple "$moddir/cc-fde-snp-emu.service" "$systemdsystemunitdir/cc-fde-snp-emu.service"
    $SYSTEMCTL -q --root "$initdir" enable cc-fde-snp-emu.service
}

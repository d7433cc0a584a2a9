#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TEST ONLY (tests/e2e): dracut module that puts the configfs-tsm emulation into the initramfs of
# the VM test's guest, so that fde-agent's production `tdx` or `snp` evidence path runs under QEMU
# TCG. tests/e2e/lib/image.sh installs this file as 99cc-fde-e2e-tdx (the TDX emulation, its
# platform files and the measured boot's fw_cfg items) or 99cc-fde-e2e-snp (the SEV-SNP mode, a
# throwaway VCEK key and certificate), each with its unit, never through cc-fde's install rules;
# the directory's name says which. The emulator, its platform files and its unit come from the
# guest root.
# shellcheck shell=bash disable=SC2154 # moddir, initdir, systemdsystemunitdir come from dracut

# tdx or snp, from the module's directory name.
emulated_tee() {
    echo "${moddir##*-}"
}

check() {
    return 255
}

depends() {
    echo "systemd"
    return 0
}

installkernel() {
    if [ "$(emulated_tee)" = tdx ]; then
        hostonly='' instmods fuse qemu_fw_cfg
    else
        hostonly='' instmods fuse
    fi
}

install() {
    local tee unit
    tee=$(emulated_tee)
    inst_binary /usr/local/sbin/cc-fde-tdx-emu
    case $tee in
        tdx)
            inst_multiple /etc/cc-fde-e2e/tdx-platform/chain.pem \
                /etc/cc-fde-e2e/tdx-platform/ccel-table.bin \
                /etc/cc-fde-e2e/tdx-platform/ccel-data.bin \
                /etc/cc-fde-e2e/tdx-platform/reference.json
            ;;
        snp)
            inst_multiple /etc/cc-fde-e2e/snp-platform/vcek-key.pem \
                /etc/cc-fde-e2e/snp-platform/vcek.der /etc/cc-fde-e2e/snp-platform/reference.json
            ;;
        *)
            derror "cc-fde-e2e: module directory $moddir names no emulated TEE (tdx or snp)"
            return 1
            ;;
    esac
    unit=cc-fde-$tee-emu.service
    inst_simple "$moddir/$unit" "$systemdsystemunitdir/$unit"
    $SYSTEMCTL -q --root "$initdir" enable "$unit"
}

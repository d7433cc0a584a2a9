#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# dracut module 50cc-fde: unattended unlock of cc-fde LUKS2 volumes in a systemd initramfs.
# Installs fde-agent, the LUKS2 token plugin (for systemd-cryptsetup), the configuration and the
# files it names (as `fde-agent initramfs-files` lists them), fde-agent.service and the kernel modules for the TEE interfaces, dm-crypt and the
# NIC. See docs/BOOT-INTEGRATION.md. Functions are sourced by dracut (dracut.modules(7)).
# shellcheck shell=bash disable=SC2154 # moddir, initdir, systemdsystemunitdir ... come from dracut

ccfde_config=/etc/cc-fde/config.json
ccfde_plugin=libcryptsetup-token-cc-fde.so

# ccfde_fatal MESSAGE: ends the image build. dracut (059) does not check install()'s status, so a
# return would still write an image that cannot unlock; install() runs in dracut's own shell, and
# exit ends dracut with an error (its EXIT trap removes its temporary tree).
ccfde_fatal() {
    dfatal "cc-fde: $*"
    exit 1
}

# Included when the host has a cc-fde configuration; otherwise only on request (--add cc-fde).
check() {
    [[ -f "${dracutsysrootdir-}$ccfde_config" ]] && return 0
    return 255
}

depends() {
    local deps="systemd crypt network"
    local dir
    # dracut >= 059 split systemd-cryptsetup (which runs the token plugin) out of crypt.
    for dir in "${dracutbasedir:-/usr/lib/dracut}"/modules.d/[0-9][0-9]systemd-cryptsetup; do
        [[ -d $dir ]] && deps+=" systemd-cryptsetup"
    done
    echo "$deps"
    return 0
}

# The network is needed in the initramfs (network-legacy, NetworkManager, connman read it;
# systemd-networkd's wait-online is enabled anyway).
cmdline() {
    echo "rd.neednet=1"
}

installkernel() {
    # TEE evidence interfaces (configfs-tsm since 6.7, the older ioctl devices), dm-crypt and the
    # kernel crypto API used by libcryptsetup, dm-integrity with the AEAD constructions of
    # `fdectl enroll --format --integrity` (authenc for hmac-sha256, gcm for aes-gcm-random), and
    # the usual NICs of cloud VMs. Missing modules are skipped (older kernels have no tsm);
    # hostonly='' keeps them when the build host lacks them.
    hostonly='' instmods tdx_guest sev-guest tsm configfs dm_crypt algif_skcipher \
        dm_integrity authenc gcm ghash_generic \
        virtio_net virtio_pci e1000 e1000e igb ixgbevf ena gve hv_netvsc
}

install() {
    local unit="" agent file dir
    for dir in "$systemdsystemunitdir" /usr/lib/systemd/system /lib/systemd/system; do
        if [[ -f "${dracutsysrootdir-}$dir/fde-agent.service" ]]; then
            unit="$dir/fde-agent.service"
            break
        fi
    done
    if [[ ! $unit ]]; then
        ccfde_fatal "fde-agent.service is not installed"
    fi
    # The binary the unit runs (its install prefix decides the path).
    agent=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "${dracutsysrootdir-}$unit")
    if [[ ! -x "${dracutsysrootdir-}$agent" ]]; then
        ccfde_fatal "$unit runs '$agent', which is not an executable"
    fi
    inst_binary "$agent"

    # libcryptsetup dlopens the plugin from its token directory (lib/<triplet>/cryptsetup);
    # inst_libdir_file resolves it in every libdir and installs the libraries it links.
    inst_libdir_file "cryptsetup/$ccfde_plugin"
    local plugin_found=""
    for dir in $libdirs; do
        [[ -f "${dracutsysrootdir-}$dir/cryptsetup/$ccfde_plugin" ]] && plugin_found=1
    done
    [[ $plugin_found ]] || dwarn "cc-fde: no cryptsetup/$ccfde_plugin: systemd-cryptsetup cannot use cc-fde tokens"

    if [[ -f "${dracutsysrootdir-}$ccfde_config" ]]; then
        # The configuration and every file it names that the agent reads at boot, from the agent's
        # own parser (never the admin token). An invalid configuration or a missing file fails the
        # build (the agent's message is on stderr) rather than yield an image that cannot unlock.
        local files
        if ! files=$("${dracutsysrootdir-}$agent" initramfs-files --root "${dracutsysrootdir:-/}" \
            --config "$ccfde_config"); then
            ccfde_fatal "fde-agent initramfs-files refused $ccfde_config (see above)"
        fi
        while IFS= read -r file; do
            [[ $file ]] && inst_simple "$file"
        done <<< "$files"
        # The programs it runs at boot (mkfs of unlock.first_boot), with their libraries.
        if ! files=$("${dracutsysrootdir-}$agent" initramfs-files --programs \
            --root "${dracutsysrootdir:-/}" --config "$ccfde_config"); then
            ccfde_fatal "fde-agent initramfs-files --programs refused $ccfde_config (see above)"
        fi
        while IFS= read -r file; do
            [[ $file ]] && inst_binary "$file"
        done <<< "$files"
    else
        dwarn "cc-fde: no $ccfde_config: fde-agent will exit with a configuration error"
    fi

    # Name resolution for broker URLs with a host name (glibc >= 2.34 has files/dns built in; the
    # stubs exist for older ones). IP literals need none of this.
    inst_libdir_file "libnss_files.so.*" "libnss_dns.so.*"
    inst_multiple -o /etc/hosts /etc/nsswitch.conf

    inst_simple "$unit" "$systemdsystemunitdir/fde-agent.service"
    # The end of the initramfs unlock phase, recorded in RTMR3 before switch-root or a failed end.
    local phase_unit="${unit%/*}/cc-fde-phase-end.service"
    if [[ ! -f "${dracutsysrootdir-}$phase_unit" ]]; then
        ccfde_fatal "$phase_unit is not installed"
    fi
    inst_simple "$phase_unit" "$systemdsystemunitdir/cc-fde-phase-end.service"
    # No passphrase or token fallback in systemd-cryptsetup@ without the agent's verdict.
    inst_script "$moddir/cc-fde-cryptsetup-gate.sh" /usr/lib/cc-fde/cryptsetup-gate
    inst_simple "$moddir/cryptsetup-cc-fde.conf" \
        "$systemdsystemunitdir/systemd-cryptsetup@.service.d/50-cc-fde.conf"
    # No shell on the host's console, whatever the kernel command line says: emergency, rescue and
    # dracut's emergency end the boot; the debug shell is masked.
    inst_script "$moddir/cc-fde-boot-failed.sh" /usr/lib/cc-fde/boot-failed
    local shell_unit
    for shell_unit in emergency.service rescue.service dracut-emergency.service; do
        inst_simple "$moddir/emergency-cc-fde.conf" \
            "$systemdsystemunitdir/$shell_unit.d/50-cc-fde.conf"
    done
    mkdir -p "$initdir/etc/systemd/system"
    ln -sf /dev/null "$initdir/etc/systemd/system/debug-shell.service"
    $SYSTEMCTL -q --root "$initdir" enable fde-agent.service cc-fde-phase-end.service

    # Make the network mandatory even without --hostonly-cmdline.
    mkdir -p "$initdir/etc/cmdline.d"
    cmdline > "$initdir/etc/cmdline.d/50cc-fde.conf"
}

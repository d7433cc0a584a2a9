#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh
# Replaces the emergency and rescue shells of the cc-fde initramfs (drop-ins installed by the
# dracut module 50cc-fde). On a confidential VM the console belongs to the host: a root shell there
# after a failed unlock would hand it the initramfs, whatever rd.shell= or rd.emergency= the
# (host-controlled) kernel command line says. The initramfs unlock phase is ended (RTMR3) first,
# then the VM powers off. CCFDE_KMSG, CCFDE_AGENT and CCFDE_POWEROFF are for tests only.
agent=${CCFDE_AGENT:-/usr/sbin/fde-agent}
message="cc-fde: the boot cannot continue (see the lines above); no emergency shell on a confidential VM: powering off"
echo "$message" >&2
echo "<2>$message" >"${CCFDE_KMSG:-/dev/kmsg}" 2>/dev/null || true
"$agent" phase-end </dev/null || true
sync
if [ -n "${CCFDE_POWEROFF:-}" ]; then
    exec $CCFDE_POWEROFF
fi
exec systemctl --force --force poweroff

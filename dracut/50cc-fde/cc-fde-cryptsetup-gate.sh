#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh
# ExecStartPre of every systemd-cryptsetup@ unit in the initramfs (drop-in 50-cc-fde.conf), run
# as `cryptsetup-gate VOLUME` (the mapping name). systemd-cryptsetup may go on only with positive
# evidence, left in this boot by fde-agent, that the agent unlocked this volume (the mapping is
# active: systemd-cryptsetup then exits 0) or deliberately handed it to the passphrase prompt
# (failure_action "prompt"). Anything else (the agent failed, crashed, stalled, was masked or never
# ran, or the volume is one it never saw, such as a disk swapped in without a cc-fde token) means
# no token-plugin fallback and no passphrase prompt: the unit fails and the boot ends.
#
# fde-agent.service is Type=oneshot: systemd starts this unit only after the agent has exited, so
# its verdicts are complete. CCFDE_RUN_DIR and CCFDE_KMSG are for tests only.
run_dir=${CCFDE_RUN_DIR:-/run}
volume=${1:-}

refuse() {
    message="cc-fde: not unlocking ${volume:-this volume} with a passphrase or token fallback: $1"
    echo "$message" >&2
    # The journal is not the console: the kernel log shows the operator why the boot stops.
    echo "<3>$message" >"${CCFDE_KMSG:-/dev/kmsg}" 2>/dev/null || true
    exit 1
}

case "$volume" in
'' | . | .. | *[!A-Za-z0-9_.+-]*) refuse "'$volume' is not a device-mapper name" ;;
esac
verdict_file="$run_dir/cc-fde/verdict/$volume"
if [ ! -f "$verdict_file" ] || [ -L "$verdict_file" ]; then
    refuse "fde-agent left no verdict for it in this boot (it failed, did not run, or never saw this volume)"
fi
read -r verdict uuid <"$verdict_file" || refuse "cannot read $verdict_file"
case "$verdict" in
unlocked)
    [ -e "/dev/mapper/$volume" ] || refuse "fde-agent unlocked it, but /dev/mapper/$volume is gone"
    exit 0
    ;;
prompt)
    echo "cc-fde: fde-agent left $volume (LUKS UUID $uuid) to the passphrase prompt (failure_action prompt)" >&2
    exit 0
    ;;
*) refuse "unknown verdict '$verdict' in $verdict_file" ;;
esac

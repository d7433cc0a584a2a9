#!/bin/sh
# shellcheck shell=sh
# ExecStartPre of every systemd-cryptsetup@ unit in the initramfs (drop-in 50-cc-fde.conf), run
# as `cryptsetup-gate VOLUME`. Exits 1 when fde-agent.service failed, so that with
# failure_action "fail" no volume falls back to the token plugin and the passphrase prompt: the
# unit fails, the root device fails and the initrd enters emergency mode. With "prompt" the agent
# exits 0 and systemd-cryptsetup goes on as usual.
#
# fde-agent.service is Type=notify: its start job (and so the ordering before cryptsetup-pre.target)
# completes at READY=1, which the agent sends just before it exits with its verdict. Wait for that
# exit (SubState leaves "running"; 5 s at most) before reading the result.
waited=0
while [ "$(systemctl show -P SubState fde-agent.service 2>/dev/null)" = running ] &&
    [ "$waited" -lt 50 ]; do
    sleep 0.1
    waited=$((waited + 1))
done
if systemctl -q is-failed fde-agent.service; then
    message="cc-fde: fde-agent.service failed and failure_action is fail: not unlocking ${1:-this volume} with a passphrase"
    echo "$message" >&2
    # The journal is not the console: the kernel log shows the operator why the boot stops
    # (CCFDE_KMSG: tests only).
    echo "<3>$message" >"${CCFDE_KMSG:-/dev/kmsg}" 2>/dev/null || true
    exit 1
fi
exit 0

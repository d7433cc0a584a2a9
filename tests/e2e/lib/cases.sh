# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # KBS_LATE_SUBSHELL, QEMU_MILESTONES: read by run.sh and qemu_run
# The cases of the VM test: positive boots per flavour and provisioning mode, and the negative
# boots (broker refuses, broker late, broker never up with each failure action, wrong CA). Each
# case appends one line to $WORKDIR/results.txt. Sourced by tests/e2e/run.sh after the other libs.

# Every case, in the order `all` runs them. Negative cases reuse the dracut --format disk.
ALL_CASES=(dracut-format dracut-booted dracut-refused dracut-late-kbs dracut-no-kbs-prompt
  dracut-no-kbs-fail dracut-wrong-ca dracut-swapped-root dracut-foreign-resource
  dracut-cmdline-refused dracut-initrd-refused dracut-reencrypt dracut-integrity itools-format
  itools-encrypt itools-no-kbs-fail
  dracut-snp dracut-snp-refused itools-snp dracut-first-boot)
# Opt-in cases, never run by `all` (CI): bench-integrity (scripts/bench-integrity.sh).
OPT_IN_CASES=(bench-integrity)

# Every root disk: dm-integrity's tags (the integrity case), the in-place encryption (--encrypt)
# and the volume-key change (dracut-reencrypt) cover the whole disk (slow under TCG), so it is as
# small as the guest tree (about 420 MiB) comfortably allows.
ROOT_DISK_SIZE=${E2E_ROOT_DISK_SIZE:-768M}

# Bounds of the negative cases: the agent's deadline (rd.cc-fde.timeout and volume-timeout) and
# how long the whole boot may take before the test calls it a hang.
NEG_AGENT_TIMEOUT=20
# The deadline of the cases whose broker is down: they end only when it passes, so it is short.
NEG_UNREACHABLE_TIMEOUT=10
NEG_BOOT_TIMEOUT=${E2E_NEG_TIMEOUT:-240}

# case_flavour CASE: the initramfs flavour a case boots (dracut or initramfs-tools).
case_flavour() {
  case $1 in
    dracut-* | bench-integrity) echo dracut ;;
    itools-*) echo initramfs-tools ;;
    *) die "unknown case $1 (cases: ${ALL_CASES[*]}; opt-in: ${OPT_IN_CASES[*]})" ;;
  esac
}

# record CASE RESULT DETAIL...: one line of the results table.
record() {
  local name=$1 result=$2
  shift 2
  printf '%-22s %-5s %s\n' "$name" "$result" "$*" >>"$WORKDIR/results.txt"
  log "case $name: $result $*"
}

# milestones FLAVOUR: sets QEMU_MILESTONES for a boot of FLAVOUR.
milestones() {
  local common_tail=(
    "attestation=fde-agent: timeline: attestation ok"
    "key-fetch=fde-agent: timeline: key-fetch ok"
    "activation=fde-agent: timeline: activation ok"
  )
  if [ "$1" = dracut ]; then
    QEMU_MILESTONES=(
      "kernel=Linux version"
      "tdx-emu=tdx-emu: serving configfs-tsm"
      "agent-start=Starting fde-agent.service"
      "network-online=Reached target.*Network is Online"
      "${common_tail[@]}"
      "switch-root=Starting initrd-switch-root.service|Switching root"
      "marker=E2E-ROOT-REACHED"
    )
  else
    QEMU_MILESTONES=(
      "kernel=Linux version"
      "agent-start=cc-fde: unlocking volumes"
      "network-online=IP-Config: .* complete"
      "${common_tail[@]}"
      "switch-root=systemd\[1\]: .*running in system mode|Welcome to Debian"
      "marker=E2E-ROOT-REACHED"
    )
  fi
}

# The guest's RAM (-m): all of it below 4 GiB, which the measured kernel's boot header depends on.
E2E_GUEST_MIB=1024

# boot_cmdline FLAVOUR UUID [CMDLINE_EXTRA]: the kernel command line of a boot of FLAVOUR's guest
# from the root volume UUID.
boot_cmdline() {
  local flavour=$1 uuid=$2 extra=${3:-} cmdline
  # No rd.shell=0, rd.emergency= or panic=: the cc-fde initramfs must end a failed boot by itself.
  cmdline="console=ttyS0 module_blacklist=kvm,kvm_amd,kvm_intel ip=dhcp"
  if [ "$flavour" = dracut ]; then
    cmdline+=" rd.luks.uuid=$uuid root=/dev/mapper/luks-$uuid rd.neednet=1 systemd.show_status=1"
    # The passphrase fallback (failure_action prompt) is bounded: no boot waits forever.
    cmdline+=" rd.luks.options=timeout=10s"
  else
    cmdline+=" root=/dev/mapper/cryptroot"
  fi
  [ -n "$extra" ] && cmdline+=" $extra"
  # E2E_EXTRA_CMDLINE: for debugging, e.g. systemd.journald.forward_to_console=1.
  [ -n "${E2E_EXTRA_CMDLINE:-}" ] && cmdline+=" $E2E_EXTRA_CMDLINE"
  printf '%s\n' "$cmdline"
}

# boot_disk FLAVOUR IMG UUID LOG TIMEOUT PASS_RE FAIL_RE STOP_ON_FAIL [CMDLINE_EXTRA]: boots the
# guest of FLAVOUR from IMG (see qemu_run for the verdict) with the flavour's initramfs (E2E_INITRD
# overrides it), E2E_SECOND_DISK as a second virtio disk and E2E_SMBIOS as an -smbios option. A boot with the TDX emulation is measured (tdx_measure_boot) and, unless
# E2E_UNPINNED_BOOT is set, pinned in the broker's policy (kbs_pin_boot).
boot_disk() {
  local flavour=$1 img=$2 uuid=$3 log=$4 timeout=$5 pass_re=$6 fail_re=$7 stop=$8 extra=${9:-}
  local cmdline net initrd=${E2E_INITRD:-$WORKDIR/initrd-$1${INITRD_SUFFIX:-}}
  cmdline=$(boot_cmdline "$flavour" "$uuid" "$extra")
  TDX_BOOT_ARGS=()
  if [ "$flavour" = dracut ] && [ "${INITRD_SUFFIX:-}" != -snp ]; then
    tdx_measure_boot "$initrd" "$cmdline"
    [ -n "${E2E_UNPINNED_BOOT:-}" ] || kbs_pin_boot "$initrd" "$cmdline"
  fi
  mapfile -t net < <(qemu_netdev "$DEVKBS_PORT")
  milestones "$flavour"
  qemu_run "$log" "$timeout" "$pass_re" "$fail_re" "$stop" \
    -cpu max -m "$E2E_GUEST_MIB" -smp 2 -nographic -no-reboot \
    -kernel "$WORKDIR/vmlinuz" -initrd "$initrd" "${TDX_BOOT_ARGS[@]}" \
    -append "$cmdline" -drive "file=$img,if=virtio,format=raw,cache=unsafe" "${net[@]}" \
    ${E2E_SECOND_DISK:+-drive "file=$E2E_SECOND_DISK,if=virtio,format=raw,cache=unsafe"} \
    ${E2E_SMBIOS:+-smbios "$E2E_SMBIOS"}
}

# tdx_measure_boot INITRD CMDLINE: the host's half of the measured boot. The TDX emulation plays
# the firmware (OVMF) and the kernel's EFI stub, which measure what they boot; the host computes
# the CCEL and RTMRs of $WORKDIR/vmlinuz with INITRD and CMDLINE (cc-fde-tdx-emu measure-boot:
# the kernel as QEMU patches it, the command line and the initrd, as cc-measure predict models
# them) and sets TDX_BOOT_ARGS to the -fw_cfg options that hand them to the guest's emulation.
TDX_BOOTS=0
tdx_measure_boot() {
  local initrd=$1 cmdline=$2 dir file
  TDX_BOOTS=$((TDX_BOOTS + 1))
  dir=$WORKDIR/tdx-boot-$TDX_BOOTS
  printf '%s\n' "$cmdline" >"$dir.cmdline"
  "$TDX_EMU" measure-boot --platform "$WORKDIR/tdx-platform" --kernel "$WORKDIR/vmlinuz" \
    --initrd "$initrd" --cmdline-file "$dir.cmdline" --qemu-below-4g-memory "$E2E_GUEST_MIB" \
    --out "$dir" >"$dir.log" 2>&1 || die "cc-fde-tdx-emu measure-boot failed (see $dir.log)"
  TDX_BOOT_ARGS=()
  for file in ccel-table.bin ccel-data.bin reference.json cmdline; do
    TDX_BOOT_ARGS+=(-fw_cfg "name=opt/cc-fde/tdx-boot/$file,file=$dir/$file")
  done
  # The launch binds E2E_INIT_DATA (a Trustee init-data TOML): MRCONFIGID = its SHA-384, as the
  # VMM sets it on real TDX (QEMU's tdx-guest mrconfigid).
  if [ -n "${E2E_INIT_DATA:-}" ]; then
    openssl dgst -sha384 -binary "$E2E_INIT_DATA" >"$dir/mrconfigid" ||
      die "cannot hash the init-data $E2E_INIT_DATA"
    TDX_BOOT_ARGS+=(-fw_cfg "name=opt/cc-fde/tdx-boot/mrconfigid,file=$dir/mrconfigid")
  fi
}

# modified_initrd IN OUT: IN with one file more, appended as a second (gzip) cpio archive, which
# the kernel unpacks over the first: what a host that edits a guest's initramfs produces.
modified_initrd() {
  local extra=$WORKDIR/initrd-extra
  rm -rf "$extra"
  mkdir -p "$extra/etc"
  echo 'a file the host added' >"$extra/etc/host-added"
  { cat "$1" && (cd "$extra" && find . | cpio -o -H newc --quiet | gzip -c); } >"$2" ||
    die "cannot make the modified initramfs $2"
}

# small_luks IMG UUID [RESOURCE]: a 32 MiB LUKS2 image with LUKS UUID UUID and a passphrase the
# host knows (keyslot 0). With RESOURCE: keyslot 1 opens with a random key stored on devkbs as
# RESOURCE, and a cc-fde token names it. The host writes it with cryptsetup (no device-mapper).
small_luks() {
  local img=$1 uuid=$2 resource=${3:-}
  rm -f "$img"
  truncate -s 32M "$img"
  printf 'a passphrase the host knows' >"$WORKDIR/host-passphrase"
  cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --uuid "$uuid" --key-file "$WORKDIR/host-passphrase" "$img" >/dev/null ||
    die "cryptsetup luksFormat $img failed"
  [ -n "$resource" ] || return 0
  head -c 32 /dev/urandom >"$img.key"
  cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$WORKDIR/host-passphrase" --new-key-slot 1 "$img" "$img.key" ||
    die "cryptsetup luksAddKey $img failed"
  devkbs_admin POST "/kbs/v0/resource/$resource" --data-binary @"$img.key" \
    -H 'Content-Type: application/octet-stream' >/dev/null || die "uploading $resource failed"
  printf '{"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default","resource":"%s"}' \
    "$resource" >"$img.token"
  cryptsetup token import --json-file "$img.token" "$img" || die "cryptsetup token import failed"
}

# attest_count: POST /kbs/v0/attest requests devkbs has answered so far (devkbs_log_settled:
# the lines of every request answered before are in the log).
attest_count() {
  devkbs_log_settled >&2
  grep -c 'POST /kbs/v0/attest' "$WORKDIR/kbs.log" || true
}

# check_root_reached NAME MAPPING UUID LOG: the marker line shows the unlocked root (MAPPING on
# the LUKS2 volume UUID), no key left behind, and the console the agent's activation.
check_root_reached() {
  local name=$1 mapping=$2 uuid=$3 log=$4 marker=$QEMU_VERDICT_LINE
  [[ $marker =~ root=/dev/mapper/$mapping\  ]] || die "$name: root is not /dev/mapper/$mapping: $marker"
  [[ $marker =~ dm-uuid=CRYPT-LUKS2-${uuid//-/}- ]] ||
    die "$name: root is not a dm-crypt mapping of LUKS2 volume $uuid: $marker"
  [[ $marker =~ initrd-release=absent ]] || die "$name: still in the initramfs: $marker"
  [[ $marker =~ keys\.d=\[(\(no directory\))?\] ]] ||
    die "$name: key files left in /run/cryptsetup-keys.d: $marker"
  [[ $marker =~ run-key-files=\[\] ]] || die "$name: key files left in /run: $marker"
  [ -n "${QEMU_TIMES[agent-start]:-}" ] || die "$name: fde-agent did not run in the initramfs"
  grep -q "fde-agent: timeline: activation ok .*mapping=$mapping" "$log" ||
    die "$name: the console shows no fde-agent activation of $mapping"
  # With E2E_CHECK_ORIGINS: fdectl status in the booted system counts the root as the agent's
  # (its journal entry under dracut, its unlock mark under initramfs-tools), not as opened outside
  # the broker.
  if [ -n "${E2E_CHECK_ORIGINS:-}" ]; then
    [[ $marker =~ origins=\[([^]]* )?$mapping:opened-by-fde-agent[]\ ] ]] ||
      die "$name: fdectl status does not count $mapping as opened by fde-agent: $marker"
  fi
}

# timing_summary: "to-root Ts agent Ts (attestation A, key B, activation C)" from QEMU_TIMES.
timing_summary() {
  awk -v s="${QEMU_TIMES[agent-start]:-0}" -v a="${QEMU_TIMES[attestation]:-0}" \
    -v k="${QEMU_TIMES[key-fetch]:-0}" -v c="${QEMU_TIMES[activation]:-0}" \
    -v r="${QEMU_TIMES[switch-root]:-0}" -v m="${QEMU_TIMES[marker]:-0}" 'BEGIN {
      printf "switch-root %.1fs, marker %.1fs; agent %.1fs (start %.1f, attestation %.1f, key %.1f, activation %.1f)",
        r, m, c - s, s, a, k, c }'
}

# positive_boot NAME FLAVOUR IMG UUID MAPPING: boots and requires the marker from the real root.
# With E2E_CHECK_ORIGINS set, the guest's marker also reports fdectl status's mapping origins
# (e2e.origins on the command line; it costs seconds under TCG, so only some cases ask for it).
positive_boot() {
  local name=$1 flavour=$2 img=$3 uuid=$4 mapping=$5 log=$WORKDIR/$1.console.log
  phase_begin "boot $name"
  boot_disk "$flavour" "$img" "$uuid" "$log" "${E2E_BOOT_TIMEOUT:-240}" 'E2E-ROOT-REACHED' \
    'Please enter passphrase|Dependency failed for.*Root Device|Entering emergency|Kernel panic|ALERT!' 1 \
    "${E2E_CHECK_ORIGINS:+e2e.origins}" ||
    die "$name: boot failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line} (console: $log)"
  phase_end
  check_root_reached "$name" "$mapping" "$uuid" "$log"
  record "$name" PASS "$(timing_summary)"
}

# negative_boot NAME IMG UUID CAUSE_RE END CMDLINE_EXTRA [FLAVOUR]: boots the disk (dracut by
# default) expecting the unlock to fail. The console must show CAUSE_RE and the root must never
# be reached. END is "poweroff" (the initrd gives up before the timeout: dracut's emergency, which
# rd.emergency=poweroff turns into QEMU's exit, or initramfs-tools' panic, which panic=-1 and
# -no-reboot turn into QEMU's exit) or "prompt" (the passphrase prompt appears; its rd.luks
# timeout then ends the boot the same way).
negative_boot() {
  local name=$1 img=$2 uuid=$3 cause_re=$4 end=$5 extra=$6 flavour=${7:-dracut}
  local log=$WORKDIR/$1.console.log pass_re=""
  [ "$end" = prompt ] && pass_re='Please enter passphrase for disk'
  phase_begin "boot $name"
  # A boot that must fail is never pinned: a case pins the boots it compares against itself.
  E2E_UNPINNED_BOOT=1 QEMU_PASS_GRACE=60 boot_disk "$flavour" "$img" "$uuid" "$log" \
    "$NEG_BOOT_TIMEOUT" "$pass_re" 'E2E-ROOT-REACHED' 1 "$extra" || true
  phase_end
  [ "$QEMU_RESULT" != fail ] || die "$name: the root was reached although the unlock must fail"
  [ "$QEMU_RESULT" != timeout ] ||
    die "$name: the VM did not end within ${NEG_BOOT_TIMEOUT}s (a hang; console: $log)"
  if [ "$end" = prompt ]; then
    [ "$QEMU_RESULT" = pass ] || die "$name: no passphrase prompt appeared (console: $log)"
  else
    [ "$QEMU_RESULT" = exited ] || die "$name: unexpected result $QEMU_RESULT (console: $log)"
    ! grep -q 'Please enter passphrase' "$log" ||
      die "$name: failure_action fail, yet a passphrase prompt appeared (console: $log)"
  fi
  [ "$QEMU_STOPPED" = 0 ] || die "$name: QEMU had to be stopped; the boot did not end by itself"
  local cause
  cause=$(grep -E -m1 "$cause_re" "$log") || die "$name: the console does not show the cause /$cause_re/ (console: $log)"
  # NEG_OTHER_KEYS_FETCHED=1: the refused volume is not the root, whose key may come.
  [ -n "${NEG_OTHER_KEYS_FETCHED:-}" ] || ! grep -q 'fde-agent: timeline: key-fetch ok' "$log" ||
    die "$name: a key was fetched"
  # Without the "[ host ]" and "[ kernel ]" stamps; a broker's refusal from its reason on.
  while [[ $cause == \[* ]]; do cause=${cause#*] }; done
  [[ $cause == *"Access denied by policy: "* ]] && cause="policy: ${cause#*Access denied by policy: }"
  [ ${#cause} -le 200 ] || cause="${cause:0:200}..."
  record "$name" PASS "ended by itself after ${QEMU_ELAPSED}s; cause: $cause"
}

# kbs_set_policy allow|refuse: the resource policy of the root key. refuse asks for evidence the
# guest cannot give (another TEE, or reference values the emulated measurements do not match).
kbs_set_policy() {
  local policy
  policy=$(kbs_policy_json "$1")
  devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
    --data "$policy" >/dev/null || die "setting the devkbs policy ($1) failed"
  KBS_POLICY=$1
}

# kbs_restart [PKI_DIR]: stops devkbs and starts it again on the same port with the same state
# (resources, admin token) and PKI_DIR's server certificate (default: the e2e PKI).
kbs_restart() {
  devkbs_stop
  DEVKBS_LISTEN=127.0.0.1:$DEVKBS_PORT kbs_start "$DEVKBS" "$WORKDIR/kbs" "${1:-$WORKDIR/pki}"
}

# kbs_start_when LOG REGEX DELAY: in the background, starts devkbs (same port and state) DELAY
# seconds after a console line in LOG matches REGEX; its pid goes to $WORKDIR/kbs.late.pid.
kbs_start_when() {
  local log=$1 re=$2 delay=$3
  (
    for _ in $(seq 600); do
      grep -Eq "$re" "$log" 2>/dev/null && break
      sleep 0.5
    done
    # Not a wait for a condition: the broker's lateness is what the case tests.
    sleep "$delay"
    kbs_restart >/dev/null 2>&1
    echo "$DEVKBS_PID" >"$WORKDIR/kbs.late.pid"
    log "devkbs started ${delay}s after /$re/ (pid $DEVKBS_PID)"
    # Keep the subshell (devkbs's parent) alive until devkbs ends, so that it is reaped.
    wait "$DEVKBS_PID"
  ) &
  KBS_LATE_SUBSHELL=$!
}

# run_case NAME: runs one case (the disks and initramfs images it needs are made on first use).
run_case() {
  local name=$1
  case $name in
    dracut-format)
      disk dracut format
      E2E_CHECK_ORIGINS=1 positive_boot "$name" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
      # The production configfs-tsm path produced the evidence devkbs verified.
      grep -q 'fde-agent: timeline: attestation ok .*tee=tdx' "$WORKDIR/$name.console.log" ||
        die "$name: the attestation did not use TDX evidence"
      ;;
    dracut-integrity)
      # Authenticated encryption: provisioned with `fdectl enroll --format --integrity
      # hmac-sha256`; the guest's configuration allows hmac(sha256) (lib/image.sh).
      disk dracut integrity
      local prov_log=$WORKDIR/provision-dracut-integrity.console.log targets
      targets=$(grep -m1 'PROV-INTEGRITY ' "$prov_log") ||
        die "$name: the provisioning VM printed no device-mapper targets"
      [[ $targets == *"luks-$DISK_UUID:crypt:capi:authenc(hmac(sha256),xts(aes))-plain64"* &&
        $targets == *"luks-${DISK_UUID}_dif:integrity"* ]] ||
        die "$name: the provisioned mapping is not dm-crypt with hmac(sha256) over dm-integrity: $targets"
      positive_boot "$name" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
      [[ $QEMU_VERDICT_LINE == *"luks-$DISK_UUID:crypt:capi:authenc(hmac(sha256),xts(aes))-plain64"* &&
        $QEMU_VERDICT_LINE == *"luks-${DISK_UUID}_dif:integrity"* ]] ||
        die "$name: the booted root is not on dm-crypt with hmac(sha256) over dm-integrity: $QEMU_VERDICT_LINE"
      # Host seconds from the enroll step to the unlock step: the format with its tag wipe.
      local wipe
      wipe=$(awk '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t) }
        /PROV-STEP [0-9.]+ enroll$/ { e = t } /PROV-STEP [0-9.]+ unlock$/ { u = t }
        END { printf "%.1f", u - e }' "$prov_log")
      record "$name" PASS "provisioning: fdectl enroll --format --integrity hmac-sha256 of" \
        "$ROOT_DISK_SIZE took ${wipe}s (format + dm-integrity tag wipe)"
      ;;
    bench-integrity)
      integrity_bench
      ;;
    dracut-booted)
      disk dracut format
      # The data volume of the booted system: its key is released only after the phase event.
      small_luks "$WORKDIR/data.img" "$E2E_DATA_UUID" "$E2E_DATA_RESOURCE"
      local log=$WORKDIR/$name.console.log line
      phase_begin "boot $name"
      E2E_SECOND_DISK=$WORKDIR/data.img boot_disk dracut "$DISK_IMG" "$DISK_UUID" "$log" \
        "${E2E_BOOT_TIMEOUT:-240}" 'E2E-LATE ' \
        'Please enter passphrase|Dependency failed for.*Root Device|Entering emergency|Kernel panic|ALERT!' \
        1 "e2e.late=1" ||
        die "$name: boot failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line} (console: $log)"
      phase_end
      line=$QEMU_VERDICT_LINE
      grep -q "initramfs unlock phase ended: RTMR3 extended with 'cc-fde phase-end initramfs-unlock'" \
        "$log" || die "$name: the console does not show the phase-end event"
      [[ $line =~ root-key-exit=1\  ]] ||
        die "$name: the booted system was not refused the root key: $line"
      [[ $line =~ policy_denied.*released\ only\ during\ the\ initramfs\ unlock\ phase.*cc-fde\ phase-end\ initramfs-unlock ]] ||
        die "$name: the refusal does not name the phase event: $line"
      [[ $line =~ data=unlocked\  ]] || die "$name: fde-agent-late.service did not unlock the data volume: $line"
      [[ $line =~ late-agent=success ]] || die "$name: fde-agent-late.service did not succeed: $line"
      [[ $line =~ data-reencrypt=ok\  ]] ||
        die "$name: the online volume-key change of the open data volume failed: $line"
      record "$name" PASS "root key refused after the phase event; data volume unlocked by fde-agent-late, its key changed online"
      ;;
    dracut-swapped-root)
      disk dracut format
      # Same UUID as the root, no cc-fde token, a passphrase the host knows.
      small_luks "$WORKDIR/swapped.img" "$DISK_UUID"
      local before
      before=$(attest_count)
      negative_boot "$name" "$WORKDIR/swapped.img" "$DISK_UUID" \
        "fde-agent: .*required volume $DISK_UUID .* has no cc-fde token" poweroff \
        "rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      [ "$(attest_count)" = "$before" ] || die "$name: evidence was sent to the broker"
      grep -q 'cc-fde: the boot cannot continue' "$WORKDIR/$name.console.log" ||
        die "$name: the boot did not end through cc-fde's own power-off"
      ;;
    dracut-foreign-resource)
      disk dracut format
      # A header that asks this VM's profile for another VM's key.
      small_luks "$WORKDIR/foreign.img" "$DISK_UUID" sibling/fde/root
      local before
      before=$(attest_count)
      negative_boot "$name" "$WORKDIR/foreign.img" "$DISK_UUID" \
        "fde-agent: .*resource sibling/fde/root, which is not in the profile's resources" poweroff \
        "rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      [ "$(attest_count)" = "$before" ] || die "$name: evidence was sent to the broker"
      ;;
    dracut-cmdline-refused)
      disk dracut format
      local before
      before=$(attest_count)
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*rd.cc-fde.url=https://10.0.2.100:8443: the configuration .* does not let the command line set "url"' \
        poweroff "rd.cc-fde.url=https://10.0.2.100:8443 rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT"
      [ "$(attest_count)" = "$before" ] || die "$name: evidence was sent to the broker"
      ;;
    dracut-refused)
      # The measured command line: the broker pins this boot, and the guest boots it with one
      # word more, which moves RTMR2.
      disk dracut format
      local args="rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      kbs_pin_boot "$WORKDIR/initrd-dracut" "$(boot_cmdline dracut "$DISK_UUID" "$args")"
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*policy_denied.*tdx rtmr2 is [0-9a-f]{96}, the policy requires' poweroff \
        "$args e2e.word-the-broker-was-not-told-of"
      ! grep -E 'fde-agent: .*policy_denied' "$WORKDIR/$name.console.log" | grep -q 'rtmr1 is' ||
        die "$name: RTMR1 was refused too, although the kernel and initrd are the pinned ones"
      ;;
    dracut-initrd-refused)
      # The measured initramfs: the broker pins this boot, and the guest boots the same command
      # line with an initramfs the host added a file to. RTMR2 measures the initrd; RTMR1 moves
      # too, as QEMU writes the initrd's size into the kernel header the firmware measures.
      disk dracut format
      local args="rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      kbs_pin_boot "$WORKDIR/initrd-dracut" "$(boot_cmdline dracut "$DISK_UUID" "$args")"
      modified_initrd "$WORKDIR/initrd-dracut" "$WORKDIR/initrd-dracut-modified"
      E2E_INITRD=$WORKDIR/initrd-dracut-modified negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*policy_denied.*tdx rtmr2 is [0-9a-f]{96}, the policy requires' poweroff "$args"
      ;;
    dracut-late-kbs)
      disk dracut format
      devkbs_stop
      local log=$WORKDIR/$name.console.log
      : >"$log"
      kbs_start_when "$log" 'Starting fde-agent.service' 20
      positive_boot "$name" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
      wait_late_kbs
      # The first attempts failed: the key came at least 20 s after the agent started.
      local waited
      waited=$(awk -v s="${QEMU_TIMES[agent-start]}" -v k="${QEMU_TIMES[key-fetch]}" \
        'BEGIN { print k - s }')
      awk -v w="$waited" 'BEGIN { exit !(w >= 20) }' ||
        die "$name: the key was fetched ${waited}s after the agent started, before devkbs was up"
      ;;
    dracut-no-kbs-prompt)
      disk dracut format
      devkbs_stop
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" 'fde-agent: .*left to the passphrase prompt' \
        prompt "rd.cc-fde.failure=prompt rd.cc-fde.timeout=$NEG_UNREACHABLE_TIMEOUT rd.cc-fde.volume-timeout=$NEG_UNREACHABLE_TIMEOUT"
      kbs_restart
      ;;
    dracut-no-kbs-fail)
      disk dracut format
      devkbs_stop
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*(deadline_exceeded|unreachable|timed out)' poweroff \
        "rd.cc-fde.timeout=$NEG_UNREACHABLE_TIMEOUT rd.cc-fde.volume-timeout=$NEG_UNREACHABLE_TIMEOUT"
      grep -q 'cc-fde: not unlocking .* with a passphrase or token fallback' \
        "$WORKDIR/$name.console.log" ||
        die "$name: the console shows no refusal of the passphrase fallback by the cryptsetup gate"
      kbs_restart
      ;;
    dracut-wrong-ca)
      disk dracut format
      # devkbs presents a certificate from another CA than the one in the initramfs.
      kbs_make_pki "$WORKDIR/pki-rogue"
      local before
      before=$(grep -c '/kbs/v0/' "$WORKDIR/kbs.log" || true)
      kbs_restart "$WORKDIR/pki-rogue"
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*(certificate|SSL|TLS|tls)' poweroff \
        "rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      local after
      after=$(grep -c '/kbs/v0/' "$WORKDIR/kbs.log" || true)
      # Only the harness's own policy request went through; the guest never got past TLS.
      [ "$after" -le $((before + 1)) ] || die "$name: devkbs served guest requests over an untrusted chain"
      kbs_restart
      ;;
    dracut-reencrypt)
      disk dracut format
      # The volume-key change, offline, in the provisioning VM (it attests like an operator's
      # host would); then the guest boots with the new key.
      local digests data before_data
      digests=$(cryptsetup luksDump --dump-json-metadata "$DISK_IMG" | jq -c .digests)
      before_data=$(dd if="$DISK_IMG" bs=1M skip=16 count=4 status=none | sha256sum)
      phase_begin "reencrypt dracut-format"
      kbs_set_policy provision
      prov_run "$DISK_IMG" "$WORKDIR/root-dracut.tar" "$WORKDIR/vmlinuz" "$WORKDIR/initrd-prov" \
        "$E2E_RESOURCE_PREFIX-dracut-format" "$DEVKBS_PORT" "$WORKDIR/$name.prov.console.log" \
        reencrypt || die "$name: the volume-key change failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line}"
      kbs_set_policy allow
      phase_end
      grep -q 'PROV-CANARY intact' "$WORKDIR/$name.prov.console.log" ||
        die "$name: the provisioning VM did not confirm the data survived the volume-key change"
      [ "$(cryptsetup luksDump --dump-json-metadata "$DISK_IMG" | jq -c .digests)" != "$digests" ] ||
        die "$name: the header's volume-key digest did not change"
      data=$(dd if="$DISK_IMG" bs=1M skip=16 count=4 status=none | sha256sum)
      [ "$data" != "$before_data" ] || die "$name: the data area was not rewritten"
      positive_boot "$name" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
      ;;
    dracut-snp)
      disk dracut format
      snp_initramfs dracut
      positive_boot "$name" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
      check_snp_evidence "$name"
      ;;
    dracut-snp-refused)
      disk dracut format
      snp_initramfs dracut
      kbs_set_policy refuse
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*policy_denied.*snp measurement' poweroff \
        "rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
      kbs_set_policy allow
      check_snp_evidence "$name"
      ;;
    itools-snp)
      disk initramfs-tools format
      snp_initramfs initramfs-tools
      positive_boot "$name" initramfs-tools "$DISK_IMG" "$DISK_UUID" cryptroot
      check_snp_evidence "$name"
      ;;
    dracut-first-boot)
      first_boot_case
      ;;
    itools-no-kbs-fail)
      disk initramfs-tools format
      devkbs_stop
      negative_boot "$name" "$DISK_IMG" "$DISK_UUID" \
        'fde-agent: .*(deadline_exceeded|unreachable)' poweroff \
        "rd.cc-fde.timeout=$NEG_UNREACHABLE_TIMEOUT rd.cc-fde.volume-timeout=$NEG_UNREACHABLE_TIMEOUT" \
        initramfs-tools
      grep -q 'cc-fde: a volume could not be unlocked and failure_action is fail' \
        "$WORKDIR/$name.console.log" || die "$name: local-top/cc-fde did not stop the boot"
      kbs_restart
      ;;
    itools-format | itools-encrypt)
      disk initramfs-tools "${name#itools-}"
      if [ "$name" = itools-encrypt ]; then
        grep -q 'PROV-CANARY intact' "$WORKDIR/provision-initramfs-tools-encrypt.console.log" ||
          die "$name: the provisioning VM did not confirm the data survived encryption"
      fi
      local check_origins=""
      [ "$name" = itools-format ] && check_origins=1
      E2E_CHECK_ORIGINS=$check_origins positive_boot "$name" initramfs-tools "$DISK_IMG" \
        "$DISK_UUID" cryptroot
      ;;
    *) die "unknown case $name" ;;
  esac
}

# first_boot_case: a per-VM state partition made at the first boot (unlock.first_boot), with the
# VM's key from devkbs's Trustee provisioner plugin. The operator provisions the VM (POST
# provision: its UUID and key); the launch hands the guest an init-data document naming that key
# (SMBIOS OEM string io.systemd.credential.binary:cc-fde.init-data) and binds it into MRCONFIGID.
# Boot 1 finds the partition blank and formats it (RTMR3 first-boot event, key, LUKS2, ext4);
# boot 2 unlocks it normally (the marker finds what boot 1 wrote); boot 3, with the partition
# blanked by the host, is refused by the broker's once-per-VM rule and ends by itself.
first_boot_case() {
  local name=dracut-first-boot state=$WORKDIR/state.img answer uuid id id3 kbs_record
  local init_data=$WORKDIR/init-data.toml log=$WORKDIR/dracut-first-boot.console.log
  disk dracut format
  first_boot_initramfs
  answer=$(devkbs_admin POST /kbs/v0/provisioner/provision -H 'Content-Type: application/json' \
    --data '{"vm_name": "e2e-first-boot"}') || die "$name: provisioning the VM on devkbs failed"
  uuid=$(jq -r .uuid <<<"$answer")
  [ "$(jq -r .resource_path <<<"$answer")" = "default/$uuid/root" ] ||
    die "$name: unexpected provisioning answer: $answer"
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"trustee.kbs.resource" = "kbs+provisioner:///default/%s/root"\n' \
    "$uuid" >"$init_data"
  kbs_record=$WORKDIR/kbs/provisioner/default/$uuid/first-boot.json
  rm -f "$state"
  truncate -s 64M "$state"
  printf 'label: gpt\nsize=56MiB, name="cc-fde-state"\n' | sfdisk --quiet "$state" >/dev/null ||
    die "$name: sfdisk failed"
  local smbios
  smbios="type=11,value=io.systemd.credential.binary:cc-fde.init-data=$(base64 -w0 "$init_data")"

  # Boot 1: the first boot.
  E2E_INIT_DATA=$init_data E2E_SMBIOS=$smbios E2E_SECOND_DISK=$state \
    positive_boot "$name-1" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
  id=$(grep -o -m1 'first boot: /dev/vdb1 (PARTLABEL=cc-fde-state) is blank: wrote a pending LUKS2 header, first-boot id [0-9a-f]*' \
    "$WORKDIR/$name-1.console.log" | awk '{ print $NF }') || true
  [ ${#id} = 32 ] || die "$name: boot 1 did not begin a first boot on the blank partition"
  grep -q "first boot: RTMR3 extended with 'cc-fde first-boot $id'" "$WORKDIR/$name-1.console.log" ||
    die "$name: boot 1 did not record the first-boot event"
  grep -q "first boot: /dev/vdb1 formatted as LUKS2 volume .* ext4 on /dev/mapper/state" \
    "$WORKDIR/$name-1.console.log" || die "$name: boot 1 did not format the state partition"
  [[ $QEMU_VERDICT_LINE == *"state=ext4:boots=1"* ]] ||
    die "$name: boot 1's system did not find its new state file system: $QEMU_VERDICT_LINE"
  [ "$(jq -c . "$kbs_record")" = "{\"established\":false,\"id\":\"$id\"}" ] ||
    die "$name: devkbs's first-boot record after boot 1: $(cat "$kbs_record")"
  first_boot_header "$state" >"$WORKDIR/state-header.txt"
  grep -q '^Subsystem:[[:space:]]*(no subsystem)' "$WORKDIR/state-header.txt" ||
    die "$name: the state header is still pending after boot 1 (see $WORKDIR/state-header.txt)"
  grep -q '"resource":"init-data"' "$WORKDIR/state-header.txt" ||
    die "$name: the state header has no cc-fde token for init-data"

  # Boot 2: a normal unlock of the state volume closes the VM's first-boot window.
  E2E_INIT_DATA=$init_data E2E_SMBIOS=$smbios E2E_SECOND_DISK=$state \
    positive_boot "$name-2" dracut "$DISK_IMG" "$DISK_UUID" "luks-$DISK_UUID"
  ! grep -q 'first boot:' "$WORKDIR/$name-2.console.log" || die "$name: boot 2 took the first-boot path"
  grep -q 'fde-agent: timeline: activation ok .*mapping=state' "$WORKDIR/$name-2.console.log" ||
    die "$name: boot 2 did not unlock the state volume"
  [[ $QEMU_VERDICT_LINE == *"state=ext4:boots=2"* ]] ||
    die "$name: boot 2 did not find boot 1's file on the state volume: $QEMU_VERDICT_LINE"
  [ "$(jq -c . "$kbs_record")" = "{\"established\":true,\"id\":\"$id\"}" ] ||
    die "$name: devkbs's first-boot record after boot 2: $(cat "$kbs_record")"

  # Boot 3: the host blanks the partition to force another first boot.
  local start
  start=$(sfdisk -J "$state" | jq '.partitiontable.partitions[0].start')
  dd if=/dev/zero of="$state" bs=512 seek="$start" count=$((16 * 2048)) conv=notrunc status=none
  # The genuine image and command line (pinned): only the once-per-VM rule refuses it.
  local args="rd.cc-fde.timeout=$NEG_AGENT_TIMEOUT rd.cc-fde.volume-timeout=$NEG_AGENT_TIMEOUT"
  kbs_pin_boot "$WORKDIR/initrd-dracut-first-boot" "$(boot_cmdline dracut "$DISK_UUID" "$args")"
  E2E_INIT_DATA=$init_data E2E_SMBIOS=$smbios E2E_SECOND_DISK=$state NEG_OTHER_KEYS_FETCHED=1 \
    negative_boot "$name-3" "$DISK_IMG" "$DISK_UUID" \
    'fde-agent: .*first-boot volume cc-fde-state: .*already completed its first boot' poweroff \
    "$args"
  grep -q 'fde-agent: timeline: key-fetch ok' "$WORKDIR/$name-3.console.log" ||
    die "$name: boot 3 was refused more than the state key (its measurements are pinned)"
  id3=$(grep -o -m1 'wrote a pending LUKS2 header, first-boot id [0-9a-f]*' \
    "$WORKDIR/$name-3.console.log" | awk '{ print $NF }') || true
  if [ ${#id3} != 32 ] || [ "$id3" = "$id" ]; then
    die "$name: boot 3 did not begin a new first boot (id '$id3', boot 1's $id)"
  fi
  first_boot_header "$state" >"$WORKDIR/state-header-3.txt"
  grep -q "^Subsystem:[[:space:]]*cc-fde-first-boot" "$WORKDIR/state-header-3.txt" ||
    die "$name: the refused boot left no pending header (see $WORKDIR/state-header-3.txt)"
  grep -q '"type":"cc-fde"' "$WORKDIR/state-header-3.txt" &&
    die "$name: the refused boot wrote a cc-fde token"
  [ "$(jq -c . "$kbs_record")" = "{\"established\":true,\"id\":\"$id\"}" ] ||
    die "$name: the refusal changed devkbs's first-boot record: $(cat "$kbs_record")"
  record "$name" PASS "boot 1 formatted the state partition (first-boot id $id)," \
    "boot 2 unlocked it, boot 3 (blanked) refused after ${QEMU_ELAPSED}s"
}

# first_boot_header IMG: `cryptsetup luksDump` and the JSON metadata of the LUKS2 header at the
# start of IMG's first partition (copied out: the host has no loop devices to spare).
first_boot_header() {
  local start hdr=$WORKDIR/state-header.img
  start=$(sfdisk -J "$1" | jq '.partitiontable.partitions[0].start')
  dd if="$1" of="$hdr" bs=512 skip="$start" count=$((16 * 2048)) status=none
  cryptsetup luksDump "$hdr" 2>&1 || true
  cryptsetup luksDump --dump-json-metadata "$hdr" 2>/dev/null | jq -c '.tokens[]?' || true
}

# first_boot_initramfs: the dracut initramfs of first_boot_case, made once per run as
# WORKDIR/initrd-dracut-first-boot and selected for the next boots (INITRD_SUFFIX): the guest's
# TDX configuration plus the init-data from SMBIOS, "init-data" among the profile's resources and
# the state partition in unlock.first_boot. The guest root's configuration is put back afterwards.
first_boot_initramfs() {
  local root=$WORKDIR/root-dracut config
  INITRD_SUFFIX=-first-boot
  [ -f "$WORKDIR/initrd-dracut-first-boot" ] && return 0
  phase_begin "initramfs dracut first-boot"
  config=$root/etc/cc-fde/config.json
  image_config "$config" "" tdx
  jq '.evidence.init_data_smbios = "cc-fde.init-data"
    | .profiles.default.resources += ["init-data"]
    | .unlock.first_boot = [{partlabel: "cc-fde-state", name: "state", resource: "init-data"}]' \
    "$config" >"$config.new" || die "cannot write $config"
  mv "$config.new" "$config"
  image_dracut "$root" "$KVER" "$WORKDIR/initrd-dracut-first-boot" tdx
  gzip -dc "$WORKDIR/initrd-dracut-first-boot" | cpio -it --quiet \
    >"$WORKDIR/initrd-dracut-first-boot.list" 2>/dev/null || die "cannot list the first-boot initramfs"
  check_initramfs_listing "$WORKDIR/initrd-dracut-first-boot.list" usr/sbin/fde-agent \
    etc/cc-fde/config.json 'usr/sbin/mke2fs$' 'usr/sbin/mkfs.ext4$'
  image_config "$config" "" tdx
  phase_end
}

# wait_late_kbs: adopts the devkbs that kbs_start_when started (so that cleanup stops it).
wait_late_kbs() {
  [ -s "$WORKDIR/kbs.late.pid" ] || die "devkbs was never started again"
  DEVKBS_PID=$(cat "$WORKDIR/kbs.late.pid")
  rm -f "$WORKDIR/kbs.late.pid"
}

# disk FLAVOUR MODE: sets DISK_IMG and DISK_UUID to a root disk of FLAVOUR provisioned with MODE
# (format or encrypt), provisioning it on first use, and makes the flavour's initramfs for it.
declare -A DISK_UUIDS=()
disk() {
  local flavour=$1 mode=$2 key=$1-$2 crypttab=""
  DISK_IMG=$WORKDIR/disk-$key.img
  if [ -z "${DISK_UUIDS[$key]:-}" ]; then
    flavour_root "$flavour"
    [ "$flavour" = initramfs-tools ] && crypttab=cryptroot
    phase_begin "provision $key"
    rm -f "$DISK_IMG"
    truncate -s "$ROOT_DISK_SIZE" "$DISK_IMG"
    kbs_set_policy provision
    # The provisioning boot of the dracut --format disk (every dracut case but integrity uses it)
    # also runs the device-mapper branches of the agent's unit tests (lib/provision.sh).
    local dm_tests=""
    [ "$key" = dracut-format ] && prov_dm_tests_built && dm_tests=prov.dmtests=1
    PROV_APPEND=$dm_tests prov_run "$DISK_IMG" "$WORKDIR/root-$flavour.tar" "$WORKDIR/vmlinuz" \
      "$WORKDIR/initrd-prov" "$E2E_RESOURCE_PREFIX-$key" "$DEVKBS_PORT" \
      "$WORKDIR/provision-$key.console.log" "$mode" "$crypttab" ||
      die "provisioning $key failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line}"
    if [ -n "$dm_tests" ]; then
      local dm_line
      dm_line=$(grep -m1 -o 'PROV-DMTESTS .*' "$WORKDIR/provision-$key.console.log") ||
        die "provisioning $key: the device-mapper unit tests did not report"
      record dm-unit-tests PASS "in the provisioning VM of $key: ${dm_line#PROV-DMTESTS }" \
        "($(awk 'match($0, /PROV-STEP [0-9.]+ (dm-tests|network)$/) {
            split(substr($0, RSTART), f, " ")
            if (f[3] == "dm-tests") s = f[2]; else printf "%.1fs guest uptime", f[2] - s }' \
          "$WORKDIR/provision-$key.console.log"))"
    elif [ "$key" = dracut-format ]; then
      record dm-unit-tests SKIP "the build has no unit tests (-DCCFDE_BUILD_TESTS=OFF)"
    fi
    local host_uuid
    host_uuid=$(cryptsetup luksUUID "$DISK_IMG")
    [ "$host_uuid" = "$PROV_UUID" ] || die "LUKS UUID mismatch: console $PROV_UUID, header $host_uuid"
    DISK_UUIDS[$key]=$PROV_UUID
    kbs_set_policy allow
    phase_end
  fi
  DISK_UUID=${DISK_UUIDS[$key]}
  if [ "$flavour" = initramfs-tools ]; then
    # The initramfs-tools image carries the crypttab line with this disk's UUID.
    INITRD_SUFFIX=-$mode
    if [ ! -f "$WORKDIR/initrd-$flavour-$mode" ]; then
      phase_begin "initramfs $key"
      image_initramfs_tools "$WORKDIR/root-$flavour" "$KVER" "$DISK_UUID" \
        "$WORKDIR/initrd-$flavour-$mode"
      check_initramfs_listing "$WORKDIR/initramfs-tools.list" usr/sbin/fde-agent \
        etc/cc-fde/config.json etc/cc-fde/kbs-ca.pem 'scripts/local-top/cc-fde$' \
        'libcryptsetup-token-cc-fde.so$' 'cryptroot/crypttab$' 'dm-crypt.ko' 'dm-integrity.ko'
      phase_end
    fi
  else
    INITRD_SUFFIX=""
  fi
}

# snp_initramfs FLAVOUR: an initramfs of FLAVOUR for the current disk (disk FLAVOUR format) whose
# agent attests with SEV-SNP evidence from the emulation's SNP mode (configuration "tee": "snp",
# platform root /run/snp-emu), made once per run as WORKDIR/initrd-FLAVOUR-snp, and selects it for
# the next boot (INITRD_SUFFIX). The guest root's configuration is put back afterwards; the disk's
# root (its tar was made before) is the same as for the TDX or sample boots.
snp_initramfs() {
  local flavour=$1 root=$WORKDIR/root-$1
  INITRD_SUFFIX=-snp
  [ -f "$WORKDIR/initrd-$flavour-snp" ] && return 0
  phase_begin "initramfs $flavour snp"
  image_config "$root/etc/cc-fde/config.json" "" snp
  if [ "$flavour" = dracut ]; then
    image_add_snp_emu_dracut "$root" "$TDX_EMU" "$WORKDIR/snp-platform"
    image_dracut "$root" "$KVER" "$WORKDIR/initrd-dracut-snp" snp
    gzip -dc "$WORKDIR/initrd-dracut-snp" | cpio -it --quiet >"$WORKDIR/initrd-dracut-snp.list" \
      2>/dev/null || die "cannot list the dracut SNP initramfs"
    check_initramfs_listing "$WORKDIR/initrd-dracut-snp.list" usr/sbin/fde-agent \
      etc/cc-fde/config.json 'cc-fde-snp-emu.service$' 'snp-platform/vcek-key.pem$' 'fuse.ko'
    ! grep -q 'cc-fde-tdx-emu.service$' "$WORKDIR/initrd-dracut-snp.list" ||
      die "the SNP initramfs carries the TDX emulation's unit"
    gzip -dc "$WORKDIR/initrd-dracut-snp" | cpio -i --quiet --to-stdout etc/cc-fde/config.json \
      2>/dev/null | jq -e '.evidence.tee == "snp"' >/dev/null ||
      die "the dracut SNP initramfs's configuration does not say tee snp"
    image_config "$root/etc/cc-fde/config.json" "" tdx
  else
    image_snp_platform "$root" "$TDX_EMU" "$WORKDIR/snp-platform"
    image_itools_snp_emu "$root" add
    image_initramfs_tools "$root" "$KVER" "$DISK_UUID" "$WORKDIR/initrd-initramfs-tools-snp"
    image_itools_snp_emu "$root" remove
    check_initramfs_listing "$WORKDIR/initramfs-tools.list" usr/sbin/fde-agent \
      etc/cc-fde/config.json 'init-premount/cc-fde-e2e-snp$' 'usr/local/sbin/cc-fde-tdx-emu$' \
      'snp-platform/vcek-key.pem$' 'fuse.ko'
    image_config "$root/etc/cc-fde/config.json" "" sample
  fi
  phase_end
}

# check_snp_evidence NAME: the boot attested through the production `snp` path: the emulation
# served configfs-tsm as sev_guest and the agent's attestation line names tee=snp.
check_snp_evidence() {
  local name=$1 log=$WORKDIR/$1.console.log
  grep -q 'tdx-emu: serving configfs-tsm at /run/snp-emu/.* as an SEV-SNP guest' "$log" ||
    die "$name: the console does not show the SEV-SNP emulation serving"
  grep -q 'fde-agent: timeline: attestation .*tee=snp' "$log" ||
    grep -q 'fde-agent: .*tee=snp' "$log" ||
    die "$name: the console shows no SNP attestation by fde-agent"
}

# integrity_bench: the provisioning VM's bench mode on a 96 MiB disk: O_DIRECT throughput of
# plain aes-xts-plain64, hmac-sha256 and aes-gcm-random/aead mappings, printed side by side.
integrity_bench() {
  local img=$WORKDIR/bench.img log=$WORKDIR/bench-integrity.console.log
  flavour_root dracut
  phase_begin "bench integrity"
  rm -f "$img"
  truncate -s 96M "$img"
  prov_run "$img" "$WORKDIR/root-dracut.tar" "$WORKDIR/vmlinuz" "$WORKDIR/initrd-prov" \
    "$E2E_RESOURCE_PREFIX-bench" "$DEVKBS_PORT" "$log" bench ||
    die "the benchmark VM failed: ${QEMU_RESULT}: ${QEMU_VERDICT_LINE:-no verdict line} (console: $log)"
  phase_end
  grep -q 'PROV-BENCH hmac-sha256 ' "$log" || die "no benchmark figures (console: $log)"
  log "integrity throughput under TCG (not hardware figures):"
  sed -n 's/.*PROV-BENCH //p' "$log" | tee -a "$WORKDIR/results.txt"
  record bench-integrity PASS "figures above (from $log)"
}

# check_initramfs_listing LIST PATTERNS...: every pattern matches a line of LIST, and no admin
# token is in the image.
check_initramfs_listing() {
  local list=$1 want
  shift
  for want in "$@"; do
    grep -Eq "$want" "$list" || die "the initramfs lacks $want (listing: $list)"
  done
  ! grep -q admin-token "$list" || die "the initramfs carries an admin token"
}

# flavour_root FLAVOUR: the guest root of FLAVOUR with cc-fde installed, its tar, and (dracut) its
# initramfs, made once per run.
declare -A FLAVOUR_READY=()
flavour_root() {
  local flavour=$1 root=$WORKDIR/root-$1 chroot
  [ -n "${FLAVOUR_READY[$flavour]:-}" ] && return 0
  chroot=$(flavour_tree "$flavour")
  phase_begin "root-tree $flavour"
  remove_tree "$root"
  cp -a "$chroot" "$root"
  rm -f "$root/.complete"
  KVER=$(kernel_version "$root")
  image_install_ccfde "$root" "$flavour"
  # The dracut guest attests with TDX evidence from the configfs-tsm emulation, the
  # initramfs-tools guest with sample evidence.
  if [ "$flavour" = dracut ]; then
    image_add_test_files "$root" "$WORKDIR/pki/ca.pem" tdx
    image_add_tdx_emu "$root" "$TDX_EMU" "$WORKDIR/tdx-platform"
    image_add_late_checks "$root" "$E2E_DRACUT_ROOT_RESOURCE" "$E2E_DATA_UUID"
  else
    image_add_test_files "$root" "$WORKDIR/pki/ca.pem" sample
  fi
  grep -q admin_token "$root/etc/cc-fde/config.json" && die "the guest configuration names an admin token"
  phase_end
  if [ "$flavour" = dracut ]; then
    phase_begin "initramfs dracut"
    image_dracut "$root" "$KVER" "$WORKDIR/initrd-dracut"
    gzip -dc "$WORKDIR/initrd-dracut" | cpio -it --quiet >"$WORKDIR/initrd-dracut.list" 2>/dev/null ||
      die "cannot list the dracut initramfs"
    check_initramfs_listing "$WORKDIR/initrd-dracut.list" usr/sbin/fde-agent \
      etc/cc-fde/config.json etc/cc-fde/kbs-ca.pem 'fde-agent.service$' \
      'cc-fde-tdx-emu.service$' 'fuse.ko' 'qemu_fw_cfg.ko' 'dm-integrity.ko' 'authenc.ko' \
      'libcryptsetup-token-cc-fde.so$' 'systemd-cryptsetup@.service.d/50-cc-fde.conf$'
    phase_end
  fi
  phase_begin "root-tar $flavour"
  image_tar "$root" "$WORKDIR/root-$flavour.tar"
  [ -f "$WORKDIR/vmlinuz" ] || cp "$root/boot/vmlinuz-$KVER" "$WORKDIR/vmlinuz"
  if [ ! -f "$WORKDIR/initrd-prov" ]; then
    image_config "$WORKDIR/prov-config.json" /etc/cc-fde/admin-token
    prov_build_initramfs "$WORKDIR/initrd-prov" "$root" "$KVER" "$WORKDIR/prov-config.json" \
      "$WORKDIR/pki/ca.pem" "$DEVKBS_ADMIN_TOKEN_FILE"
  fi
  phase_end
  FLAVOUR_READY[$flavour]=1
}

# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The broker side of the VM test: a throwaway CA and a server certificate for the address the
# guest dials (10.0.2.100; also 127.0.0.1 so the host's admin requests verify), and devkbs on
# 127.0.0.1 only, started through the CLI tests' helper (tests/cli/lib/devkbs.sh).

# shellcheck source=tests/cli/lib/devkbs.sh
source "$E2E_DIR/../cli/lib/devkbs.sh"

# Resources that hold the root volumes' keys: PREFIX-FLAVOUR-MODE (REPO/TYPE/TAG).
# shellcheck disable=SC2034  # read by lib/cases.sh
E2E_RESOURCE_PREFIX=default/cc-fde/e2e-root

# kbs_make_pki DIR: writes DIR/ca.pem (+ ca.key), DIR/server.pem and DIR/server.key.
kbs_make_pki() {
  local dir=$1
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=cc-fde-e2e-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=10.0.2.100 \
        -keyout "$dir/server.key" -out "$dir/server.csr" &&
      printf 'subjectAltName=IP:10.0.2.100,IP:127.0.0.1\n' >"$dir/server.ext" &&
      openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -out "$dir/server.pem" -extfile "$dir/server.ext"
  ) >"$dir/openssl.log" 2>&1 || die "openssl failed (see $dir/openssl.log)"
  chmod 644 "$dir/ca.pem"
}

# The root key of the dracut guest and the data volume of its booted system (dracut-booted).
E2E_DRACUT_ROOT_RESOURCE=$E2E_RESOURCE_PREFIX-dracut-format
E2E_DATA_RESOURCE=default/cc-fde/e2e-data
# shellcheck disable=SC2034  # used by lib/cases.sh
E2E_DATA_UUID=e2e0da7a-0000-4000-8000-000000000001

# kbs_pin_boot INITRD CMDLINE: adds the RTMR1 and RTMR2 that `cc-measure predict` gives for a
# direct boot of $WORKDIR/vmlinuz with INITRD and CMDLINE to the pinned boots of the "allow" policy
# ($WORKDIR/tdx-pins.json, {"rtmr1": [...], "rtmr2": [...]}: the broker accepts any of them), and
# sets the policy again when it is in force and changed. The broker learns the values from the
# predictor, never from the emulation that measures the boot.
kbs_pin_boot() {
  local initrd=$1 cmdline=$2 pins=$WORKDIR/tdx-pins.json predicted
  printf '%s\n' "$cmdline" >"$WORKDIR/pin.cmdline"
  predicted=$("$CC_MEASURE" predict --kernel "$WORKDIR/vmlinuz" --initrd "$initrd" \
    --cmdline-file "$WORKDIR/pin.cmdline" --qemu-below-4g-memory "$E2E_GUEST_MIB" \
    --format devkbs 2>"$WORKDIR/pin.err") || die "cc-measure predict failed: $(cat "$WORKDIR/pin.err")"
  [ -f "$pins" ] || printf '{"rtmr1": [], "rtmr2": []}\n' >"$pins"
  jq -c --argjson p "$predicted" '.rtmr1 = (.rtmr1 + [$p.tdx.rtmr1] | unique)
    | .rtmr2 = (.rtmr2 + [$p.tdx.rtmr2] | unique)' "$pins" >"$pins.new" ||
    die "cannot add the prediction to $pins"
  if cmp -s "$pins" "$pins.new"; then
    rm -f "$pins.new"
    return 0
  fi
  mv "$pins.new" "$pins"
  if [ "${KBS_POLICY:-}" = allow ] && [ -n "${DEVKBS_PID:-}" ] && kill -0 "$DEVKBS_PID" 2>/dev/null; then
    kbs_set_policy allow
  fi
}

# kbs_policy_json allow|refuse|provision: devkbs's resource policy.
# allow: with the TDX emulation (E2E_TDX_REFERENCE, a JSON object of reference values), the dracut
# root key is released to TDX evidence with the platform's MRTD and RTMR0 and the RTMR1 and RTMR2
# of a pinned boot (kbs_pin_boot; none before the first) only during the initramfs unlock phase
# (release_window initramfs), the data volume's key only after it (after_initramfs); every other
# resource to sample evidence (the initramfs-tools guest) and to such TDX evidence. With the SEV-SNP
# emulation (E2E_SNP_REFERENCE, {"measurement": hex}) the root keys are also released to SNP
# evidence with that MEASUREMENT (debug refused, the policy's default), the dracut root key once
# per launch (the initramfs window of SNP: the first session of a REPORT_ID).
# refuse asks for what the guest cannot show: TDX or SNP only, and with the emulations an RTMR1
# that differs from the emulated measurements and an SNP MEASUREMENT of zeros.
# provision: everything to sample evidence (the provisioning VM enrolls and opens every disk).
kbs_policy_json() {
  local reference=${E2E_TDX_REFERENCE:-} snp=${E2E_SNP_REFERENCE:-null}
  local pins=${WORKDIR:-}/tdx-pins.json
  case $1 in
    allow)
      if [ -n "$reference" ]; then
        # RTMR3 is extended at run time (unlock records, the phase event): never pinned. Before
        # the first pinned boot, RTMR1 and RTMR2 are the sample platform's, which no boot has.
        reference=$(jq -c 'del(.rtmr3)' <<<"$reference")
        [ -s "$pins" ] && reference=$(jq -c --slurpfile pins "$pins" '. + $pins[0]' <<<"$reference")
        jq -cn --argjson ref "$reference" --argjson snp "$snp" \
          --arg root "$E2E_DRACUT_ROOT_RESOURCE" --arg data "$E2E_DATA_RESOURCE" '
          def with_snp(entry): if $snp == null then entry
            else entry + {tees: (entry.tees + ["snp"]), snp: $snp} end;
          {resources: {
            ($root): with_snp({tees: ["tdx"], tdx: $ref, release_window: "initramfs"}),
            ($data): {tees: ["tdx"], tdx: $ref, release_window: "after_initramfs"},
            "*": with_snp({tees: ["sample", "tdx"], tdx: $ref})}}'
      else
        printf '{"resources":{"*":{"tees":["sample"]}}}\n'
      fi
      ;;
    refuse)
      if [ -n "$reference" ]; then
        jq -cn --argjson ref "$(jq -c '.rtmr1 = ("00" * 48)' <<<"$reference")" \
          --argjson snp "$snp" '{resources: {"*": (
            if $snp == null then {tees: ["tdx"], tdx: $ref}
            else {tees: ["tdx", "snp"], tdx: $ref, snp: {measurement: ("00" * 48)}} end)}}'
      else
        printf '{"resources":{"*":{"tees":["tdx"]}}}\n'
      fi
      ;;
    provision) printf '{"resources":{"*":{"tees":["sample"]}}}\n' ;;
    *) die "kbs_policy_json: unknown policy $1" ;;
  esac
}

# kbs_start DEVKBS STATE_DIR PKI_DIR [devkbs options...]: starts devkbs on 127.0.0.1 (a free
# port, or DEVKBS_LISTEN) with the PKI's server certificate and sample evidence allowed (plus
# E2E_DEVKBS_OPTIONS), and sets the "allow" policy. Sets DEVKBS_PORT (and the DEVKBS_* of the
# helper). devkbs logs every request (DEVKBS_LOG_REQUESTS=1) into STATE_DIR.log.
kbs_start() {
  local binary=$1 state=$2 pki=$3 extra=()
  shift 3
  read -r -a extra <<<"${E2E_DEVKBS_OPTIONS:-}"
  DEVKBS_LOG_REQUESTS=1 devkbs_start "$binary" "$state" --tls-cert "$pki/server.pem" \
    --tls-key "$pki/server.key" --allow-sample "${extra[@]}" "$@" ||
    die "devkbs did not start (see $state.log)"
  DEVKBS_CA=$pki/ca.pem
  DEVKBS_PORT=$(jq -r .port "$state.json")
  devkbs_admin POST /kbs/v0/resource-policy -H 'Content-Type: application/json' \
    --data "$(kbs_policy_json allow)" >/dev/null || die "setting the devkbs policy failed"
  KBS_POLICY=allow
  log "devkbs listening on 127.0.0.1:$DEVKBS_PORT (pid $DEVKBS_PID)"
}

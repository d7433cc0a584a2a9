# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The emulated SEV-SNP platform of the VM test's SNP boots (TEST ONLY): a throwaway AMD-style
# chain ARK -> ASK -> VCEK made with openssl, the VCEK carrying the AMD extensions the verifier
# checks (measure/src/snp/snp_verify.cpp: product name, blSPL, teeSPL, snpSPL, ucodeSPL, hwID),
# and the launch MEASUREMENT the emulation reports. cc-fde-tdx-emu (`serve --tee snp`) signs its
# reports with the VCEK key and takes CHIP_ID and the TCB from the VCEK's extensions; devkbs
# trusts the ARK only through its TEST ONLY --test-only-unpinned-snp-ca option. ARK and ASK are
# EC P-384 here (AMD's are RSA-4096 with RSASSA-PSS): only the chain's structure matters to the
# test, and EC keys are generated in milliseconds.

# The VCEK's product and SPLs (Genoa layout: boot loader, TEE, SNP, microcode).
SNP_EMU_PRODUCT=Genoa
SNP_EMU_SPL_BL=10
SNP_EMU_SPL_TEE=0
SNP_EMU_SPL_SNP=23
SNP_EMU_SPL_UCODE=84
# MEASUREMENT = SHA-384 of this text.
SNP_EMU_MEASUREMENT_SEED="cc-fde e2e snp launch"

# snp_make_platform DIR: writes DIR/vcek-key.pem (mode 0600), DIR/vcek.der and
# DIR/reference.json ({"measurement": hex}, a devkbs policy's "snp" object) for the emulation, and
# DIR/ca.pem (ASK then ARK, for devkbs --snp-ca).
snp_make_platform() {
  local dir=$1 chip_id subject="/OU=cc-fde e2e TEST ONLY/O=not AMD" measurement
  mkdir -p "$dir"
  chip_id=$(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')
  cat >"$dir/openssl.cnf" <<CNF
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[vcek_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
1.3.6.1.4.1.3704.1.1 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:$SNP_EMU_PRODUCT
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:$SNP_EMU_SPL_BL
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:$SNP_EMU_SPL_TEE
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:$SNP_EMU_SPL_SNP
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:$SNP_EMU_SPL_UCODE
1.3.6.1.4.1.3704.1.4 = DER:$chip_id
CNF
  (
    umask 077
    set -e
    for name in ark ask vcek; do
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$dir/$name-key.pem"
    done
    openssl req -x509 -new -key "$dir/ark-key.pem" -subj "$subject/CN=ARK-$SNP_EMU_PRODUCT" \
      -days 2 -sha384 -config "$dir/openssl.cnf" -extensions ca_ext -out "$dir/ark.pem"
    openssl req -new -key "$dir/ask-key.pem" -subj "$subject/CN=SEV-$SNP_EMU_PRODUCT" \
      -out "$dir/ask.csr"
    openssl x509 -req -in "$dir/ask.csr" -CA "$dir/ark.pem" -CAkey "$dir/ark-key.pem" \
      -CAcreateserial -days 2 -sha384 -extfile "$dir/openssl.cnf" -extensions ca_ext \
      -out "$dir/ask.pem"
    openssl req -new -key "$dir/vcek-key.pem" -subj "$subject/CN=SEV-VCEK" -out "$dir/vcek.csr"
    openssl x509 -req -in "$dir/vcek.csr" -CA "$dir/ask.pem" -CAkey "$dir/ask-key.pem" \
      -CAcreateserial -days 2 -sha384 -extfile "$dir/openssl.cnf" -extensions vcek_ext \
      -outform DER -out "$dir/vcek.der"
    cat "$dir/ask.pem" "$dir/ark.pem" >"$dir/ca.pem"
  ) >"$dir/openssl.log" 2>&1 || die "openssl failed making the SNP test chain (see $dir/openssl.log)"
  chmod 644 "$dir/ca.pem" "$dir/vcek.der"
  measurement=$(printf '%s' "$SNP_EMU_MEASUREMENT_SEED" | openssl dgst -sha384 -r | cut -d' ' -f1)
  printf '{"measurement": "%s"}\n' "$measurement" >"$dir/reference.json"
}

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of the cc-measure command line: exit statuses, JSON output and error messages,
# on the test vectors the repository carries (tests/data; an absent one fails) and on synthetic
# evidence.
# Usage: cc-measure-test.sh CC_MEASURE SAMPLE_EVIDENCE_TOOL TESTDATA_DIR
set -uo pipefail

cc_measure=${1:?cc-measure binary}
sample_tool=${2:?ccfde-sample-evidence binary}
testdata=${3:?test data folder}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
skipped=0

# expect NAME STATUS [grep-pattern-on-stdout+stderr] -- cc-measure args...
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  "$cc_measure" "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"
    sed 's/^/  | /' "$work/err" | head -n 5
    failed=$((failed + 1))
    return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$work/out" "$work/err"; then
    echo "FAIL $name: output lacks /$pattern/"
    head -c 600 "$work/out" | sed 's/^/  | /'
    sed 's/^/  | /' "$work/err" | head -n 5
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name"
  passed=$((passed + 1))
}

# json_equals NAME JQ-FILTER EXPECTED: checks the last command's stdout.
json_equals() {
  local name=$1 filter=$2 want=$3 got
  got=$(jq -r "$filter" "$work/out" 2>&1)
  if [ "$got" = "$want" ]; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $filter = '$got', expected '$want'"
    failed=$((failed + 1))
  fi
}

# --- synthetic evidence: always available ---
if ! "$sample_tool" "$work/sample" >/dev/null; then
  echo "FAIL cannot generate synthetic evidence"
  exit 1
fi
s=$work/sample
expect "synthetic replay matches its quote" 0 '"match": true' -- \
  replay --eventlog "$s/ccel.bin" --quote "$s/quote.bin" --json
expect "synthetic replay mismatch exits 1 and names RTMR2" 1 'RTMR2' -- \
  replay --eventlog "$s/ccel.bin" --quote "$s/quote-mismatch.bin" --json
json_equals "mismatch JSON says no match" '.match' false
expect "synthetic quote verifies to its test root" 0 '"result": "verified"' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --json
expect "synthetic quote refused by the Intel root" 1 'untrusted_root' -- \
  verify "$s/quote.bin" --at 2026-06-01T00:00:00Z
expect "synthetic quote refused by another test root" 1 '' -- \
  verify "$s/quote.bin" --root "$s/root-mismatch.pem" --at 2026-06-01T00:00:00Z
expect "synthetic chain expired in 2041" 1 'certificate_expired' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2041-01-01T00:00:00Z
expect "without --collateral the output says TCB status was not checked" 0 'collateral.*not checked' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --json
expect "synthetic collateral: UpToDate" 0 '"tcb_status": "UpToDate"' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --collateral "$s/collateral" --json
json_equals "matched TCB level is the first" '.collateral.tcb_level_index' 0
expect "synthetic collateral: OutOfDate refused by default" 1 'policy_violation.*OutOfDate is not accepted' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --collateral "$s/collateral-outofdate"
expect "synthetic collateral: OutOfDate accepted when listed" 0 '"tcb_status": "OutOfDate"' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z \
  --collateral "$s/collateral-outofdate" --accept-tcb-status UpToDate,OutOfDate --json
json_equals "OutOfDate is the second level" '.collateral.tcb_level_index' 1
expect "synthetic collateral: revoked PCK certificate" 1 'certificate_revoked.*PCK CRL' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --collateral "$s/collateral-revoked"
expect "synthetic collateral expired in 2027" 1 'collateral_expired' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2027-02-01T00:00:00Z --collateral "$s/collateral"
expect "Revoked cannot be accepted" 2 'Revoked cannot be accepted' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --collateral "$s/collateral" \
  --accept-tcb-status UpToDate,Revoked
expect "--accept-tcb-status without --collateral: exit 2" 2 'needs --collateral' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --accept-tcb-status UpToDate
expect "missing collateral file: exit 2" 2 'not_found.*tcb_info.json' -- \
  verify "$s/quote.bin" --root "$s/root.pem" --at 2026-06-01T00:00:00Z --collateral "$work"
expect "show synthetic quote" 0 '"type": "tdx_quote"' -- show "$s/quote.bin" --json
expect "eventlog lists the synthetic events" 0 '' -- eventlog "$s/ccel.bin" --json
json_equals "synthetic log has 7 events" '.log.events | length' 7

head -c 700 "$s/quote.bin" >"$work/truncated.bin"
expect "truncated quote: exit 2, names the offset" 2 'truncated: .*offset 63[0-9]' -- \
  show "$work/truncated.bin"
expect "missing file: exit 2" 2 'not_found' -- show "$work/does-not-exist"
printf 'hello world, not evidence' >"$work/text.bin"
expect "unknown bytes: exit 2" 2 'neither a TDX quote' -- show "$work/text.bin"
expect "bad --at: exit 2" 2 'RFC 3339' -- verify "$s/quote.bin" --at yesterday
expect "missing --at: usage error, exit 2" 2 '' -- verify "$s/quote.bin"
expect "bad --report-data: exit 2" 2 'report-data' -- quote --report-data zz
expect "json error object" 2 '"code": "not_found"' -- show "$work/nope" --json
expect "help works" 0 'replay' -- --help

mkdir -p "$work/empty-platform"
expect "info on a machine without TEE" 0 '' -- info --json --platform-root "$work/empty-platform"
json_equals "info says no TEE" '.tee' none
expect "quote without TEE: exit 2" 2 'unsupported' -- quote --platform-root "$work/empty-platform"
expect "sample quote is loudly named" 0 'WARNING.*sample' -- \
  quote --sample --report-data 00112233 --platform-root "$work/empty-platform"

# --- the test vectors (tests/data) ---
t=$testdata
vectors=(go-tdx-guest/ccel_data.dat go-tdx-guest/cos-113-tdx-quote.dat
  go-tdx-guest/quote_v5_sample.dat go-tdx-guest/tdx_prod_quote_SPR_E4.dat evidence-api/ccel_data.bin
  evidence-api/ima_log.bin evidence-api/quote.bin go-eventlog/cos-101-amd-sev.bin
  go-sev-guest/ask_ark_genoa.pem virtee-sev/report_milan.hex virtee-sev/vcek_milan.der
  virtee-sev/cert_chain_milan trustee/deps/verifier/test_data/tdx_quote_4.dat
  trustee/deps/verifier/test_data/snp/test-report.bin trustee/deps/verifier/test_data/snp/test-vcek.der)
for v in "${vectors[@]}"; do
  if [ ! -f "$t/$v" ]; then
    echo "FAIL test vector $t/$v is absent (the repository carries it in tests/data)"
    failed=$((failed + 1))
  fi
done
expect "go-tdx-guest CCEL replays to the COS113 quote" 0 '"match": true' -- \
  replay --eventlog "$t/go-tdx-guest/ccel_data.dat" --quote "$t/go-tdx-guest/cos-113-tdx-quote.dat" --json
expect "evidence-api CCEL + IMA replays to its quote" 0 '"match": true' -- \
  replay --eventlog "$t/evidence-api/ccel_data.bin" --ima "$t/evidence-api/ima_log.bin" \
  --quote "$t/evidence-api/quote.bin" --json
expect "evidence-api CCEL without IMA: RTMR2 mismatch" 1 'RTMR2' -- \
  replay --eventlog "$t/evidence-api/ccel_data.bin" --quote "$t/evidence-api/quote.bin"
expect "go-tdx-guest CCEL against another quote: exit 1" 1 'RTMR0' -- \
  replay --eventlog "$t/go-tdx-guest/ccel_data.dat" --quote "$t/evidence-api/quote.bin"
expect "TPM2 log replays to PCRs" 0 '' -- replay --eventlog "$t/go-eventlog/cos-101-amd-sev.bin" --json
json_equals "TPM2 log kind" '.kind' tpm2
expect "TPM2 log with --quote is refused" 2 'TPM2 log' -- \
  replay --eventlog "$t/go-eventlog/cos-101-amd-sev.bin" --quote "$t/go-tdx-guest/cos-113-tdx-quote.dat"
expect "eventlog dump of the COS113 CCEL" 0 '' -- eventlog "$t/go-tdx-guest/ccel_data.dat" --json
json_equals "COS113 CCEL has 43 records" '.log.events | length' 43
expect "show v5 quote" 0 '' -- show "$t/go-tdx-guest/quote_v5_sample.dat" --json
json_equals "v5 quote version" '.quote.header.version' 5
expect "show SNP report from hex text" 0 '"type": "snp_report"' -- show "$t/virtee-sev/report_milan.hex" --json
for q in go-tdx-guest/tdx_prod_quote_SPR_E4.dat go-tdx-guest/quote_v5_sample.dat \
  go-tdx-guest/cos-113-tdx-quote.dat trustee/deps/verifier/test_data/tdx_quote_4.dat; do
  expect "verify $q at 2026-06-01" 0 'verified' -- verify "$t/$q" --at 2026-06-01T00:00:00Z
  expect "verify $q at 2034-01-01 fails" 1 'certificate_expired' -- verify "$t/$q" --at 2034-01-01T00:00:00Z
done
expect "v5 not yet valid at 2026-01-01" 1 'certificate_expired' -- \
  verify "$t/go-tdx-guest/quote_v5_sample.dat" --at 2026-01-01T00:00:00Z
expect "pre-production quote refused by the production root" 1 'untrusted_root' -- \
  verify "$t/evidence-api/quote.bin" --at 2026-06-01T00:00:00Z
expect "T4 debug TD refused with --forbid-debug" 1 'policy_violation' -- \
  verify "$t/trustee/deps/verifier/test_data/tdx_quote_4.dat" --at 2026-06-01T00:00:00Z --forbid-debug
# Intel's collateral for the SPR_E4 platform, under the file names --collateral reads.
c=$t/go-tdx-guest/collateral
mkdir -p "$work/intel-collateral"
for pair in sample_tcbInfo_response:tcb_info.json tcb_info_issuer_chain:tcb_info_issuer_chain.pem \
  sample_qeIdentity_response:qe_identity.json qe_identity_issuer_chain:qe_identity_issuer_chain.pem \
  pckcrl:pck_crl.der pck_crl_issuer_chain:pck_crl_issuer_chain.pem rootcrl.der:root_ca_crl.der; do
  if ! cp "$c/${pair%%:*}" "$work/intel-collateral/${pair#*:}"; then
    echo "FAIL test vector $c/${pair%%:*} is absent"
    failed=$((failed + 1))
  fi
done
expect "SPR_E4 with Intel's collateral: all checks pass but no TCB level matches" 1 \
  'collateral_mismatch.*no level is met by CPUSVN components 0303020202010002' -- \
  verify "$t/go-tdx-guest/tdx_prod_quote_SPR_E4.dat" --at 2023-07-01T01:00:00Z \
  --collateral "$work/intel-collateral"
expect "SPR_E4 with Intel's collateral after the PCK CRL's nextUpdate" 1 'collateral_expired.*PCK CRL' -- \
  verify "$t/go-tdx-guest/tdx_prod_quote_SPR_E4.dat" --at 2023-07-10T00:00:00Z \
  --collateral "$work/intel-collateral"
snp=$t/trustee/deps/verifier/test_data/snp
expect "SNP report verifies to ARK-Milan" 0 'verified' -- verify "$snp/test-report.bin" \
  --vcek "$snp/test-vcek.der" --chain "$t/virtee-sev/cert_chain_milan" --at 2026-06-01T00:00:00Z
expect "SNP Milan VCEK against the Genoa chain fails" 1 '' -- verify "$snp/test-report.bin" \
  --vcek "$snp/test-vcek.der" --chain "$t/go-sev-guest/ask_ark_genoa.pem" --at 2026-06-01T00:00:00Z
expect "SNP verify needs --vcek and --chain" 2 'needs --vcek' -- \
  verify "$snp/test-report.bin" --at 2026-06-01T00:00:00Z
expect "SNP VM report (hex) verifies" 0 'verified' -- verify "$t/virtee-sev/report_milan.hex" \
  --vcek "$t/virtee-sev/vcek_milan.der" --chain "$t/virtee-sev/cert_chain_milan" --at 2026-06-01T00:00:00Z

# --- predict: the RTMR1/RTMR2 of an OVMF direct boot, checked against values computed here from
# the PE image's Authenticode SHA-384 that osslsigncode gave (tests/data/debian/PROVENANCE.md) ---
pe=$t/debian/fwupdx64.efi.signed
authenticode384=fcb0e9b505767de0fdcfbd624ac09fdfba3286e41a38e084987dddfeeedc598f47d9fac9718289f39f74dece76b3ae81
head -c 3000 "$pe" >"$work/initrd.img"
read -r want_rtmr1 want_rtmr2 < <(python3 - "$authenticode384" "$work/initrd.img" <<'PY'
import hashlib, sys
def extend(value, digest):
    return hashlib.sha384(value + digest).digest()
h = lambda data: hashlib.sha384(data).digest()
rtmr1 = bytes(48)
for d in [bytes.fromhex(sys.argv[1]), h(b"Calling EFI Application from Boot Option"),
          h(b"Exit Boot Services Invocation"), h(b"Exit Boot Services Returned with Success")]:
    rtmr1 = extend(rtmr1, d)
options = ("console=ttyS0 root=/dev/vda" + " initrd=initrd" + "\0").encode("utf-16-le")
rtmr2 = extend(extend(bytes(48), h(options)), h(open(sys.argv[2], "rb").read()))
print(rtmr1.hex(), rtmr2.hex())
PY
)
expect "predict a direct boot" 0 '' -- predict --kernel "$pe" --initrd "$work/initrd.img" \
  --cmdline "console=ttyS0 root=/dev/vda" --json
json_equals "predict: RTMR1" .rtmr1 "$want_rtmr1"
json_equals "predict: RTMR2" .rtmr2 "$want_rtmr2"
json_equals "predict: the kernel's Authenticode digest" '.events[0].digest' "$authenticode384"
printf 'console=ttyS0 root=/dev/vda\n' >"$work/cmdline"
expect "predict: devkbs policy fragment, command line from a file" 0 '' -- predict \
  --kernel "$pe" --initrd "$work/initrd.img" --cmdline-file "$work/cmdline" --format devkbs
json_equals "predict: devkbs rtmr2" .tdx.rtmr2 "$want_rtmr2"
expect "predict: Trustee RVPS message" 0 '' -- predict --kernel "$pe" \
  --initrd "$work/initrd.img" --cmdline "console=ttyS0 root=/dev/vda" --format trustee
json_equals "predict: Trustee rtmr_1" '.payload | @base64d | fromjson | .rtmr_1[0]' "$want_rtmr1"
json_equals "predict: Trustee tdvfkernel" '.payload | @base64d | fromjson | .tdvfkernel' \
  "$authenticode384"
expect "predict: an extra command-line word changes RTMR2" 0 '' -- predict --kernel "$pe" \
  --initrd "$work/initrd.img" --cmdline "console=ttyS0 root=/dev/vda single" --json
got_rtmr2=$(jq -r .rtmr2 "$work/out")
if [ "$got_rtmr2" != "$want_rtmr2" ]; then
  echo "ok   predict: RTMR2 differs with an extra word"
  passed=$((passed + 1))
else
  echo "FAIL predict: RTMR2 unchanged by an extra word"
  failed=$((failed + 1))
fi
expect "predict: missing kernel file" 2 'not_found' -- predict --kernel "$work/nope"
head -c 4096 /dev/zero | tr '\0' 'x' >"$work/not-pe"
expect "predict: not a PE image, named" 2 'malformed: .*not-pe.*MZ' -- predict --kernel "$work/not-pe"
expect "predict: not a bzImage for the QEMU header" 2 'HdrS' -- \
  predict --kernel "$pe" --qemu-below-4g-memory 1024
expect "predict: --cmdline and --cmdline-file exclude each other" 2 '' -- \
  predict --kernel "$pe" --cmdline x --cmdline-file "$work/cmdline"
printf 'a\nb\n' >"$work/two-lines"
expect "predict: a command-line file with two lines" 2 'line break' -- \
  predict --kernel "$pe" --cmdline-file "$work/two-lines"

# --- predict --snp: the SEV-SNP launch digest, against virtee/sev-snp-measure tests/test_guest.py
# (test_snp_default; kernel and initrd are empty files there too) at the commit in
# tests/data/virtee-sev-snp-measure/PROVENANCE.md ---
ovmf=$t/virtee-sev-snp-measure/ovmf_AmdSev_suffix.bin
: >"$work/empty"
snp_default=803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977
ovmf_hash=086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
snp_args=(predict --snp --vcpus 1 --kernel "$work/empty" --initrd "$work/empty"
  --cmdline "console=ttyS0 loglevel=7" --guest-features 0x21)
expect "predict --snp: launch digest" 0 '' -- "${snp_args[@]}" --ovmf "$ovmf" \
  --vcpu-type EPYC-v4 --json
json_equals "predict --snp: measurement" .measurement "$snp_default"
json_equals "predict --snp: OVMF hash" .ovmf_hash "$ovmf_hash"
expect "predict --snp: devkbs policy fragment, signature and OVMF hash given" 0 '' -- \
  "${snp_args[@]}" --ovmf "$ovmf" --vcpu-sig 0x800f12 --ovmf-hash "$ovmf_hash" --format devkbs
json_equals "predict --snp: devkbs snp.measurement" .snp.measurement "$snp_default"
expect "predict --snp: Trustee RVPS message" 0 '' -- "${snp_args[@]}" --ovmf "$ovmf" \
  --vcpu-type EPYC-v4 --format trustee
json_equals "predict --snp: Trustee snp_launch_measurement" \
  '.payload | @base64d | fromjson | .snp_launch_measurement[0]' "$snp_default"
expect "predict --snp: unknown vCPU type" 2 'unknown vCPU type "EPYC-X"' -- \
  "${snp_args[@]}" --ovmf "$ovmf" --vcpu-type EPYC-X
expect "predict --snp: needs a vCPU type" 2 'vcpu-type or --vcpu-sig' -- \
  "${snp_args[@]}" --ovmf "$ovmf"
expect "predict --snp: not an AmdSev build" 2 'invalid_argument: .*no footer GUID table' -- \
  "${snp_args[@]}" --vcpu-type EPYC-v4 --ovmf "$pe"
expect "predict: SNP options without --snp" 2 'apply to --snp only' -- \
  predict --kernel "$pe" --vcpus 2

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

// SPDX-License-Identifier: Apache-2.0
// Offline verification of AMD SEV-SNP reports (docs/reference/MEASUREMENT-FORMATS.md §3.3): the
// pinned ARK, the ASK/ASVK, the VCEK/VLEK and its extensions, the report signature; and policy
// checks kept apart from authenticity. The caller supplies the certificates (a KDS cert_chain PEM,
// the certificate table, or evidence) and the verification time; nothing here fetches or reads the
// clock.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_report.h"

namespace ccfde::measure {

// The SHA-256 of the DER of the ARK pinned for `product` (Milan, Genoa and Turin, from
// docs/reference/MEASUREMENT-FORMATS.md §3.3); nullopt for kUnknown.
std::optional<std::array<std::uint8_t, 32>> snp_pinned_ark_fingerprint(SnpProduct product) noexcept;

// The product of a VCEK/VLEK product-name extension: "Milan", "Milan-B0", "Genoa-B1", "Turin" ...
// kUnknown for anything else.
SnpProduct snp_product_from_name(std::string_view product_name) noexcept;

// The ASK (or ASVK) and ARK of a product.
struct SnpCaCertificates {
  X509Ptr ask;
  X509Ptr ark;
};

// Splits a KDS cert_chain PEM (ASK then ARK, either order accepted) into ASK and ARK: the ARK is
// the self-issued certificate. kCertificateInvalid unless there are exactly two certificates, one
// self-issued and one not; errors of parse_pem_certificates otherwise.
Result<SnpCaCertificates> parse_snp_ca_pem(std::span<const std::uint8_t> pem);

// The AMD extensions of a VCEK or VLEK (OID arc 1.3.6.1.4.1.3704.1).
struct SnpVcekExtensions {
  std::optional<std::int64_t> struct_version;  // .1
  std::string product_name;                    // .2, e.g. "Milan-B0"
  std::optional<std::uint8_t> bl_spl;          // .3.1
  std::optional<std::uint8_t> tee_spl;         // .3.2
  std::optional<std::uint8_t> snp_spl;         // .3.3
  std::optional<std::uint8_t> ucode_spl;       // .3.8
  std::optional<std::uint8_t> fmc_spl;         // .3.9 (Turin)
  Bytes hw_id;                                 // .4 (VCEK only; 64 bytes, Turin 8 bytes)
  std::string csp_id;                          // .5 (VLEK only)
};

// Reads the AMD extensions of `certificate`. kCertificateInvalid if an extension does not decode
// (SPLs must be DER INTEGERs in 0..255, the product name an IA5String) or the product name is
// missing.
Result<SnpVcekExtensions> parse_snp_vcek_extensions(const X509* certificate);

nlohmann::json to_json(const SnpVcekExtensions& extensions);

// Checks that the extensions describe the key that signed `report`
// (docs/reference/MEASUREMENT-FORMATS.md §3.3 step 4): blSPL, teeSPL, snpSPL, ucodeSPL (and fmcSPL
// for a Turin-layout report) equal REPORTED_TCB; for a VCEK, hwID equals CHIP_ID (all 64 bytes, or
// the first 8 when hwID has 8 bytes; skipped when CHIP_ID is masked to zero); the product name
// names `product` (when not kUnknown). kCertificateInvalid naming the first field that differs,
// with both values.
Status check_snp_vcek_extensions(const SnpVcekExtensions& extensions, const SnpReport& report,
                                 SnpProduct product);

// The SHA-256 of an ARK's DER.
using SnpArkFingerprint = std::array<std::uint8_t, 32>;

// docs/reference/MEASUREMENT-FORMATS.md §3.3 steps 1 and 2: the ARK's SHA-256 fingerprint equals
// the one pinned for `product`, the ARK is self-signed, and `ask` (an ASK or ASVK) is signed by the
// ARK, both valid at `at`. Errors: kUntrustedRoot (no pinned ARK for `product` or a different ARK),
// kSignatureInvalid (the ARK self-signature or the ASK signature fails), kCertificateExpired,
// kCertificateInvalid (from verify_certificate_chain).
// TEST ONLY: with `unpinned_test_ark`, the ARK must have that fingerprint instead of AMD's pinned
// one, for every product (the throwaway ARK of an emulated platform; devkbs's
// --test-only-unpinned-snp-ca). No production path sets it.
Status verify_snp_ca(const X509* ask, const X509* ark, SnpProduct product, TimePoint at,
                     const std::optional<SnpArkFingerprint>& unpinned_test_ark = std::nullopt);

// docs/reference/MEASUREMENT-FORMATS.md §3.3 steps 1 to 3: verify_snp_ca, then `vcek` (a VCEK or
// VLEK, ECDSA P-384 key) signed by `ask` at `at`. Errors as verify_snp_ca and
// verify_certificate_chain (a VCEK of another product line gives kUntrustedRoot: its issuer is not
// found); kCertificateInvalid if the leaf key is not an EC P-384 key. `unpinned_test_ark` as for
// verify_snp_ca.
Status verify_snp_certificate_chain(
    const X509* vcek, const X509* ask, const X509* ark, SnpProduct product, TimePoint at,
    const std::optional<SnpArkFingerprint>& unpinned_test_ark = std::nullopt);

// docs/reference/MEASUREMENT-FORMATS.md §3.3 step 5: the ECDSA P-384 / SHA-384 signature of the
// 1184-byte report over [0, 0x2A0), with r and s stored little-endian, verified with the public key
// of `vcek`. Errors: those of parse_snp_report; kSignatureInvalid (the signature does not verify,
// or the report is unsigned: MASK_CHIP_KEY set or SIGNING_KEY none); kCertificateInvalid (the key
// is not EC P-384); kCryptoError.
Status verify_snp_report_signature(std::span<const std::uint8_t> report_bytes, const X509* vcek);

// Steps 1 to 5 in order for one report: parses it, takes the product from the VCEK's product-name
// extension (kCertificateInvalid if unknown or, for a v3+ report whose CPUID names a product,
// different from it), verifies the chain with verify_snp_certificate_chain, checks the leaf common
// name against SIGNING_KEY ("SEV-VCEK" / "SEV-VLEK", kCertificateInvalid), the extensions with
// check_snp_vcek_extensions and the signature. Returns the parsed report. Policy (step 6) is left
// to the check_snp_* functions below. `unpinned_test_ark` as for verify_snp_ca (TEST ONLY).
Result<SnpReport> verify_snp_attestation(
    std::span<const std::uint8_t> report_bytes, const X509* vcek, const X509* ask, const X509* ark,
    TimePoint at, const std::optional<SnpArkFingerprint>& unpinned_test_ark = std::nullopt);

// --- Policy (docs/reference/MEASUREMENT-FORMATS.md §3.3 step 6) ---
// Each returns kPolicyViolation with the field, expected and found.

// Refuses a report whose POLICY.DEBUG (bit 19) is set.
Status check_snp_debug_disabled(const SnpReport& report);

// Requires every component of CURRENT_TCB, COMMITTED_TCB and REPORTED_TCB to be >= the component
// of `minimum` (as go-sev-guest's MinimumTCB; LAUNCH_TCB is not compared). `minimum.fmc` is only
// compared for Turin-layout TCBs.
Status check_snp_minimum_tcb(const SnpReport& report, const SnpTcbParts& minimum);

// Requires VMPL to equal `expected_vmpl`.
Status check_snp_vmpl(const SnpReport& report, std::uint32_t expected_vmpl);

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// Offline verification of a parsed TDX quote (docs/reference/MEASUREMENT-FORMATS.md §2.4 steps
// 3–6): quote signature, QE report signature, QE report binding and the PCK chain to a trusted
// Intel SGX Root CA at a given time. Revocation and TCB-status collateral are not handled here.
// Policy checks on the body are separate functions, so "authentic" and "acceptable" stay distinct
// answers.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/tdx_quote.h"

namespace ccfde::measure {

// The production Intel SGX Root CA (public certificate;
// docs/reference/MEASUREMENT-FORMATS.md §2.5).
extern const std::string_view kIntelSgxRootCaPem;
// SHA-256 of its DER encoding, lowercase hex.
inline constexpr std::string_view kIntelSgxRootCaDerSha256 =
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

// The embedded production root, parsed, after checking its DER SHA-256 against the pinned value.
// kInternal if the embedded constant is damaged (a build defect).
Result<X509Ptr> intel_sgx_root_ca();

// The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1).
struct PckSgxExtensions {
  std::vector<std::uint8_t> ppid;                     // .1
  std::array<std::uint8_t, 16> cpu_svn_components{};  // .2.1 .. .2.16
  std::uint16_t pce_svn = 0;                          // .2.17
  std::array<std::uint8_t, 16> cpu_svn{};             // .2.18
  std::vector<std::uint8_t> pce_id;                   // .3
  std::array<std::uint8_t, 6> fmspc{};                // .4
  std::optional<int> sgx_type;                        // .5 (0 standard, 1 scalable, ...)
  std::vector<std::uint8_t> platform_instance_id;     // .6 (empty when absent)
};

// Extracts the SGX extension from `pck_certificate`. Errors: kNotFound (no such extension),
// kCertificateInvalid (the extension is not the expected DER structure, or TCB/FMSPC/PCE-ID/PPID
// are missing or have the wrong size).
Result<PckSgxExtensions> pck_sgx_extensions(const X509* pck_certificate);

// The three certificates of the quote's PCK chain, in quote order.
struct TdxPckChain {
  X509Ptr leaf;          // "Intel SGX PCK Certificate"
  X509Ptr intermediate;  // "Intel SGX PCK Platform CA" or "Intel SGX PCK Processor CA"
  X509Ptr root;          // "Intel SGX Root CA" as shipped in the quote (never trusted as such)
};

// Splits the quote's PEM chain (a trailing NUL is tolerated) and checks its shape: exactly three
// X.509 v3 certificates with the expected common names, signed with ecdsa-with-SHA256, the leaf
// key on P-256. kCertificateInvalid otherwise, naming the certificate and what was found.
Result<TdxPckChain> tdx_pck_chain(const TdxQuote& quote);

// What a successful verification established.
struct TdxQuoteVerification {
  PckSgxExtensions pck;
  std::string pck_issuer;                      // common name of the intermediate CA
  std::vector<std::uint8_t> root_fingerprint;  // DER SHA-256 of the trusted root
  TimePoint verified_at{};
};

// Verifies `quote` (steps 3–6 of docs/reference/MEASUREMENT-FORMATS.md §2.4), in this order:
//   1. the QE vendor ID is Intel's (kMalformed otherwise) and the PCK chain has the expected
//      shape (tdx_pck_chain: kCertificateInvalid);
//   2. quote signature over the signed region with the attestation key (kSignatureInvalid,
//      message "quote signature ..."; kMalformed if the key is not a P-256 point);
//   3. QE report signature with the PCK leaf key (kSignatureInvalid, message "QE report
//      signature ...");
//   4. QE report REPORTDATA == SHA-256(attestation key || QE auth data) || 32 zero bytes
//      (kMalformed, message "QE report binding ...");
//   5. the quote's root certificate is byte-identical to `trusted_root` (kUntrustedRoot), and
//      leaf <- intermediate <- trusted_root verifies at `at` (kCertificateExpired when a
//      certificate is outside its validity, kUntrustedRoot, kSignatureInvalid,
//      kCertificateInvalid as verify_certificate_chain reports);
//   6. the PCK leaf's SGX extension parses (pck_sgx_extensions errors).
// `trusted_root` must not be null. Nothing reads the clock: `at` is the verification time.
Result<TdxQuoteVerification> verify_tdx_quote(const TdxQuote& quote, const X509* trusted_root,
                                              TimePoint at);

// As above, against the embedded production Intel SGX Root CA.
Result<TdxQuoteVerification> verify_tdx_quote(const TdxQuote& quote, TimePoint at);

// Policy: refuses a TD with TDATTRIBUTES.DEBUG set. kPolicyViolation naming the attributes.
Status check_tdx_debug_policy(const TdxQuoteBody& body);

// Policy: every byte of TEE_TCB_SVN must be >= the same byte of `minimum` (component-wise, as
// TCB levels compare). kPolicyViolation naming the first component below the minimum, with both
// values.
Status check_tdx_minimum_tee_tcb_svn(const TdxQuoteBody& body,
                                     const std::array<std::uint8_t, 16>& minimum);

// JSON views: byte fields as lowercase hex, snake_case names, verified_at as RFC 3339.
nlohmann::json to_json(const PckSgxExtensions& extensions);
nlohmann::json to_json(const TdxQuoteVerification& verification);

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// Verification of a TDX quote against Intel's collateral (docs/reference/MEASUREMENT-FORMATS.md
// §2.6): revocation of the PCK chain, the QE identity and the TCB status of the platform, TDX
// module and QE. Offline and pure: the collateral is given as bytes (as PCS serves it), the trust
// root and the verification time are parameters. Run after verify_tdx_quote: that function proves
// the quote authentic, this one says whether its TCB is current and its certificates unrevoked.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/tdx_collateral.h"
#include "ccfde/measure/tdx_quote.h"

namespace ccfde::measure {

// The collateral of one platform, each item as PCS v4 serves it.
struct TdxCollateral {
  std::vector<std::uint8_t> tcb_info;                  // GET /tdx/certification/v4/tcb body
  std::vector<std::uint8_t> tcb_info_issuer_chain;     // TCB-Info-Issuer-Chain header
  std::vector<std::uint8_t> qe_identity;               // GET /tdx/certification/v4/qe/identity
  std::vector<std::uint8_t> qe_identity_issuer_chain;  // SGX-Enclave-Identity-Issuer-Chain
  std::vector<std::uint8_t> pck_crl;                   // GET /sgx/certification/v4/pckcrl body
  std::vector<std::uint8_t> pck_crl_issuer_chain;      // SGX-PCK-CRL-Issuer-Chain header
  std::vector<std::uint8_t> root_ca_crl;               // the Intel SGX Root CA CRL
};

// The file names of a collateral directory (docs/reference/MEASUREMENT-FORMATS.md §2.6). Issuer
// chains are PEM, either decoded or URL-encoded exactly as in the response header; CRLs are DER,
// PEM, or hex-encoded DER (the PCS v4 rootcacrl body).
inline constexpr std::string_view kTcbInfoFile = "tcb_info.json";
inline constexpr std::string_view kTcbInfoIssuerChainFile = "tcb_info_issuer_chain.pem";
inline constexpr std::string_view kQeIdentityFile = "qe_identity.json";
inline constexpr std::string_view kQeIdentityIssuerChainFile = "qe_identity_issuer_chain.pem";
inline constexpr std::string_view kPckCrlFile = "pck_crl.der";
inline constexpr std::string_view kPckCrlIssuerChainFile = "pck_crl_issuer_chain.pem";
inline constexpr std::string_view kRootCaCrlFile = "root_ca_crl.der";

// Reads the seven files of `directory` (each at most 1 MiB). kNotFound naming the missing file,
// kIoError, kInvalidArgument for an oversized file.
Result<TdxCollateral> read_tdx_collateral_directory(const std::filesystem::path& directory);

// Which TCB statuses an operator accepts.
struct TdxTcbPolicy {
  // Default: UpToDate and SWHardeningNeeded (docs/BROKER-POLICY.md explains the choice).
  std::vector<TcbStatus> accepted = {TcbStatus::kUpToDate, TcbStatus::kSwHardeningNeeded};
};

// Parses a comma-separated list of Intel status names ("UpToDate,SWHardeningNeeded").
// kInvalidArgument for an empty list, an unknown name, or "Revoked" (never acceptable).
Result<TdxTcbPolicy> parse_tdx_tcb_policy(std::string_view list);

// What a successful collateral verification established.
struct TdxCollateralVerification {
  TcbStatus tcb_status = TcbStatus::kRevoked;  // platform, TDX module and QE combined
  TcbStatus platform_tcb_status = TcbStatus::kRevoked;
  std::size_t tcb_level_index = 0;  // index in tcbInfo.tcbLevels
  TdxTcbLevel tcb_level;
  std::optional<std::string> tdx_module_identity;  // "TDX_xx" when TEE_TCB_SVN[1] > 0
  std::optional<IsvTcbLevel> tdx_module_tcb_level;
  IsvTcbLevel qe_tcb_level;
  std::array<std::uint8_t, 6> fmspc{};
  std::uint32_t tcb_evaluation_data_number = 0;
  TimePoint tcb_info_next_update{};
  TimePoint qe_identity_next_update{};
  TimePoint pck_crl_next_update{};
  TimePoint root_ca_crl_next_update{};
  TimePoint verified_at{};
};

// Verifies `collateral` against `quote` at `at`, with `trusted_root` (must not be null) as the only
// trust anchor, in this order:
//   1. Root CA CRL: signed by `trusted_root`, current at `at`; the quote's PCK CA not in it.
//   2. PCK CRL: its issuer chain [PCK CA, root] verifies to `trusted_root` at `at`, its CA is the
//      quote's PCK CA (same subject and key) and not revoked; the CRL is signed by it, current, and
//      does not list the quote's PCK leaf.
//   3. TCB Info and QE Identity: issuer chain [TCB Signing, root] verifies to `trusted_root` at
//      `at`, the signer is "Intel SGX TCB Signing" and not revoked; the signature covers the exact
//      member bytes; issueDate <= `at` <= nextUpdate.
//   4. TCB Info describes this platform: fmspc and pceId equal the PCK leaf's, the TDX module
//      MRSIGNER and masked SEAM attributes equal the quote's.
//   5. The QE report matches QE Identity (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES under
//      their masks); the QE TCB level is the first with isvsvn <= the report's ISVSVN.
//   6. The TCB level is the first of tcbLevels whose sgxtcbcomponents <= the PCK leaf's CPUSVN
//      components, pcesvn <= its PCESVN and tdxtcbcomponents <= TEE_TCB_SVN (bytes 0 and 1 skipped
//      when TEE_TCB_SVN[1] > 0: then the TDX module identity "TDX_<TEE_TCB_SVN[1]>" gives the
//      module level, the first with isvsvn <= TEE_TCB_SVN[0]).
//   7. tcb_status: the platform level's status, lowered to OutOfDate(ConfigurationNeeded) when the
//      module or QE level is OutOfDate, and Revoked when either is Revoked.
// Errors: kCertificateRevoked (which certificate, which CRL, its serial), kCollateralExpired
// (which item, its window), kSignatureInvalid (which signature), kUntrustedRoot /
// kCertificateExpired / kCertificateInvalid (which issuer chain), kCollateralMismatch (which field,
// both values; no matching TCB level), kMalformed / kUnsupportedVersion (which document).
// The TCB status is reported, not judged: check_tdx_tcb_status applies a policy.
Result<TdxCollateralVerification> verify_tdx_collateral(const TdxQuote& quote,
                                                        const TdxCollateral& collateral,
                                                        const X509* trusted_root, TimePoint at);

// Policy: kPolicyViolation unless verification.tcb_status is in policy.accepted; the message names
// the status, the matched level and its advisories.
Status check_tdx_tcb_status(const TdxCollateralVerification& verification,
                            const TdxTcbPolicy& policy);

// JSON view: statuses in Intel's spelling, bytes as lowercase hex, times as RFC 3339.
nlohmann::json to_json(const TdxCollateralVerification& verification);

}  // namespace ccfde::measure

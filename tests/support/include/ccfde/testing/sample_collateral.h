// SPDX-License-Identifier: Apache-2.0
// Synthetic TDX collateral for the sample quotes (sample_evidence.h): TCB Info v3, QE Identity v2,
// PCK CRL and Root CA CRL, in the formats Intel's PCS serves, signed by a "Intel SGX TCB Signing"
// certificate and the CAs of a test PCK chain. Built at test time; never trust it anywhere.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/testing/sample_evidence.h"

namespace ccfde::testing {

struct SampleCollateralSpec {
  // Status of the TCB level the sample quote meets (TEE_TCB_SVN 03000400.., CPUSVN components
  // 0303020202010002.., PCESVN 11).
  std::string platform_status = "UpToDate";
  // Put a newer level (PCESVN 12, UpToDate) first, so the quote meets only the second level.
  bool newer_level_first = false;
  // Add tdxModuleIdentities with "TDX_01": levels isvsvn 6 UpToDate, isvsvn 2 OutOfDate.
  bool tdx_module_identities = false;
  std::string qe_status = "UpToDate";  // of the QE level isvsvn 4 (the sample QE's ISVSVN)
  std::array<std::uint8_t, 6> fmspc = {0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00};
  std::array<std::uint8_t, 32> qe_mr_signer = {};  // all 0x44 when left zero (the sample QE's)
  bool revoke_pck = false;                         // the PCK CRL lists the PCK leaf
  bool revoke_pck_ca = false;                      // the Root CA CRL lists the PCK Platform CA
  // issueDate / thisUpdate and nextUpdate of every item.
  std::chrono::sys_seconds issued = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};
  std::chrono::sys_seconds next_update = std::chrono::sys_days{std::chrono::year{2027} / 1 / 1};
};

// The seven items, byte for byte as they go into a collateral directory.
struct SampleCollateral {
  std::string tcb_info;               // {"tcbInfo":{...},"signature":"..."}
  std::string tcb_info_issuer_chain;  // PEM: TCB Signing, root
  std::string qe_identity;            // {"enclaveIdentity":{...},"signature":"..."}
  std::string qe_identity_issuer_chain;
  std::vector<std::uint8_t> pck_crl;      // DER, by the PCK Platform CA
  std::string pck_crl_issuer_chain;       // PEM: PCK Platform CA, root
  std::vector<std::uint8_t> root_ca_crl;  // DER, by the root
  EvpPkeyPtr tcb_signing_key;             // to re-sign altered documents in tests
};

SampleCollateral build_sample_collateral(const SamplePckChain& chain,
                                         const SampleCollateralSpec& spec);

// Writes the items under the file names of a collateral directory (tcb_info.json,
// tcb_info_issuer_chain.pem, qe_identity.json, qe_identity_issuer_chain.pem, pck_crl.der,
// pck_crl_issuer_chain.pem, root_ca_crl.der), creating the directory.
Status write_sample_collateral(const SampleCollateral& collateral,
                               const std::filesystem::path& directory);

// {"<member>":<body>,"signature":"<hex r||s over body>"} signed with `key` (P-256, SHA-256).
std::string sign_collateral_document(EVP_PKEY* key, std::string_view member, std::string_view body);

}  // namespace ccfde::testing

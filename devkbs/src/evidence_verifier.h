// SPDX-License-Identifier: Apache-2.0
// devkbs's evidence verification, apart from the request handling of broker.cpp: checks a
// Trustee evidence object of the `sample`, `tdx` or `snp` TEE and derives the claims the resource
// policy judges. Private to devkbs.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "ccfde/common/status.h"
#include "ccfde/devkbs/policy.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tdx_collateral_verify.h"

namespace ccfde::devkbs {

// What verification trusts. The certificates are borrowed and must outlive the call.
struct EvidenceTrust {
  bool allow_sample = false;       // accept the `sample` TEE (BrokerOptions::allow_sample)
  const X509* tdx_root = nullptr;  // the root TDX PCK chains must end at
  const X509* snp_ask = nullptr;   // SNP ASK/ARK for evidence whose cert_chain carries none;
  const X509* snp_ark = nullptr;   // null: the evidence must carry them
  // TDX collateral checked against every quote (null: revocation and TCB status unchecked), and
  // the TCB statuses accepted with it (must be set when the collateral is).
  const measure::TdxCollateral* tdx_collateral = nullptr;
  const measure::TdxTcbPolicy* tdx_tcb_policy = nullptr;
  // TEST ONLY: the fingerprint of the ARK trusted in place of AMD's pinned ARKs
  // (BrokerOptions::snp_ca_unpinned_test_only); nullopt in every real deployment.
  std::optional<measure::SnpArkFingerprint> snp_unpinned_test_ark;
};

// Verifies `evidence` (the Trustee primary evidence object) of `tee` (kSample, kTdx, kSnp)
// bound to the runtime-data `digest`, with certificate validity judged at `now`, and fills the
// TEE's members of `claims` (debug, values, and for TDX the event-log replay with the phase-end and
// first-boot events of add_replayed_log_claims; REPORT_ID and MIGRATE_MA for SNP). Every failure is
// kAttestationRefused with the cause: evidence that is not an object or lacks a member, a quote or
// report that does not parse or verify, TDX collateral that fails (naming the revoked certificate,
// stale item or mismatching field) or a TCB status outside the accepted list (naming the status),
// REPORTDATA that does not bind `digest`, a cc_eventlog whose replay does not match the RTMRs, a
// disabled TEE or kNone. `claims` may be partly filled on failure.
Status verify_evidence(measure::TeeKind tee, const nlohmann::json& evidence,
                       std::span<const std::uint8_t> digest, const EvidenceTrust& trust,
                       std::chrono::system_clock::time_point now, AttestedClaims& claims);

}  // namespace ccfde::devkbs

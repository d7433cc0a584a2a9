// SPDX-License-Identifier: Apache-2.0
// Keys from a configured broker profile: one attestation, then every requested resource fetched
// in that attested session, several at a time. The agent, fdectl and the token plugin all get
// their keys through this.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/evidence_source.h"

namespace ccfde::agent {

using SteadyClock = std::chrono::steady_clock;

class KeyBroker {
 public:
  virtual ~KeyBroker() = default;

  // Attests once (if this object holds no session yet) and fetches every resource; results[i]
  // belongs to resources[i]. Up to the profile's parallelism requests run concurrently, so one
  // slow or failing resource does not hold up the others. A failed attestation gives its status
  // for every resource. Nothing runs past `deadline` (kDeadlineExceeded naming the last cause).
  // Errors per resource: the kbs-client's (kUnreachable, kTlsTrustFailure, kPinMismatch,
  // kAttestationRefused, kPolicyDenied, kSessionRejected, kResourceNotFound, kBrokerInternal,
  // kMalformedResponse, kDecryptionFailed, kDeadlineExceeded), kInvalidArgument for a resource name
  // the protocol cannot express.
  virtual std::vector<Result<SecretBytes>> fetch(std::span<const std::string> resources,
                                                 SteadyClock::time_point deadline) = 0;

  // Attests now, before any fetch, so callers can time and report attestation apart from key
  // retrieval; fetch() then reuses the session. A no-op when a session is held, and for
  // protocols that attest inside each key request (ITA). Errors: as fetch()'s attestation errors.
  virtual Status attest(SteadyClock::time_point deadline) = 0;

  // How many attestation handshakes this object has completed (1 after any number of fetches
  // in one session; more only when the broker expired the session). ITA profiles: the number of
  // keys transferred, since every ITA key transfer is an attestation of its own.
  virtual unsigned attestations() const = 0;

  // The TEE whose evidence is sent (kTdx, kSnp or kSample; never kNone). Library code never
  // logs: a caller warns when this is kSample (no security).
  virtual measure::TeeKind tee() const = 0;

  // Lines for the log gathered since the last call: which of the profile's addresses were
  // unreachable and which one answered instead (a profile with several URLs). Empty by default.
  virtual std::vector<std::string> take_notes() { return {}; }
};

// A KeyBroker for `profile` with evidence from the platform as `evidence` says, running up to
// `max_parallel_fetches` (clamped to 1..32) requests at a time. The transport trusts exactly the
// profile's CA and pins. Errors: kConfigInvalid (unusable profile: CA file missing, bad pin; an
// evidence tee of kNone), kUnsupported (no TEE detected and tee auto; tee kTdx/kSnp on another
// TEE; ITA with non-TDX evidence), the evidence source's errors.
Result<std::unique_ptr<KeyBroker>> make_key_broker(const BrokerProfile& profile,
                                                   const EvidenceConfig& evidence,
                                                   unsigned max_parallel_fetches);

// Stores `key` as `resource` through the broker's admin API (Trustee/devkbs:
// POST /kbs/v0/resource/<repo>/<type>/<tag>, body the raw bytes, "Authorization: Bearer <token>"),
// replacing any previous value. The token is read from `admin_token_file` (or, when empty, the
// profile's admin_token_file; a file group or others may read is refused) and kept in
// SecretBytes. Errors: kConfigInvalid (no token file given, bad mode), kNotFound, kInvalidArgument
// (bad resource path), kUnsupported (ITA profiles: keys are created in the ITA portal),
// kPolicyDenied (401/403: token refused), transport errors.
Status upload_resource(const BrokerProfile& profile, const std::string& resource,
                       std::span<const std::uint8_t> key,
                       const std::filesystem::path& admin_token_file,
                       SteadyClock::time_point deadline);

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The claims of Trustee's attestation result token (EAR, a JWT): what the broker concluded about
// the evidence. The client does not need them to fetch resources (the session cookie suffices);
// they are read to log the appraisal and to show it to an operator. The signature is not checked
// here: the token came over the verified TLS session from the broker itself.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

struct EarSubmodule {
  std::string status;  // "affirming", "warning", "contraindicated", "none"
  std::map<std::string, std::int64_t> trustworthiness_vector;
  std::string appraisal_policy_id;
};

struct EarClaims {
  std::string eat_profile;
  std::int64_t issued_at = 0;   // iat, seconds since the epoch
  std::int64_t expires_at = 0;  // exp
  std::string verifier_developer;
  std::string verifier_build;
  std::map<std::string, EarSubmodule> submodules;  // "cpu0", ...
};

// The claims of an EAR payload object. kMalformedResponse naming the member when one of
// eat_profile, iat, exp, submods (and each submodule's ear.status) is missing or of the wrong type,
// or when exp is not after iat. Optional members of another type than expected (verifier-id
// developer and build, a submodule's appraisal policy id and trustworthiness claims) are ignored.
// Never throws.
Result<EarClaims> parse_ear_claims(const nlohmann::json& payload);

// The payload of a compact JWT ("header.payload.signature"), base64url-decoded and parsed.
// kMalformedResponse when the token does not have three parts or the payload is not JSON.
Result<nlohmann::json> jwt_payload(std::string_view token);

}  // namespace ccfde::kbs_client

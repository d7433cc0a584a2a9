// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/ear_token.h"

#include "ccfde/common/encoding.h"

namespace ccfde::kbs_client {
namespace {

Status missing(std::string_view member, std::string_view expected) {
  return make_error(ErrorCode::kMalformedResponse, "EAR token: member \"{}\" is missing or not {}",
                    member, expected);
}

// The optional string member `name` of `object`; "" when absent or not a string (json::value
// would throw type_error for a member of another type).
std::string optional_string(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<EarClaims> parse_ear_claims(const nlohmann::json& payload) {
  if (!payload.is_object()) return missing("(payload)", "an object");
  EarClaims claims;
  auto profile = payload.find("eat_profile");
  if (profile == payload.end() || !profile->is_string()) return missing("eat_profile", "a string");
  claims.eat_profile = profile->get<std::string>();
  auto iat = payload.find("iat");
  if (iat == payload.end() || !iat->is_number_integer()) return missing("iat", "an integer");
  claims.issued_at = iat->get<std::int64_t>();
  auto exp = payload.find("exp");
  if (exp == payload.end() || !exp->is_number_integer()) return missing("exp", "an integer");
  claims.expires_at = exp->get<std::int64_t>();
  if (claims.expires_at <= claims.issued_at) {
    return make_error(ErrorCode::kMalformedResponse, "EAR token: exp {} is not after iat {}",
                      claims.expires_at, claims.issued_at);
  }
  if (auto verifier = payload.find("ear.verifier-id");
      verifier != payload.end() && verifier->is_object()) {
    claims.verifier_developer = optional_string(*verifier, "developer");
    claims.verifier_build = optional_string(*verifier, "build");
  }
  auto submods = payload.find("submods");
  if (submods == payload.end() || !submods->is_object()) return missing("submods", "an object");
  for (const auto& [name, submodule] : submods->items()) {
    if (!submodule.is_object()) return missing("submods." + name, "an object");
    EarSubmodule parsed;
    auto status = submodule.find("ear.status");
    if (status == submodule.end() || !status->is_string()) {
      return missing("submods." + name + ".ear.status", "a string");
    }
    parsed.status = status->get<std::string>();
    if (auto vector = submodule.find("ear.trustworthiness-vector");
        vector != submodule.end() && vector->is_object()) {
      for (const auto& [claim, value] : vector->items()) {
        if (value.is_number_integer())
          parsed.trustworthiness_vector[claim] = value.get<std::int64_t>();
      }
    }
    parsed.appraisal_policy_id = optional_string(submodule, "ear.appraisal-policy-id");
    claims.submodules.emplace(name, std::move(parsed));
  }
  return claims;
}

Result<nlohmann::json> jwt_payload(std::string_view token) {
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Status(ErrorCode::kMalformedResponse, "EAR token: not a compact JWT (three parts)");
  }
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload.ok()) {
    return make_error(ErrorCode::kMalformedResponse, "EAR token payload: {}",
                      payload.status().message());
  }
  auto json = nlohmann::json::parse(payload->begin(), payload->end(), nullptr,
                                    /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status(ErrorCode::kMalformedResponse, "EAR token: the payload is not JSON");
  }
  return json;
}

}  // namespace ccfde::kbs_client

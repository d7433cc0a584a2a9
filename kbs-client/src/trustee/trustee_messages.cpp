// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/trustee_messages.h"

#include <utility>

#include "ccfde/common/encoding.h"
#include "ccfde/common/json_member.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;

// Parses `body` as a JSON object without throwing.
Result<json> parse_object(std::string_view body, std::string_view message) {
  json value = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return make_error(ErrorCode::kMalformedResponse, "{}: body ({} bytes) is not valid JSON",
                      message, body.size());
  }
  if (!value.is_object()) {
    return make_error(ErrorCode::kMalformedResponse, "{}: expected a JSON object, found {}",
                      message, value.type_name());
  }
  return value;
}

// Serialises without throwing (only invalid UTF-8 can make dump() fail).
template <typename Json>
Result<std::string> dump(const Json& value, std::string_view what) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "{}: cannot serialise: {}", what, e.what());
  }
}

}  // namespace

std::string make_auth_request(std::string_view tee) {
  nlohmann::ordered_json algorithms = nlohmann::ordered_json::array();
  for (std::string_view name : kSupportedHashAlgorithms) algorithms.push_back(name);
  nlohmann::ordered_json request;
  request["version"] = kTrusteeProtocolVersion;
  request["tee"] = escape_nonprintable(tee);
  request["extra-params"] = {{"supported-hash-algorithms", std::move(algorithms)}};
  return request.dump();
}

Result<AuthRequest> parse_auth_request(std::string_view body) {
  constexpr std::string_view kWhat = "auth request";
  CCFDE_ASSIGN_OR_RETURN(json object, parse_object(body, kWhat));
  AuthRequest request;
  CCFDE_ASSIGN_OR_RETURN(request.version,
                         json_string_member(object, "version", ErrorCode::kMalformedResponse, kWhat,
                                            JsonEmpty::kAllow));
  CCFDE_ASSIGN_OR_RETURN(
      request.tee,
      json_string_member(object, "tee", ErrorCode::kMalformedResponse, kWhat, JsonEmpty::kAllow));
  if (const auto it = object.find("extra-params"); it != object.end()) request.extra_params = *it;
  return request;
}

Result<Challenge> parse_challenge(std::string_view body) {
  constexpr std::string_view kWhat = "challenge";
  CCFDE_ASSIGN_OR_RETURN(json object, parse_object(body, kWhat));
  Challenge challenge;
  CCFDE_ASSIGN_OR_RETURN(challenge.nonce,
                         json_string_member(object, "nonce", ErrorCode::kMalformedResponse, kWhat,
                                            JsonEmpty::kRefuse));
  if (const auto it = object.find("extra-params"); it != object.end()) {
    challenge.extra_params = *it;
  }
  return challenge;
}

std::string make_challenge(const Challenge& challenge) {
  nlohmann::ordered_json value;
  value["nonce"] = challenge.nonce;
  value["extra-params"] = challenge.extra_params;
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<std::string> make_attestation_request(const nlohmann::json& tee_pubkey,
                                             std::string_view nonce,
                                             const nlohmann::json& primary_evidence,
                                             std::string_view init_data_toml) {
  json init_data = nullptr;
  if (!init_data_toml.empty()) init_data = {{"format", "toml"}, {"body", init_data_toml}};
  json request = {
      {"init-data", init_data},
      {"runtime-data", {{"nonce", nonce}, {"tee-pubkey", tee_pubkey}}},
      {"tee-evidence", {{"primary_evidence", primary_evidence}, {"additional_evidence", ""}}},
  };
  return dump(request, "attestation request");
}

Result<AttestationRequest> parse_attestation_request(std::string_view body) {
  constexpr std::string_view kWhat = "attestation request";
  CCFDE_ASSIGN_OR_RETURN(json object, parse_object(body, kWhat));
  AttestationRequest request;
  if (const auto it = object.find("init-data"); it != object.end()) request.init_data = *it;

  const auto runtime = object.find("runtime-data");
  if (runtime == object.end() || !runtime->is_object()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "{}: member \"runtime-data\" must be an object", kWhat);
  }
  CCFDE_ASSIGN_OR_RETURN(
      request.nonce, json_string_member(*runtime, "nonce", ErrorCode::kMalformedResponse,
                                        "attestation request runtime-data", JsonEmpty::kRefuse));
  const auto pubkey = runtime->find("tee-pubkey");
  if (pubkey == runtime->end() || !pubkey->is_object()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "{}: member \"runtime-data.tee-pubkey\" must be an object", kWhat);
  }
  request.tee_pubkey = *pubkey;

  const auto evidence = object.find("tee-evidence");
  if (evidence == object.end() || !evidence->is_object()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "{}: member \"tee-evidence\" must be an object", kWhat);
  }
  const auto primary = evidence->find("primary_evidence");
  if (primary == evidence->end()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "{}: member \"tee-evidence.primary_evidence\" is missing", kWhat);
  }
  request.primary_evidence = *primary;
  CCFDE_ASSIGN_OR_RETURN(
      request.additional_evidence,
      json_string_member(*evidence, "additional_evidence", ErrorCode::kMalformedResponse,
                         "attestation request tee-evidence", JsonEmpty::kAllow));
  return request;
}

Result<std::string> parse_attestation_token(std::string_view body) {
  constexpr std::string_view kWhat = "attestation response";
  CCFDE_ASSIGN_OR_RETURN(json object, parse_object(body, kWhat));
  return json_string_member(object, "token", ErrorCode::kMalformedResponse, kWhat,
                            JsonEmpty::kRefuse);
}

std::string ErrorInformation::variant() const {
  const std::size_t slash = type.rfind('/');
  return slash == std::string::npos ? type : type.substr(slash + 1);
}

Result<ErrorInformation> parse_error_information(std::string_view body) {
  constexpr std::string_view kWhat = "error information";
  CCFDE_ASSIGN_OR_RETURN(json object, parse_object(body, kWhat));
  ErrorInformation info;
  CCFDE_ASSIGN_OR_RETURN(
      info.type,
      json_string_member(object, "type", ErrorCode::kMalformedResponse, kWhat, JsonEmpty::kRefuse));
  CCFDE_ASSIGN_OR_RETURN(info.detail,
                         json_string_member(object, "detail", ErrorCode::kMalformedResponse, kWhat,
                                            JsonEmpty::kAllow));
  return info;
}

std::string make_error_information(std::string_view variant, std::string_view detail) {
  nlohmann::ordered_json value;
  value["type"] = std::string(kTrusteeErrorTypePrefix) + escape_nonprintable(variant);
  value["detail"] = escape_nonprintable(detail);
  return value.dump();
}

}  // namespace ccfde::kbs_client

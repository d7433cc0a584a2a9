// SPDX-License-Identifier: Apache-2.0
// The JSON messages of the ITA KBS key transfer and the mapping of its HTTP errors
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §4.1; intel/trustauthority-kbs
// transport/http/key_transfer.go, http.go).
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "ccfde/common/json_member.h"
#include "ccfde/kbs-client/ita_client.h"

namespace ccfde::kbs_client {

namespace {

constexpr std::size_t kMaxDetailLength = 512;

Result<nlohmann::json> parse_object(std::string_view body, std::string_view what) {
  nlohmann::json document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return make_error(ErrorCode::kMalformedResponse, "{} is not valid JSON ({} bytes)", what,
                      body.size());
  }
  if (!document.is_object()) {
    return make_error(ErrorCode::kMalformedResponse, "{} is a JSON {}, expected an object", what,
                      document.type_name());
  }
  return document;
}

// The member `name` as base64std-decoded bytes; the string is also returned through `text`.
Result<Bytes> base64_member(const nlohmann::json& object, std::string_view what, const char* name,
                            std::string* text = nullptr) {
  CCFDE_ASSIGN_OR_RETURN(
      std::string value,
      json_string_member(object, name, ErrorCode::kMalformedResponse, what, JsonEmpty::kRefuse));
  auto decoded = base64_decode(value);
  if (!decoded.ok()) {
    return make_error(ErrorCode::kMalformedResponse, "{}: member \"{}\" is not base64: {}", what,
                      name, decoded.status().message());
  }
  if (text != nullptr) *text = std::move(value);
  return std::move(decoded).value();
}

std::string capped_printable(std::string_view text) {
  std::string out = escape_nonprintable(text.substr(0, kMaxDetailLength));
  if (text.size() > kMaxDetailLength) out += "...";
  return out;
}

bool contains_case_insensitive(std::string_view text, std::string_view word) {
  const auto it =
      std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
  return it != text.end();
}

}  // namespace

Result<ItaNonce> parse_ita_nonce(std::string_view body) {
  constexpr std::string_view kWhat = "ITA nonce response";
  CCFDE_ASSIGN_OR_RETURN(nlohmann::json document, parse_object(body, kWhat));
  ItaNonce nonce;
  CCFDE_RETURN_IF_ERROR(base64_member(document, kWhat, "val", &nonce.val));
  CCFDE_RETURN_IF_ERROR(base64_member(document, kWhat, "iat", &nonce.iat));
  CCFDE_RETURN_IF_ERROR(base64_member(document, kWhat, "signature", &nonce.signature));
  return nonce;
}

std::string make_ita_transfer_request(std::span<const std::uint8_t> quote, const ItaNonce& nonce,
                                      std::span<const std::uint8_t> user_data,
                                      std::optional<std::span<const std::uint8_t>> event_log) {
  nlohmann::json request = {
      {"quote", base64_encode(quote)},
      {"nonce", {{"val", nonce.val}, {"iat", nonce.iat}, {"signature", nonce.signature}}},
      {"user_data", base64_encode(user_data)},
  };
  if (event_log) request["event_log"] = base64_encode(*event_log);
  return request.dump();
}

Result<ItaTransferResponse> parse_ita_transfer_response(std::string_view body) {
  constexpr std::string_view kWhat = "ITA key transfer response";
  CCFDE_ASSIGN_OR_RETURN(nlohmann::json document, parse_object(body, kWhat));
  ItaTransferResponse response;
  CCFDE_ASSIGN_OR_RETURN(response.wrapped_key, base64_member(document, kWhat, "wrapped_key"));
  CCFDE_ASSIGN_OR_RETURN(response.wrapped_swk, base64_member(document, kWhat, "wrapped_swk"));
  return response;
}

std::string ita_error_detail(std::string_view body) {
  const nlohmann::json document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_object()) {
    const auto it = document.find("error");
    if (it != document.end() && it->is_string()) {
      return capped_printable(it->get_ref<const std::string&>());
    }
  }
  return capped_printable(body);
}

Status ita_http_error(long status, std::string_view body, std::string_view step) {
  const std::string detail = ita_error_detail(body);
  const std::string message =
      fmt::format("ITA KBS {}: HTTP {}{}{}", step, status, detail.empty() ? "" : ": ", detail);
  switch (status) {
    case 400:
    case 415: return Status(ErrorCode::kInvalidArgument, message);
    case 401:
    case 403:
      // The KBS answers 401 both when the attestation token fails and when its claims fail the
      // key-transfer policy (or the policy wants another attestation type); only the text differs,
      // and every policy message names the policy.
      return Status(contains_case_insensitive(detail, "policy") ? ErrorCode::kPolicyDenied
                                                                : ErrorCode::kAttestationRefused,
                    message);
    case 404: return Status(ErrorCode::kResourceNotFound, message);
    case 429: return Status(ErrorCode::kUnreachable, message);
    default: break;
  }
  if (status >= 500 && status <= 599) return Status(ErrorCode::kUnreachable, message);
  return Status(ErrorCode::kMalformedResponse, fmt::format("{} (unexpected status)", message));
}

}  // namespace ccfde::kbs_client

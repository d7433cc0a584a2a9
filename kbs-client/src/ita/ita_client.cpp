// SPDX-License-Identifier: Apache-2.0
// ItaKbsClient: the background-check key transfer of the ITA KBS
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §4.1).
#include "ccfde/kbs-client/ita_client.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace ccfde::kbs_client {

namespace {

constexpr std::string_view kAttestationType = "TDX";

// The KBS routes only canonical UUIDs; checking here also keeps the id from altering the path.
bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : std::isxdigit(static_cast<unsigned char>(text[i])) == 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

ItaKbsClient::ItaKbsClient(HttpTransport& transport, ItaEvidenceCallback evidence,
                           ItaClientOptions options)
    : transport_(transport), evidence_(std::move(evidence)), options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
}

Result<HttpResponse> ItaKbsClient::post(std::string_view url, std::string body, bool with_evidence,
                                        std::string_view step) {
  const auto now = SteadyClock::now();
  if (now >= options_.deadline) {
    return make_error(ErrorCode::kDeadlineExceeded,
                      "ITA KBS {}: the deadline passed before sending", step);
  }
  HttpRequest request;
  request.method = "POST";
  request.url = std::string(url);
  request.headers.push_back({"Accept", "application/json"});
  if (with_evidence) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.headers.push_back({"Attestation-Type", std::string(kAttestationType)});
  }
  request.body = std::move(body);
  request.deadline = options_.deadline;
  if (options_.deadline - now > options_.request_timeout) {
    request.deadline = now + options_.request_timeout;
  }
  auto response = transport_.send(request);
  if (!response.ok()) return response.status().with_context(fmt::format("ITA KBS {}", step));
  return response;
}

Result<SecretBytes> ItaKbsClient::transfer_key(std::string_view key_id) {
  if (!is_uuid(key_id)) {
    return make_error(ErrorCode::kInvalidArgument, "ITA key id \"{}\" is not a UUID",
                      escape_nonprintable(key_id.substr(0, 64)));
  }
  if (options_.base_url.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "ITA KBS base URL is empty");
  }
  if (!evidence_) {
    return make_error(ErrorCode::kInvalidArgument, "ITA client has no evidence callback");
  }
  const std::string url = fmt::format("{}/kbs/v1/keys/{}/transfer", options_.base_url, key_id);

  CCFDE_ASSIGN_OR_RETURN(ItaKey key,
                         options_.key_factory ? options_.key_factory() : ItaKey::generate());
  CCFDE_ASSIGN_OR_RETURN(Bytes user_data, ita_user_data(key.pkey()));

  constexpr std::string_view kStep1 = "nonce request";
  CCFDE_ASSIGN_OR_RETURN(HttpResponse first, post(url, std::string(), false, kStep1));
  if (first.status != 200) return ita_http_error(first.status, first.body, kStep1);
  if (auto type = first.header("Attestation-Type"); type && *type != kAttestationType) {
    return make_error(ErrorCode::kPolicyDenied,
                      "ITA KBS {}: key {} requires attestation type \"{}\", this client sends {}",
                      kStep1, key_id, escape_nonprintable(type->substr(0, 32)), kAttestationType);
  }
  auto nonce = parse_ita_nonce(first.body);
  if (!nonce.ok()) return nonce.status().with_context(fmt::format("ITA KBS {}", kStep1));

  CCFDE_ASSIGN_OR_RETURN(auto report_data, ita_report_data(*nonce, user_data));
  auto evidence = evidence_(report_data);
  if (!evidence.ok()) return evidence.status().with_context("ITA evidence");
  if (evidence->quote.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "ITA evidence: the quote is empty");
  }
  std::optional<std::span<const std::uint8_t>> event_log;
  if (evidence->event_log) event_log = std::span<const std::uint8_t>(*evidence->event_log);

  constexpr std::string_view kStep2 = "key transfer";
  CCFDE_ASSIGN_OR_RETURN(
      HttpResponse second,
      post(url, make_ita_transfer_request(evidence->quote, *nonce, user_data, event_log), true,
           kStep2));
  if (second.status != 200) return ita_http_error(second.status, second.body, kStep2);
  auto response = parse_ita_transfer_response(second.body);
  if (!response.ok()) return response.status().with_context(fmt::format("ITA KBS {}", kStep2));
  auto secret = ita_unwrap(*response, key);
  if (!secret.ok()) return secret.status().with_context(fmt::format("ITA KBS key {}", key_id));
  return secret;
}

}  // namespace ccfde::kbs_client

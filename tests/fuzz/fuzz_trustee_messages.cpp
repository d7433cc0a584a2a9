// SPDX-License-Identifier: Apache-2.0
// Fuzzes the parsers of Trustee broker input: Challenge, ErrorInformation, the attestation
// response (token), the server-side Request/Attestation parsers, and the resource-path parser.
// Every input goes to every parser; whatever parses must re-serialise.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ccfde/kbs-client/resource_path.h"
#include "ccfde/kbs-client/trustee_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto challenge = parse_challenge(text); challenge.ok()) {
    (void)make_challenge(*challenge);
    (void)make_attestation_request(nlohmann::json::object(), challenge->nonce,
                                   challenge->extra_params);
  }
  if (auto info = parse_error_information(text); info.ok()) {
    (void)info->variant();
    (void)make_error_information(info->variant(), info->detail);
  }
  if (auto token = parse_attestation_token(text); token.ok()) (void)token->size();
  if (auto request = parse_auth_request(text); request.ok()) (void)make_auth_request(request->tee);
  if (auto attestation = parse_attestation_request(text); attestation.ok()) {
    (void)make_attestation_request(attestation->tee_pubkey, attestation->nonce,
                                   attestation->primary_evidence);
  }
  if (auto path = parse_resource_path(text); path.ok()) {
    auto again = parse_resource_path(path->to_string());
    if (!again.ok() || !(*again == *path)) __builtin_trap();
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Fuzzes the claims of Trustee's attestation result token (EAR): the bytes as a compact JWT
// (jwt_payload, then parse_ear_claims on its payload) and as the claims JSON itself.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "ccfde/kbs-client/ear_token.h"

namespace {

void check_claims(const nlohmann::json& payload) {
  if (auto claims = ccfde::kbs_client::parse_ear_claims(payload); claims.ok()) {
    if (claims->expires_at <= claims->issued_at) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto payload = ccfde::kbs_client::jwt_payload(text); payload.ok()) check_claims(*payload);
  const nlohmann::json claims = nlohmann::json::parse(data, data + size, nullptr,
                                                      /*allow_exceptions=*/false);
  if (!claims.is_discarded()) check_claims(claims);
  return 0;
}

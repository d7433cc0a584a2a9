// SPDX-License-Identifier: Apache-2.0
// Fuzzes the parsers of Intel Trust Authority KBS responses: the step-1 nonce body, the step-2 key
// transfer body and the error body (ita_error_detail, ita_http_error). Every input goes to every
// parser; a parsed nonce must survive the step-2 request it is echoed in.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/kbs-client/ita_client.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto nonce = parse_ita_nonce(text); nonce.ok()) {
    const std::uint8_t quote[4] = {1, 2, 3, 4};
    const std::string request = make_ita_transfer_request(quote, *nonce, quote, std::nullopt);
    const nlohmann::json echoed = nlohmann::json::parse(request, nullptr,
                                                        /*allow_exceptions=*/false);
    if (echoed.is_discarded() || echoed["nonce"]["val"] != nonce->val ||
        echoed["nonce"]["iat"] != nonce->iat || echoed["nonce"]["signature"] != nonce->signature) {
      __builtin_trap();
    }
    (void)ita_report_data(*nonce, quote);
  }
  if (auto response = parse_ita_transfer_response(text); response.ok()) {
    if (response->wrapped_key.empty() || response->wrapped_swk.empty()) __builtin_trap();
  }
  (void)ita_error_detail(text);
  for (const long status : {400L, 401L, 404L, 500L, 302L}) {
    if (ita_http_error(status, text, "fuzz").ok()) __builtin_trap();
  }
  return 0;
}

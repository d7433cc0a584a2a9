// SPDX-License-Identifier: Apache-2.0
// Fuzzes JWE parsing and decryption (decrypt_jwe) with fixed TEE keys: the bytes are parsed as
// JSON without exceptions, then decrypted with the EC P-256 key and with the RSA key.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "ccfde/kbs-client/jwe.h"

namespace {

// A throwaway key generated for this fuzzer only (no secret of any deployment).
const ccfde::kbs_client::TeeKey& ec_key() {
  static const ccfde::kbs_client::TeeKey key = *ccfde::kbs_client::TeeKey::from_private_jwk(
      nlohmann::json{{"kty", "EC"},
                     {"crv", "P-256"},
                     {"x", "-VAChw4mhXvYxo4ubwXx08ZIou892GrarAAoUg1fAaI"},
                     {"y", "ZzYMcFdLAj5rUKP4ziqwAAwjy3MkWjDaJeQo1BmB3qs"},
                     {"d", "-EGsHBH7iyzyhJoXL_guc2cBvnjbDd0OeQnAhZAL5x4"}});
  return key;
}

const ccfde::kbs_client::TeeKey& rsa_key() {
  static const ccfde::kbs_client::TeeKey key =
      *ccfde::kbs_client::TeeKey::generate(ccfde::kbs_client::TeeKeyType::kRsaOaep256);
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json jwe = nlohmann::json::parse(data, data + size, nullptr,
                                                   /*allow_exceptions=*/false);
  if (jwe.is_discarded()) return 0;
  (void)ccfde::kbs_client::decrypt_jwe(jwe, ec_key());
  (void)ccfde::kbs_client::decrypt_jwe(jwe, rsa_key());
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Fuzzes the ITA wrapped key: the length header in front of it (u32le iv_len, tag_len, ct_len)
// and the AES-256-GCM unwrapping behind it (ita_unwrap_key), under a fixed SWK; inputs of the RSA
// modulus size also go to ita_unwrap_swk under a fixed RSA-3072 key.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/kbs-client/ita_client.h"

namespace {

// The SWK the synthetic seeds in seeds/ita_wrapped_key/ are sealed under (32 bytes 0x5a): a value
// made up for this fuzzer, no secret of any deployment.
const ccfde::SecretBytes& swk() {
  static const ccfde::SecretBytes key = [] {
    ccfde::SecretBytes bytes(ccfde::kbs_client::kItaSwkSize);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes.data()[i] = 0x5a;
    return bytes;
  }();
  return key;
}

const ccfde::kbs_client::ItaKey& rsa_key() {
  static const ccfde::kbs_client::ItaKey key = *ccfde::kbs_client::ItaKey::generate();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  const std::span<const std::uint8_t> bytes(data, size);
  if (auto secret = ita_unwrap_key(bytes, swk()); secret.ok()) {
    // Success needs the whole layout: 12-byte header, 12-byte IV, ciphertext and 16-byte tag.
    if (size < kItaWrappedKeyHeaderSize + kItaGcmIvSize + kItaGcmTagSize + 1 ||
        secret->size() != size - kItaWrappedKeyHeaderSize - kItaGcmIvSize - kItaGcmTagSize) {
      __builtin_trap();
    }
  }
  if (size == kItaRsaBits / 8) (void)ita_unwrap_swk(bytes, rsa_key());
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
#include "provisioner.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"

namespace ccfde::devkbs::provisioner {
namespace {

// Uuid::new_v5(&Uuid::NAMESPACE_URL, b"provisioner_plugin"), as mod.rs spells it out.
constexpr std::array<std::uint8_t, 16> kProvisionerNamespace = {
    0xfe, 0xab, 0x55, 0x99, 0x68, 0x54, 0x52, 0xbc, 0x95, 0xf0, 0x02, 0x41, 0xc0, 0x3e, 0x62, 0x0a};
constexpr std::size_t kKeyLength = 32;
constexpr std::string_view kAlphanumeric =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kConfdataHead =
    "version = \"0.1.0\"\n\n[data]\n\"io.cryptsetup.key.text.root\" = \"";
constexpr std::string_view kConfdataTail = "\"\n";

}  // namespace

bool is_canonical_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

Result<std::string> vm_uuid(std::string_view vm_namespace, std::string_view vm_name) {
  const std::string identity = std::string(vm_namespace) + "/" + std::string(vm_name);
  // SHA-1 of a name and a public namespace: an identifier, not a secret or a signature.
  CCFDE_ASSIGN_OR_RETURN(
      const auto hash, digest(DigestAlgorithm::kSha1, {kProvisionerNamespace, as_bytes(identity)}));
  std::vector<std::uint8_t> bytes(hash.begin(), hash.begin() + 16);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x50);  // version 5
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = hex_encode(bytes);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string resource_path(std::string_view uuid) {
  return "default/" + std::string(uuid) + "/root";
}

// Rejection sampling of RAND_bytes keeps the characters uniform: 248 = 4 * 62.
Result<SecretBytes> make_confdata_document() {
  SecretBytes document(kConfdataHead.size() + kKeyLength + kConfdataTail.size());
  std::uint8_t* out = document.data();
  out = std::copy(kConfdataHead.begin(), kConfdataHead.end(), out);
  std::size_t produced = 0;
  SecretBytes random(64);
  while (produced < kKeyLength) {
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
      return openssl_error(ErrorCode::kCryptoError, "RAND_bytes");
    }
    for (std::size_t i = 0; i < random.size() && produced < kKeyLength; ++i) {
      const std::uint8_t byte = random.data()[i];
      if (byte >= 4 * kAlphanumeric.size()) continue;
      *out++ = static_cast<std::uint8_t>(kAlphanumeric[byte % kAlphanumeric.size()]);
      ++produced;
    }
  }
  std::copy(kConfdataTail.begin(), kConfdataTail.end(), out);
  return document;
}

}  // namespace ccfde::devkbs::provisioner

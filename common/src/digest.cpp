// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/digest.h"

#include <openssl/evp.h>

#include "ccfde/common/openssl_handles.h"

namespace ccfde {
namespace {

const EVP_MD* evp_md(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kSha1: return EVP_sha1();
    case DigestAlgorithm::kSha256: return EVP_sha256();
    case DigestAlgorithm::kSha384: return EVP_sha384();
    case DigestAlgorithm::kSha512: return EVP_sha512();
  }
  return nullptr;
}

}  // namespace

std::size_t digest_size(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::kSha1: return 20;
    case DigestAlgorithm::kSha256: return 32;
    case DigestAlgorithm::kSha384: return 48;
    case DigestAlgorithm::kSha512: return 64;
  }
  return 0;
}

std::string_view digest_name(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::kSha1: return "sha1";
    case DigestAlgorithm::kSha256: return "sha256";
    case DigestAlgorithm::kSha384: return "sha384";
    case DigestAlgorithm::kSha512: return "sha512";
  }
  return "unknown";
}

Result<DigestAlgorithm> digest_from_name(std::string_view name) {
  for (auto algorithm : {DigestAlgorithm::kSha1, DigestAlgorithm::kSha256, DigestAlgorithm::kSha384,
                         DigestAlgorithm::kSha512}) {
    if (name == digest_name(algorithm)) return algorithm;
  }
  return make_error(ErrorCode::kUnsupportedAlgorithm, "unknown digest algorithm '{}'", name);
}

Result<std::vector<std::uint8_t>> digest(DigestAlgorithm algorithm,
                                         std::span<const std::span<const std::uint8_t>> parts) {
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), evp_md(algorithm), nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "digest initialisation failed");
  }
  for (auto part : parts) {
    if (EVP_DigestUpdate(context.get(), part.data(), part.size()) != 1) {
      return openssl_error(ErrorCode::kCryptoError, "digest update failed");
    }
  }
  std::vector<std::uint8_t> out(digest_size(algorithm));
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context.get(), out.data(), &length) != 1 || length != out.size()) {
    return openssl_error(ErrorCode::kCryptoError, "digest finalisation failed");
  }
  return out;
}

Result<std::array<std::uint8_t, 32>> hmac_sha256(std::span<const std::uint8_t> key,
                                                 std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> mac{};
  std::size_t size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                data.size(), mac.data(), mac.size(), &size) == nullptr ||
      size != mac.size()) {
    return openssl_error(ErrorCode::kCryptoError, "HMAC-SHA256 failed");
  }
  return mac;
}

}  // namespace ccfde

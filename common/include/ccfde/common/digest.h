// SPDX-License-Identifier: Apache-2.0
// Message digests through OpenSSL's EVP interface.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde {

enum class DigestAlgorithm { kSha1, kSha256, kSha384, kSha512 };

// Output size in bytes (20, 32, 48, 64).
std::size_t digest_size(DigestAlgorithm algorithm) noexcept;
// "sha1", "sha256", "sha384", "sha512".
std::string_view digest_name(DigestAlgorithm algorithm) noexcept;
// Parses the lowercase names above; kUnsupportedAlgorithm otherwise.
Result<DigestAlgorithm> digest_from_name(std::string_view name);

// The digest of the concatenation of `parts`. kCryptoError only if OpenSSL fails.
Result<std::vector<std::uint8_t>> digest(DigestAlgorithm algorithm,
                                         std::span<const std::span<const std::uint8_t>> parts);
inline Result<std::vector<std::uint8_t>> digest(
    DigestAlgorithm algorithm, std::initializer_list<std::span<const std::uint8_t>> parts) {
  return digest(algorithm, std::span(parts.begin(), parts.size()));
}
inline Result<std::vector<std::uint8_t>> digest(DigestAlgorithm algorithm,
                                                std::span<const std::uint8_t> data) {
  return digest(algorithm, {data});
}

// HMAC-SHA256 (RFC 2104) of `data` under `key`. kCryptoError only if OpenSSL fails.
Result<std::array<std::uint8_t, 32>> hmac_sha256(std::span<const std::uint8_t> key,
                                                 std::span<const std::uint8_t> data);

}  // namespace ccfde

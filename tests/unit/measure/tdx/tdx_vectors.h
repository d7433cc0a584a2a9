// SPDX-License-Identifier: Apache-2.0
// The TDX quote vectors (docs/reference/TEST-VECTORS.md §2) and byte helpers for the tdx tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde::measure::tdx_test {

inline constexpr const char* kSprE4 = "go-tdx-guest/tdx_prod_quote_SPR_E4.dat";
inline constexpr const char* kV5 = "go-tdx-guest/quote_v5_sample.dat";
inline constexpr const char* kCos113 = "go-tdx-guest/cos-113-tdx-quote.dat";
inline constexpr const char* kT4 = "trustee/deps/verifier/test_data/tdx_quote_4.dat";
inline constexpr const char* kEva = "evidence-api/quote.bin";

// The short name of a vector above, for the names of parameterised tests.
inline std::string vector_name(std::string_view path) {
  if (path == kSprE4) return "SPR_E4";
  if (path == kV5) return "v5";
  if (path == kCos113) return "COS113";
  if (path == kT4) return "T4";
  if (path == kEva) return "EVA";
  return "unknown";
}

// Absolute offsets in a v4 quote whose QE auth data is 32 bytes (all v4 vectors).
inline constexpr std::size_t kV4SignatureDataLen = 632;
inline constexpr std::size_t kV4QuoteSignature = 636;
inline constexpr std::size_t kV4AttestationKey = 700;
inline constexpr std::size_t kV4CertDataType = 764;
inline constexpr std::size_t kV4CertDataSize = 766;
inline constexpr std::size_t kV4QeReport = 770;
inline constexpr std::size_t kV4QeAuthSize = 1218;
inline constexpr std::size_t kV4QeAuthData = 1220;
inline constexpr std::size_t kV4PckType = 1252;
inline constexpr std::size_t kV4PckSize = 1254;
inline constexpr std::size_t kV4Pem = 1258;

inline std::string hex(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

// Little-endian stores into a quote copy; .at() makes an offset past the end a test failure.
inline void put_u16(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint16_t value) {
  bytes.at(offset) = static_cast<std::uint8_t>(value);
  bytes.at(offset + 1) = static_cast<std::uint8_t>(value >> 8);
}

inline void put_u32(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) {
    bytes.at(offset + i) = static_cast<std::uint8_t>(value >> (8 * i));
  }
}

}  // namespace ccfde::measure::tdx_test

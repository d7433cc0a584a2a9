// SPDX-License-Identifier: Apache-2.0
// Loading the SNP test vectors (docs/reference/TEST-VECTORS.md §7, §8) for the snp tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::measure::snp_test {

inline constexpr const char* kVmReportHex = "virtee-sev/report_milan.hex";
inline constexpr const char* kVmVcek = "virtee-sev/vcek_milan.der";
inline constexpr const char* kMilanChain = "virtee-sev/cert_chain_milan";
inline constexpr const char* kGenoaChain = "go-sev-guest/ask_ark_genoa.pem";
inline constexpr const char* kMilanVlekChain = "go-sev-guest/ask_ark_milan_vlek.pem";
inline constexpr const char* kTurinChain = "virtee-sev/cert_chain_turin";
inline constexpr const char* kTurinVcek = "virtee-sev/vcek_turin.der";
inline constexpr const char* kTurinBuiltinArk = "virtee-sev/turin_ark.pem";
inline constexpr const char* kTrReport = "trustee/deps/verifier/test_data/snp/test-report.bin";
inline constexpr const char* kTrVcek = "trustee/deps/verifier/test_data/snp/test-vcek.der";
inline constexpr const char* kAzEvidence =
    "trustee/deps/verifier/test_data/az-snp-vtpm/evidence-v2.json";
inline constexpr const char* kE2eEvidence = "trustee/attestation-service/tests/e2e/evidence.json";

inline std::string hex(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

// The hex of `bytes` zero bytes.
inline std::string zeros(std::size_t bytes) {
  return std::string(2 * bytes, '0');
}

// A TCB_VERSION as the report stores it (little-endian), in hex.
inline std::string tcb_bytes(const SnpTcb& tcb) {
  Bytes stored(8);
  for (std::size_t i = 0; i < 8; ++i) stored[i] = static_cast<std::uint8_t>(tcb.raw >> (8 * i));
  return hex_encode(stored);
}

// Little-endian stores into a report buffer (the offset must be in range).
inline void store_u32(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i)
    bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

inline void store_u64(Bytes& bytes, std::size_t offset, std::uint64_t value) {
  for (std::size_t i = 0; i < 8; ++i)
    bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

// The VM report: hex text with whitespace, decoded.
inline std::optional<Bytes> load_vm_report() {
  auto text = testing::load_testdata(kVmReportHex);
  if (!text) return std::nullopt;
  std::string hex;
  for (std::uint8_t c : *text) {
    if (!std::isspace(c)) hex.push_back(static_cast<char>(c));
  }
  auto decoded = hex_decode(hex);
  if (!decoded.ok()) return std::nullopt;
  return *decoded;
}

inline std::optional<nlohmann::json> load_json(const char* relative) {
  auto text = testing::load_testdata(relative);
  if (!text) return std::nullopt;
  auto parsed =
      nlohmann::json::parse(text->begin(), text->end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// The AZ report: bytes [32, 32 + 1184) of the base64url-decoded hcl_report.
inline std::optional<Bytes> load_az_report() {
  auto evidence = load_json(kAzEvidence);
  if (!evidence) return std::nullopt;
  auto hcl = base64url_decode(evidence->at("hcl_report").get<std::string>());
  if (!hcl.ok() || hcl->size() < 32 + 1184) return std::nullopt;
  return Bytes(hcl->begin() + 32, hcl->begin() + 32 + 1184);
}

inline std::optional<Bytes> load_az_vcek() {
  auto evidence = load_json(kAzEvidence);
  if (!evidence) return std::nullopt;
  auto vcek = base64url_decode(evidence->at("vcek").get<std::string>());
  if (!vcek.ok()) return std::nullopt;
  return *vcek;
}

// The DER of the E2E evidence's cert_chain VCEK entry.
inline std::optional<Bytes> load_e2e_vcek() {
  auto evidence = load_json(kE2eEvidence);
  if (!evidence) return std::nullopt;
  for (const auto& entry : evidence->at("cert_chain")) {
    if (entry.at("cert_type") == "VCEK") return entry.at("data").get<Bytes>();
  }
  return std::nullopt;
}

}  // namespace ccfde::measure::snp_test

// Declares `var` from an optional-returning loader; an absent (or undecodable) vector fails the
// test: the repository carries the vectors in tests/data.
#define SNP_VECTOR(var, loader)                                      \
  auto var##_optional = (loader);                                    \
  if (!var##_optional) {                                             \
    FAIL() << "SNP test vector for " #var " is absent or bad below " \
           << ::ccfde::testing::testdata_dir().string();             \
  }                                                                  \
  auto var = std::move(*var##_optional)

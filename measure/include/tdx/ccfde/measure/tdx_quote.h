// SPDX-License-Identifier: Apache-2.0
// Intel TDX quotes, versions 4 and 5 (attestation key type 2, ECDSA P-256), as produced by the
// TD Quoting Enclave: a pure parser over the quote bytes. Layout:
// docs/reference/MEASUREMENT-FORMATS.md §2.1–§2.3. Verification (signatures, PCK chain) lives in
// tdx_verify.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/report_data.h"

namespace ccfde::measure {

inline constexpr std::uint16_t kTdxQuoteVersion4 = 4;
inline constexpr std::uint16_t kTdxQuoteVersion5 = 5;
inline constexpr std::uint16_t kTdxAttestationKeyEcdsaP256 = 2;
inline constexpr std::uint32_t kTdxTeeType = 0x81;
inline constexpr std::size_t kTdxQuoteHeaderSize = 48;
inline constexpr std::size_t kTdxBody10Size = 584;
inline constexpr std::size_t kTdxBody15Size = 648;
inline constexpr std::size_t kSgxReportBodySize = 384;
// Certification data types of sgx_quote_3.h.
inline constexpr std::uint16_t kCertDataPckCertChain = 5;
inline constexpr std::uint16_t kCertDataQeReport = 6;
// The QE vendor ID of Intel's quoting enclaves.
inline constexpr std::array<std::uint8_t, 16> kIntelQeVendorId = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

using Sha384Register = std::array<std::uint8_t, 48>;

// The 48-byte quote header (identical in v4 and v5). Multi-byte integers are decoded from LE.
struct TdxQuoteHeader {
  std::uint16_t version = 0;
  std::uint16_t attestation_key_type = 0;
  std::uint32_t tee_type = 0;
  std::array<std::uint8_t, 4> reserved{};
  std::array<std::uint8_t, 16> qe_vendor_id{};
  std::array<std::uint8_t, 20> user_data{};
};

// The TD report body kinds (v5 body descriptor types; a v4 body is always kTd10).
enum class TdxBodyType : std::uint16_t { kTd10 = 2, kTd15 = 3 };

// The TD quote body. Attribute fields keep the quote's little-endian byte order.
struct TdxQuoteBody {
  TdxBodyType type = TdxBodyType::kTd10;
  std::array<std::uint8_t, 16> tee_tcb_svn{};
  Sha384Register mr_seam{};
  Sha384Register mr_signer_seam{};
  std::array<std::uint8_t, 8> seam_attributes{};
  std::array<std::uint8_t, 8> td_attributes{};
  std::array<std::uint8_t, 8> xfam{};
  Sha384Register mr_td{};
  Sha384Register mr_config_id{};
  Sha384Register mr_owner{};
  Sha384Register mr_owner_config{};
  std::array<Sha384Register, 4> rtmr{};
  ReportData report_data{};
  // TD 1.5 only (zero for kTd10).
  std::array<std::uint8_t, 16> tee_tcb_svn2{};
  Sha384Register mr_service_td{};
};

// TDATTRIBUTES bits (docs/reference/MEASUREMENT-FORMATS.md §2.2).
inline constexpr std::uint64_t kTdAttributeDebug = 1ULL << 0;
inline constexpr std::uint64_t kTdAttributeSeptVeDisable = 1ULL << 28;
inline constexpr std::uint64_t kTdAttributePks = 1ULL << 30;
inline constexpr std::uint64_t kTdAttributeKeyLocker = 1ULL << 31;
inline constexpr std::uint64_t kTdAttributePerfmon = 1ULL << 63;

// TDATTRIBUTES as a number.
std::uint64_t td_attributes_value(const TdxQuoteBody& body) noexcept;

// The SGX report body of the Quoting Enclave (sgx_report_body_t, 384 bytes).
struct SgxReportBody {
  std::array<std::uint8_t, 16> cpu_svn{};
  std::uint32_t misc_select = 0;
  std::array<std::uint8_t, 16> attributes{};
  std::array<std::uint8_t, 32> mr_enclave{};
  std::array<std::uint8_t, 32> mr_signer{};
  std::uint16_t isv_prod_id = 0;
  std::uint16_t isv_svn = 0;
  ReportData report_data{};
};

// A parsed quote. It owns copies of every byte verification needs, so it outlives the input.
struct TdxQuote {
  TdxQuoteHeader header;
  // v5 body descriptor as found (v4: 2 and 584, implied).
  std::uint16_t body_descriptor_type = 0;
  std::uint32_t body_size = 0;
  TdxQuoteBody body;

  // The bytes covered by the quote signature: [signed_region_offset, signed_region_offset + size)
  // of the input, i.e. header (+ v5 body descriptor) + body, and a copy of them.
  std::size_t signed_region_offset = 0;
  std::size_t signed_region_size = 0;
  std::vector<std::uint8_t> signed_region;

  std::size_t signature_data_offset = 0;  // first byte after signature_data_len
  std::uint32_t signature_data_len = 0;
  std::array<std::uint8_t, 64> quote_signature{};         // ECDSA P-256 r || s, big-endian
  std::array<std::uint8_t, 64> attestation_public_key{};  // P-256 x || y, big-endian

  std::uint16_t certification_data_type = 0;  // kCertDataQeReport
  std::uint32_t certification_data_size = 0;
  SgxReportBody qe_report;
  std::array<std::uint8_t, kSgxReportBodySize> qe_report_raw{};  // what the PCK key signed
  std::array<std::uint8_t, 64> qe_report_signature{};            // r || s by the PCK leaf
  std::vector<std::uint8_t> qe_auth_data;
  std::uint16_t pck_cert_data_type = 0;     // kCertDataPckCertChain
  std::vector<std::uint8_t> pck_chain_pem;  // exactly as declared (may end with a NUL)

  // Bytes of the input after the signature data (tolerated: quote buffers are often padded).
  std::vector<std::uint8_t> trailing_bytes;
};

// Parses a TDX quote v4 or v5 from `bytes`. Sizes come from the quote's length fields, never from
// the buffer length; bytes after the signature data are kept in `trailing_bytes`. Parsing does not
// verify anything cryptographic. Errors (the message names field, offset, expected and found):
//   kTruncated            the input ends before a fixed field or before signature_data_len bytes;
//   kUnsupportedVersion   version is not 4 or 5;
//   kUnsupportedAlgorithm attestation key type != 2, TEE type != 0x81, v5 body type not 2 or 3,
//                         certification data type != 6, inner certification data type != 5;
//   kMalformed            a v5 body size that does not match its type, a nested size larger than
//                         its container, or signature data not exactly filled by its parts.
Result<TdxQuote> parse_tdx_quote(std::span<const std::uint8_t> bytes);

// True when `bytes` start like a TDX quote (at least a header, version 4 or 5, key type 2, TEE
// type 0x81). A cheap format sniff, not a validity check.
bool looks_like_tdx_quote(std::span<const std::uint8_t> bytes) noexcept;

// JSON views: byte fields as lowercase hex, snake_case names.
nlohmann::json to_json(const TdxQuoteHeader& header);
nlohmann::json to_json(const TdxQuoteBody& body);
nlohmann::json to_json(const SgxReportBody& report);
nlohmann::json to_json(const TdxQuote& quote);

}  // namespace ccfde::measure

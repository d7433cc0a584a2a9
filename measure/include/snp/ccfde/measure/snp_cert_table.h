// SPDX-License-Identifier: Apache-2.0
// The GHCB certificate table that SNP_GET_EXT_REPORT / the configfs-tsm auxblob returns next to an
// SEV-SNP report (docs/reference/MEASUREMENT-FORMATS.md §3.5): the VCEK or VLEK, ASK and ARK the
// report's signature chains to. The parser is a pure function over untrusted bytes; a root found in
// the table is never trusted by itself (snp_verify.h pins the AMD roots).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

enum class SnpCertType { kVcek, kVlek, kAsk, kArk, kExtraPlatformInfo, kOther };
// "vcek", "vlek", "ask", "ark", "extra_platform_info", "other".
std::string_view snp_cert_type_name(SnpCertType type) noexcept;

// The 16 GUID bytes (RFC 4122 byte order) of a known type; `type` must not be kOther.
std::array<std::uint8_t, 16> snp_cert_guid(SnpCertType type) noexcept;

struct SnpCertTableEntry {
  std::array<std::uint8_t, 16> guid{};
  SnpCertType type = SnpCertType::kOther;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  Bytes data;  // the `length` bytes at `offset` (a DER certificate for VCEK/VLEK/ASK/ARK)
};

struct SnpCertTable {
  std::vector<SnpCertTableEntry> entries;

  // The first entry of `type`, or nullptr.
  const SnpCertTableEntry* find(SnpCertType type) const noexcept;
};

// Parses a certificate table buffer: 24-byte entries {guid[16], u32 offset, u32 length} up to an
// all-zero terminator entry, offsets relative to the buffer start. Bytes after the data (page
// padding) are ignored.
// Errors: kTruncated (no terminator before the end of the buffer), kMalformed (a zero GUID with a
// non-zero offset or length; an entry of length 0; data starting inside the table; data beyond the
// buffer; two entries whose data overlap; the same GUID twice). Messages name the entry index.
Result<SnpCertTable> parse_snp_cert_table(std::span<const std::uint8_t> buffer);

// The GUID in its textual form, e.g. "63da758d-e664-4564-adc5-f4b93be8accd".
std::string snp_guid_to_string(std::span<const std::uint8_t, 16> guid);

// Entries with guid, type, offset, length and the data as hex.
nlohmann::json to_json(const SnpCertTable& table);

}  // namespace ccfde::measure

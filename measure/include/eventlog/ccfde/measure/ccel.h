// SPDX-License-Identifier: Apache-2.0
// The ACPI CC Event Log table (CCEL): where the firmware's CC event log lives (ACPI 6.5 §5.2,
// docs/reference/MEASUREMENT-FORMATS.md §4.1). Read from /sys/firmware/acpi/tables/CCEL; the log
// itself is /sys/firmware/acpi/tables/data/CCEL (LAML bytes) and is parsed by tcg_event_log.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::measure {

inline constexpr std::size_t kCcelTableSize = 56;

// CC Type values of the table.
inline constexpr std::uint8_t kCcTypeReserved = 0;
inline constexpr std::uint8_t kCcTypeSev = 1;
inline constexpr std::uint8_t kCcTypeTdx = 2;

struct CcelTable {
  std::string signature;      // "CCEL"
  std::uint32_t length = 0;   // 56
  std::uint8_t revision = 0;  // 1
  std::uint8_t checksum = 0;  // the stored checksum byte (the byte sum of the table is 0)
  std::string oem_id;         // 6 characters, e.g. "INTEL "
  std::string oem_table_id;   // 8 characters, e.g. "EDK2    "
  std::uint32_t oem_revision = 0;
  std::string creator_id;  // 4 characters
  std::uint32_t creator_revision = 0;
  std::uint8_t cc_type = 0;  // kCcTypeSev, kCcTypeTdx
  std::uint8_t cc_subtype = 0;
  std::uint64_t log_area_minimum_length = 0;  // LAML: size of the log area in bytes
  std::uint64_t log_area_start_address = 0;   // LASA: guest-physical address of the log area
};

// Parses a CCEL table. The input must be exactly the table (its Length field equals the input
// size, at least 56 bytes). Errors: kTruncated (fewer than 56 bytes), kMalformed (signature not
// "CCEL", Length differs from the input size, byte sum not 0 mod 256), kUnsupportedVersion
// (revision other than 1), kUnsupportedAlgorithm (CC type other than 0, 1, 2).
Result<CcelTable> parse_ccel_table(std::span<const std::uint8_t> bytes);

// "reserved", "sev", "tdx", or "unknown".
std::string_view cc_type_name(std::uint8_t cc_type) noexcept;

// Every field, snake_case, plus "cc_type_name"; text fields as stored.
nlohmann::json to_json(const CcelTable& table);

}  // namespace ccfde::measure

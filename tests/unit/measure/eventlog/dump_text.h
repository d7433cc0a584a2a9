// SPDX-License-Identifier: Apache-2.0
// Reassembles the hex dumps of Intel tdx-tools `tdx_eventlogs` output
// (docs/reference/TEST-VECTORS.md §6).
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde::measure::testing {

// One dump line "AAAAAAAA  XX XX ... XX  ascii": the address and the bytes, or nullopt when the
// line is not a dump line. The hex area is the 48 columns after the address and two spaces.
struct DumpLine {
  std::uint64_t address = 0;
  Bytes bytes;
};

inline std::optional<DumpLine> parse_dump_line(const std::string& line) {
  constexpr std::size_t kHexStart = 10;
  constexpr std::size_t kHexWidth = 48;
  if (line.size() < kHexStart + 2 || line.compare(8, 2, "  ") != 0) return std::nullopt;
  DumpLine out;
  for (std::size_t i = 0; i < 8; ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(line[i]))) return std::nullopt;
  }
  out.address = std::stoull(line.substr(0, 8), nullptr, 16);
  std::istringstream hex(line.substr(kHexStart, kHexWidth));
  std::string token;
  while (hex >> token) {
    if (token.size() != 2) return std::nullopt;
    auto byte = hex_decode(token);
    if (!byte.ok()) return std::nullopt;
    out.bytes.push_back((*byte)[0]);
  }
  if (out.bytes.empty() || out.bytes.size() > 16) return std::nullopt;
  return out;
}

struct ReassembledDump {
  Bytes ccel_table;  // the dump after "=> Read CCEL ACPI Table"
  Bytes log;         // every "RAW DATA" block, concatenated
  std::uint64_t log_address = 0;
  bool contiguous = true;    // each block starts where the previous one ended
  std::size_t blocks = 0;    // number of RAW DATA blocks (= log entries)
  std::vector<Bytes> rtmrs;  // the "==== RTMR[i] ====" dumps at the end
};

inline ReassembledDump reassemble_dump(const std::string& text) {
  ReassembledDump out;
  std::istringstream lines(text);
  std::string line;
  enum class Section { kNone, kTable, kRaw, kRtmr } section = Section::kNone;
  std::optional<std::uint64_t> next_address;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("=> Read CCEL ACPI Table", 0) == 0) {
      section = Section::kTable;
      continue;
    }
    if (line.rfind("RAW DATA:", 0) == 0) {
      if (section == Section::kRaw) {
        section = Section::kNone;
      } else {
        section = Section::kRaw;
        ++out.blocks;
      }
      continue;
    }
    if (line.rfind("==== RTMR[", 0) == 0) {
      section = Section::kRtmr;
      out.rtmrs.emplace_back();
      continue;
    }
    auto dump = parse_dump_line(line);
    if (!dump) {
      if (section == Section::kTable || section == Section::kRtmr) section = Section::kNone;
      continue;
    }
    switch (section) {
      case Section::kTable:
        out.ccel_table.insert(out.ccel_table.end(), dump->bytes.begin(), dump->bytes.end());
        break;
      case Section::kRtmr:
        out.rtmrs.back().insert(out.rtmrs.back().end(), dump->bytes.begin(), dump->bytes.end());
        break;
      case Section::kRaw:
        if (!next_address) {
          out.log_address = dump->address;
        } else if (*next_address != dump->address) {
          out.contiguous = false;
        }
        next_address = dump->address + dump->bytes.size();
        out.log.insert(out.log.end(), dump->bytes.begin(), dump->bytes.end());
        break;
      case Section::kNone: break;
    }
  }
  return out;
}

}  // namespace ccfde::measure::testing

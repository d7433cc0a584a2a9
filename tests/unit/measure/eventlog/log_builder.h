// SPDX-License-Identifier: Apache-2.0
// Builds crypto-agile TCG event logs in code, for negative and edge-case tests.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde::measure::testing {

inline void put_u16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}

inline void put_u32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

inline void put_u64(Bytes& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

inline void put_bytes(Bytes& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

inline void put_text(Bytes& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

// A TCG_PCR_EVENT header with a Spec ID Event03 for `banks` ({algorithm id, digest size}).
inline Bytes spec_id_header(const std::vector<std::pair<std::uint16_t, std::uint16_t>>& banks,
                            std::uint32_t pcr_index = 0, std::uint8_t uintn_size = 2,
                            std::uint8_t spec_major = 2) {
  Bytes event;
  put_text(event, std::string_view("Spec ID Event03\0", 16));
  put_u32(event, 0);   // platformClass
  event.push_back(0);  // minor
  event.push_back(spec_major);
  event.push_back(0);  // errata
  event.push_back(uintn_size);
  put_u32(event, static_cast<std::uint32_t>(banks.size()));
  for (auto [id, size] : banks) {
    put_u16(event, id);
    put_u16(event, size);
  }
  event.push_back(0);  // vendorInfoSize
  Bytes out;
  put_u32(out, pcr_index);
  put_u32(out, 3);  // EV_NO_ACTION
  out.insert(out.end(), 20, 0);
  put_u32(out, static_cast<std::uint32_t>(event.size()));
  put_bytes(out, event);
  return out;
}

// A TCG_PCR_EVENT2 record.
inline Bytes event2(std::uint32_t pcr_index, std::uint32_t type,
                    const std::vector<std::pair<std::uint16_t, Bytes>>& digests,
                    std::span<const std::uint8_t> data) {
  Bytes out;
  put_u32(out, pcr_index);
  put_u32(out, type);
  put_u32(out, static_cast<std::uint32_t>(digests.size()));
  for (const auto& [id, digest] : digests) {
    put_u16(out, id);
    put_bytes(out, digest);
  }
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  put_bytes(out, data);
  return out;
}

}  // namespace ccfde::measure::testing

// SPDX-License-Identifier: Apache-2.0
#include "text.h"

#include <fmt/format.h>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure::internal {

namespace {

bool is_printable(unsigned char c) {
  return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r';
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

}  // namespace

std::optional<std::string> printable_text(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty() && bytes.back() == 0) bytes = bytes.first(bytes.size() - 1);
  if (bytes.empty()) return std::nullopt;
  for (std::uint8_t byte : bytes) {
    if (!is_printable(byte)) return std::nullopt;
  }
  return std::string(as_chars(bytes));
}

std::string utf16le_to_utf8(std::span<const std::uint8_t> bytes) {
  constexpr std::uint32_t kReplacement = 0xFFFD;
  std::string out;
  std::size_t units = bytes.size() / 2;
  for (std::size_t i = 0; i < units; ++i) {
    std::uint32_t unit = load_u16le(bytes, 2 * i);
    if (unit >= 0xD800 && unit <= 0xDBFF && i + 1 < units) {
      std::uint32_t low = load_u16le(bytes, 2 * (i + 1));
      if (low >= 0xDC00 && low <= 0xDFFF) {
        append_utf8(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
        ++i;
        continue;
      }
    }
    append_utf8(out, (unit >= 0xD800 && unit <= 0xDFFF) ? kReplacement : unit);
  }
  return out;
}

std::string efi_guid_to_string(std::span<const std::uint8_t> bytes) {
  return fmt::format("{:08x}-{:04x}-{:04x}-{}-{}", load_u32le(bytes, 0), load_u16le(bytes, 4),
                     load_u16le(bytes, 6), hex_encode(bytes.subspan(8, 2)),
                     hex_encode(bytes.subspan(10, 6)));
}

}  // namespace ccfde::measure::internal

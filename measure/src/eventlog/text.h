// SPDX-License-Identifier: Apache-2.0
// Text helpers shared by the event-log parsers (private to the eventlog part).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ccfde::measure::internal {

// The bytes as text when they are printable ASCII (tab, CR, LF allowed) after trailing NULs are
// removed; nullopt otherwise (binary data, embedded NULs, empty).
std::optional<std::string> printable_text(std::span<const std::uint8_t> bytes);

// UTF-16LE to UTF-8; unpaired surrogates become U+FFFD. An odd trailing byte is ignored.
std::string utf16le_to_utf8(std::span<const std::uint8_t> bytes);

// An EFI_GUID (u32 LE, u16 LE, u16 LE, 8 bytes) as "8be4df61-93ca-11d2-aa0d-00e098032b8c".
// Precondition: bytes.size() == 16.
std::string efi_guid_to_string(std::span<const std::uint8_t> bytes);

}  // namespace ccfde::measure::internal

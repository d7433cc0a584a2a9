// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/smbios_credential.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::kbs_client {
namespace {

// The formatted area of a type-11 structure: type, length, a 2-byte handle, the string count.
constexpr std::size_t kOemStringsFormattedSize = 5;
constexpr std::string_view kTextPrefix = "io.systemd.credential:";
constexpr std::string_view kBinaryPrefix = "io.systemd.credential.binary:";

// The value of `text` when it is "<prefix><name>=<value>", else nullopt.
std::optional<std::string_view> credential_value(std::string_view text, std::string_view prefix,
                                                 std::string_view name) {
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  if (!text.starts_with(name) || text.size() == name.size() || text[name.size()] != '=') {
    return std::nullopt;
  }
  return text.substr(name.size() + 1);
}

}  // namespace

Result<std::vector<std::string>> parse_smbios_oem_strings(std::span<const std::uint8_t> raw) {
  if (raw.size() < kOemStringsFormattedSize) {
    return make_error(ErrorCode::kTruncated,
                      "SMBIOS OEM strings: {} bytes, shorter than the {}-byte formatted area",
                      raw.size(), kOemStringsFormattedSize);
  }
  if (raw[0] != kSmbiosOemStringsType) {
    return make_error(ErrorCode::kMalformed, "SMBIOS OEM strings: structure type {}, not {}",
                      raw[0], kSmbiosOemStringsType);
  }
  const std::size_t length = raw[1];
  if (length < kOemStringsFormattedSize) {
    return make_error(ErrorCode::kMalformed,
                      "SMBIOS OEM strings: formatted length {}, less than {}", length,
                      kOemStringsFormattedSize);
  }
  if (length > raw.size()) {
    return make_error(ErrorCode::kTruncated,
                      "SMBIOS OEM strings: formatted length {} runs past the {} bytes", length,
                      raw.size());
  }
  const std::size_t count = raw[4];
  std::vector<std::string> strings;
  std::size_t offset = length;
  // The string set: NUL-terminated strings, then one more NUL; with no string, two NULs.
  while (offset < raw.size() && raw[offset] != 0) {
    const auto begin = raw.begin() + static_cast<std::ptrdiff_t>(offset);
    const auto nul = std::find(begin, raw.end(), std::uint8_t{0});
    if (nul == raw.end()) {
      return make_error(ErrorCode::kTruncated,
                        "SMBIOS OEM strings: string {} (at offset {}) has no terminating NUL",
                        strings.size() + 1, offset);
    }
    strings.emplace_back(begin, nul);
    offset = static_cast<std::size_t>(nul - raw.begin()) + 1;
  }
  const std::size_t end = offset + (strings.empty() ? 2 : 1);
  if (end > raw.size() || (strings.empty() && raw[offset + 1] != 0)) {
    return make_error(ErrorCode::kMalformed,
                      "SMBIOS OEM strings: the string set does not end with {} (offset {})",
                      strings.empty() ? "two NULs" : "a NUL after its last string", offset);
  }
  if (end != raw.size()) {
    return make_error(ErrorCode::kMalformed,
                      "SMBIOS OEM strings: {} bytes after the end of the structure (offset {})",
                      raw.size() - end, end);
  }
  if (strings.size() != count) {
    return make_error(ErrorCode::kMalformed,
                      "SMBIOS OEM strings: the count byte says {} strings, the structure has {}",
                      count, strings.size());
  }
  return strings;
}

Result<std::vector<std::uint8_t>> find_smbios_credential(std::span<const std::string> strings,
                                                         std::string_view name) {
  if (name.empty() || name.find_first_of("=:") != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "SMBIOS credential name \"{}\": empty, or holds '=' or ':'",
                      escape_nonprintable(name));
  }
  std::optional<Result<std::vector<std::uint8_t>>> found;
  for (const std::string& text : strings) {
    std::optional<Result<std::vector<std::uint8_t>>> value;
    if (const auto plain = credential_value(text, kTextPrefix, name)) {
      value.emplace(std::vector<std::uint8_t>(plain->begin(), plain->end()));
    } else if (const auto encoded = credential_value(text, kBinaryPrefix, name)) {
      auto decoded = base64_decode(*encoded);
      if (!decoded.ok()) {
        return make_error(ErrorCode::kMalformed,
                          "SMBIOS credential {}: its binary value is not base64 ({})",
                          escape_nonprintable(name), decoded.status().message());
      }
      value.emplace(std::move(decoded).value());
    }
    if (!value) continue;
    if (found) {
      return make_error(ErrorCode::kMalformed,
                        "SMBIOS credential {} is defined by more than one OEM string",
                        escape_nonprintable(name));
    }
    found = std::move(value);
  }
  if (!found) {
    return make_error(ErrorCode::kNotFound,
                      "no SMBIOS OEM string defines credential {} (as {}{}=... or {}{}=...)",
                      escape_nonprintable(name), kTextPrefix, escape_nonprintable(name),
                      kBinaryPrefix, escape_nonprintable(name));
  }
  return std::move(*found);
}

Result<std::vector<std::uint8_t>> read_smbios_credential(const std::filesystem::path& entries_dir,
                                                         std::string_view name) {
  std::vector<std::filesystem::path> structures;
  std::error_code error;
  for (std::filesystem::directory_iterator it(entries_dir, error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().filename().string().starts_with("11-")) structures.push_back(it->path());
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return make_error(ErrorCode::kIoError, "{}: {}", entries_dir.string(), error.message());
  }
  if (structures.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "no SMBIOS OEM strings (no 11-* below {}), so no credential {}",
                      entries_dir.string(), escape_nonprintable(name));
  }
  std::sort(structures.begin(), structures.end());
  std::vector<std::string> strings;
  for (const auto& structure : structures) {
    const std::filesystem::path raw_path = structure / "raw";
    CCFDE_ASSIGN_OR_RETURN(const auto raw, read_file(raw_path, kMaxSmbiosStructureSize));
    auto parsed = parse_smbios_oem_strings(raw);
    if (!parsed.ok()) return parsed.status().with_context(raw_path.string());
    strings.insert(strings.end(), parsed->begin(), parsed->end());
  }
  return find_smbios_credential(strings, name);
}

Result<InitData> read_init_data_smbios(const std::filesystem::path& entries_dir,
                                       std::string_view name) {
  const std::string context =
      fmt::format("init-data from SMBIOS credential {}", escape_nonprintable(name));
  auto bytes = read_smbios_credential(entries_dir, name);
  if (!bytes.ok()) return bytes.status().with_context(context);
  auto init_data = parse_init_data(as_chars(*bytes));
  if (!init_data.ok()) return init_data.status().with_context(context);
  return init_data;
}

}  // namespace ccfde::kbs_client

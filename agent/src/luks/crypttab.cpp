// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/crypttab.h"

#include <algorithm>
#include <system_error>

#include "ccfde/common/file_io.h"

namespace ccfde::agent {
namespace {

constexpr std::size_t kMaxCrypttabBytes = std::size_t{1} << 20;

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_octal(char c) {
  return c >= '0' && c <= '7';
}

// Decodes fstab-style octal escapes (\040 for a space); a backslash not followed by three octal
// digits stays as written, as libmount does. A decoded NUL is refused (it would cut the value).
Result<std::string> unescape(std::string_view field, std::string_view where) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      const int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (value == 0 || value > 0xff) {
        return make_error(ErrorCode::kConfigInvalid, "{}: invalid escape \\{}", where,
                          field.substr(i + 1, 3));
      }
      out.push_back(static_cast<char>(static_cast<unsigned char>(value)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

// udev's encoding of a tag value in /dev/disk/by-*/ names (encode_devnode_name): bytes outside
// [A-Za-z0-9#+-.:=@_] and below 0x80 become \xNN, so '/' can never leave the by-* directory.
std::string encode_devnode_name(std::string_view value) {
  std::string out;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       std::string_view("#+-.:=@_").find(c) != std::string_view::npos ||
                       byte >= 0x80;
    if (plain) {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

}  // namespace

bool CrypttabEntry::has_option(std::string_view option) const {
  return std::ranges::any_of(options, [option](const std::string& entry) {
    return entry == option ||
           (entry.size() > option.size() && entry.compare(0, option.size(), option) == 0 &&
            entry[option.size()] == '=');
  });
}

std::optional<std::string> CrypttabEntry::option_value(std::string_view option) const {
  for (const auto& entry : options) {
    if (entry.size() > option.size() && entry.compare(0, option.size(), option) == 0 &&
        entry[option.size()] == '=') {
      return entry.substr(option.size() + 1);
    }
  }
  return std::nullopt;
}

Result<std::vector<CrypttabEntry>> parse_crypttab(std::string_view text, std::string_view origin) {
  std::vector<CrypttabEntry> entries;
  int line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < line.size()) {
      while (pos < line.size() && is_blank(line[pos])) ++pos;
      if (pos == line.size()) break;
      const std::size_t field_start = pos;
      while (pos < line.size() && !is_blank(line[pos])) ++pos;
      fields.push_back(line.substr(field_start, pos - field_start));
    }
    if (fields.empty() || fields[0].front() == '#') continue;

    const std::string where = fmt::format("{}:{}", origin, line_number);
    if (fields.size() < 2 || fields.size() > 4) {
      return make_error(ErrorCode::kConfigInvalid, "{}: expected 2-4 fields, found {}", where,
                        fields.size());
    }
    for (const auto field : fields) {
      if (field.find('\0') != std::string_view::npos) {
        return make_error(ErrorCode::kConfigInvalid, "{}: NUL byte in line", where);
      }
    }

    CrypttabEntry entry;
    entry.line = line_number;
    CCFDE_ASSIGN_OR_RETURN(entry.name, unescape(fields[0], where));
    if (entry.name.empty() || entry.name.find('/') != std::string::npos || entry.name == "." ||
        entry.name == "..") {
      return make_error(ErrorCode::kConfigInvalid,
                        "{}: invalid mapping name (must be non-empty, without '/')", where);
    }
    CCFDE_ASSIGN_OR_RETURN(entry.source, unescape(fields[1], where));
    if (fields.size() >= 3) {
      CCFDE_ASSIGN_OR_RETURN(entry.key, unescape(fields[2], where));
    }
    if (fields.size() == 4) {
      CCFDE_ASSIGN_OR_RETURN(const std::string options, unescape(fields[3], where));
      std::size_t option_start = 0;
      while (option_start <= options.size()) {
        std::size_t comma = options.find(',', option_start);
        if (comma == std::string::npos) comma = options.size();
        if (comma > option_start) {
          entry.options.push_back(options.substr(option_start, comma - option_start));
        }
        option_start = comma + 1;
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::vector<CrypttabEntry>> read_crypttab(const std::filesystem::path& path) {
  auto bytes = read_file(path, kMaxCrypttabBytes);
  if (!bytes.ok()) {
    switch (bytes.status().code()) {
      case ErrorCode::kNotFound: return std::vector<CrypttabEntry>{};
      case ErrorCode::kInvalidArgument:
        return make_error(ErrorCode::kConfigInvalid, "{}: larger than {} bytes", path.string(),
                          kMaxCrypttabBytes);
      default: return bytes.status();
    }
  }
  const std::string text(bytes->begin(), bytes->end());
  return parse_crypttab(text, path.string());
}

Result<std::filesystem::path> resolve_crypttab_source(std::string_view source,
                                                      const std::filesystem::path& dev_root) {
  if (source.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "crypttab source is empty");
  }
  struct Tag {
    std::string_view prefix;
    std::string_view directory;
  };
  static constexpr Tag kTags[] = {
      {"UUID=", "by-uuid"},
      {"PARTUUID=", "by-partuuid"},
      {"LABEL=", "by-label"},
      {"PARTLABEL=", "by-partlabel"},
  };
  for (const auto& tag : kTags) {
    if (source.substr(0, tag.prefix.size()) != tag.prefix) continue;
    const std::string_view value = source.substr(tag.prefix.size());
    if (value.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "crypttab source {}: empty value", tag.prefix);
    }
    const std::filesystem::path link =
        dev_root / "disk" / tag.directory / encode_devnode_name(value);
    std::error_code ec;
    const auto target = std::filesystem::canonical(link, ec);
    if (ec) {
      return make_errno_error(ErrorCode::kNotFound, ec.value(),
                              "crypttab source {}: {} does not exist (device not present yet?)",
                              source, link.string());
    }
    return target;
  }
  return std::filesystem::path(source);
}

}  // namespace ccfde::agent

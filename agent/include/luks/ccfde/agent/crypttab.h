// SPDX-License-Identifier: Apache-2.0
// /etc/crypttab (crypttab(5), with Debian's extensions): which volumes to open and under which
// names. fde-agent takes the mapping name and the options it honours from here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::agent {

struct CrypttabEntry {
  std::string name;    // the mapping name (field 1)
  std::string source;  // field 2 as written: a path, UUID=..., PARTUUID=..., LABEL=...
  std::string key;     // field 3 ("" when absent; "none" and "-" are kept as written)
  std::vector<std::string> options;  // field 4 split on ',' ("" entries dropped)
  int line = 0;                      // 1-based line number in the file

  // Whether `option` is present, alone or as option=value.
  bool has_option(std::string_view option) const;
  // The value of option=value; nullopt when absent or given without a value.
  std::optional<std::string> option_value(std::string_view option) const;
};

// Parses crypttab text: '#' comments and blank lines skipped, fields separated by spaces or tabs,
// 2 to 4 fields per line; octal escapes (\040) are decoded as in fstab.
// Errors: kConfigInvalid naming `origin` and the line ("/etc/crypttab:3: expected 2-4 fields,
// found 5"); an invalid mapping name ('/' or empty) likewise.
Result<std::vector<CrypttabEntry>> parse_crypttab(std::string_view text,
                                                  std::string_view origin = "crypttab");

// Reads and parses `path`; a missing file is an empty list (not an error).
// Errors: kIoError; those of parse_crypttab.
Result<std::vector<CrypttabEntry>> read_crypttab(const std::filesystem::path& path);

// Resolves a crypttab source to a device path: UUID=, PARTUUID=, LABEL=, PARTLABEL= through
// /dev/disk/by-*/ under `dev_root` (default "/dev"); a plain path is returned as is. Errors:
// kNotFound when the by-* link does not exist (the device has not appeared).
Result<std::filesystem::path> resolve_crypttab_source(
    std::string_view source, const std::filesystem::path& dev_root = "/dev");

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The names the agent's files under /run are built from (prompt_handoff.h, unlock_marks.h): values
// from an untrusted header, checked before they become part of a path.
#pragma once

#include <algorithm>
#include <string_view>

namespace ccfde::agent {

// A LUKS UUID as libcryptsetup reports it: hex digits and dashes, 1-64 characters.
inline bool is_luks_uuid(std::string_view uuid) {
  return !uuid.empty() && uuid.size() <= 64 && std::all_of(uuid.begin(), uuid.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  });
}

// A device-mapper name of [A-Za-z0-9_.+-]{1,127}, not "." or "..".
inline bool is_mapping_name(std::string_view name) {
  if (name.empty() || name.size() > 127 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '.' || c == '+' || c == '-';
  });
}

}  // namespace ccfde::agent

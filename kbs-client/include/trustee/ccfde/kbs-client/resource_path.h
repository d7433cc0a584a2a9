// SPDX-License-Identifier: Apache-2.0
// Trustee resource paths: `<repository>/<type>/<tag>`, the part of
// GET /kbs/v0/resource/<repository>/<type>/<tag> that names a secret
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.2).
#pragma once

#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

struct ResourcePath {
  std::string repository;
  std::string type;
  std::string tag;

  // "repository/type/tag". Safe to append to a URL as is (the grammar admits no character that
  // needs percent-encoding).
  std::string to_string() const;

  bool operator==(const ResourcePath&) const = default;
};

// Parses "repo/type/tag" with Trustee's grammar: exactly three '/'-separated segments, each
// non-empty, made of [A-Za-z0-9_.-] and not starting with '.' (Trustee's regex
// ^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*(/[A-Za-z0-9_-]+[A-Za-z0-9_.-]*){2}$). Validating locally matters
// because Trustee answers a bad path with an unhelpful 401 PluginInternalError.
// Errors: kInvalidArgument naming the segment ("repository", "type" or "tag") and, for a bad
// character, its offset in the text; a wrong segment count names how many were found.
Result<ResourcePath> parse_resource_path(std::string_view text);

}  // namespace ccfde::kbs_client

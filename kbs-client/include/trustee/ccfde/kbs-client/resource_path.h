// SPDX-License-Identifier: Apache-2.0
// Trustee resource paths: `<repository>/<type>/<tag>`, the part of
// GET /kbs/v0/<plugin>/<repository>/<type>/<tag> that names a secret
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.2). The plugin is "resource" (stored secrets) or
// "provisioner" (per-VM keys; confidential-containers/trustee,
// kbs/src/plugins/implementations/provisioner/mod.rs, commit 78962cd4).
#pragma once

#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// The Trustee plugins a secret can be fetched from. Trustee routes GET /kbs/v0/<plugin>/<rest> to
// the plugin named by the first path segment (confidential-containers/trustee,
// kbs/src/api_server.rs, commit 78962cd4); both answer an attested GET with the same JWE.
enum class KbsPlugin {
  kResource,     // "resource": secrets an administrator stored
  kProvisioner,  // "provisioner": a per-VM key in a confdata TOML document (see confdata.h)
};

// "resource" or "provisioner".
std::string_view plugin_name(KbsPlugin plugin);

// The inverse of plugin_name. Errors: kInvalidArgument naming the unknown plugin and the known
// ones.
Result<KbsPlugin> parse_plugin_name(std::string_view text);

struct ResourcePath {
  std::string repository;
  std::string type;
  std::string tag;
  KbsPlugin plugin = KbsPlugin::kResource;

  // "repository/type/tag", without the plugin. Safe to append to a URL as is (the grammar admits
  // no character that needs percent-encoding).
  std::string to_string() const;

  // "<plugin>/repository/type/tag": what follows "/kbs/v0/" in the GET URL.
  std::string url_path() const;

  // The init-data binding form Trustee's provisioner compares trustee.kbs.resource with:
  // "kbs+provisioner:///repository/type/tag"; "kbs:///repository/type/tag" for the resource plugin.
  std::string uri() const;

  bool operator==(const ResourcePath&) const = default;
};

// Parses "repo/type/tag" with Trustee's grammar: exactly three '/'-separated segments, each
// non-empty, made of [A-Za-z0-9_.-] and not starting with '.' (Trustee's regex
// ^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*(/[A-Za-z0-9_-]+[A-Za-z0-9_.-]*){2}$). Validating locally matters
// because Trustee answers a bad path with an unhelpful 401 PluginInternalError.
// Errors: kInvalidArgument naming the segment ("repository", "type" or "tag") and, for a bad
// character, its offset in the text; a wrong segment count names how many were found.
// The plugin of the result is kResource.
Result<ResourcePath> parse_resource_path(std::string_view text);

// parse_resource_path() with the given plugin.
Result<ResourcePath> parse_resource_path(KbsPlugin plugin, std::string_view text);

// Parses uri()'s forms: "kbs:///<path>" (resource plugin) or "kbs+<plugin>:///<path>" with a
// known plugin, <path> as for parse_resource_path(). Errors: kInvalidArgument naming a missing or
// unknown scheme, a host part (anything but "///"), or the path problem.
Result<ResourcePath> parse_resource_uri(std::string_view text);

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/resource_reference.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/confdata.h"

namespace ccfde::kbs_client {
namespace {

Result<ResourcePath> resource_from_init_data(const InitData* init_data) {
  if (init_data == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource \"{}\" is named by the init-data's {} claim, and this VM has no "
                      "init-data",
                      kInitDataReference, kInitDataResourceClaim);
  }
  const auto claim = init_data->data.find(kInitDataResourceClaim);
  if (claim == init_data->data.end()) {
    std::vector<std::string> names;
    for (const auto& entry : init_data->data) names.push_back(escape_nonprintable(entry.first));
    return make_error(ErrorCode::kInvalidArgument,
                      "resource \"{}\": the init-data has no {} claim (its claims: [{}])",
                      kInitDataReference, kInitDataResourceClaim, fmt::join(names, ", "));
  }
  auto path = parse_resource_uri(claim->second);
  if (!path.ok()) {
    return path.status().with_context(fmt::format("resource \"{}\": the init-data's {} claim",
                                                  kInitDataReference, kInitDataResourceClaim));
  }
  return path;
}

}  // namespace

std::string provisioner_key_name(std::string_view tag) {
  return fmt::format("io.cryptsetup.key.text.{}", tag);
}

Result<ResourcePath> resolve_resource_reference(std::string_view reference,
                                                const InitData* init_data) {
  if (reference == kInitDataReference) return resource_from_init_data(init_data);
  // A resource path admits no ':', so a colon means a URI.
  if (reference.find(':') != std::string_view::npos) return parse_resource_uri(reference);
  return parse_resource_path(reference);
}

Result<SecretBytes> disk_key_from_secret(const ResourcePath& path, SecretBytes secret) {
  if (path.plugin == KbsPlugin::kResource) return secret;
  auto key = parse_confdata_key(secret.span(), provisioner_key_name(path.tag));
  if (!key.ok()) return key.status().with_context(path.uri());
  return key;
}

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// What a cc-fde token, a configured volume or a command line names as the source of a disk key on
// a Trustee broker (docs/KEY-BROKER.md, "Resource references"):
//
//   repo/type/tag                      a secret of the resource plugin; the key is the secret
//   kbs:///repo/type/tag               the same, as a URI
//   kbs+provisioner:///repo/type/tag   a per-VM key of Trustee's provisioner plugin: a confdata
//                                      document whose "io.cryptsetup.key.text.<tag>" entry is the
//                                      key (confdata.h)
//   init-data                          the URI the VM's init-data binds with its claim
//                                      "trustee.kbs.resource", which is what Trustee's provisioner
//                                      checks before it releases a per-VM key
//                                      (confidential-containers/trustee,
//                                      kbs/src/plugins/implementations/provisioner/mod.rs,
//                                      handle_get_resource, commit 78962cd4)
#pragma once

#include <string_view>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/kbs-client/resource_path.h"

namespace ccfde::kbs_client {

// The reference that takes its resource from the init-data.
inline constexpr std::string_view kInitDataReference = "init-data";

// The init-data claim that names a VM's per-VM key.
inline constexpr std::string_view kInitDataResourceClaim = "trustee.kbs.resource";

// The confdata entry that holds the key of the provisioner resource whose tag is `tag`.
std::string provisioner_key_name(std::string_view tag);

// Resolves `reference` (one of the forms above) to the path to GET. For "init-data" the path is
// the claim of `init_data` (nullptr: the VM has none). Whoever launched the VM supplied that
// document: it is taken as the path only because the evidence provider refuses to attest unless
// its digest is in the evidence's MRCONFIGID or HOST_DATA (check_init_data_binding), so no
// request for it leaves a VM the launch did not bind it to.
// Errors: kInvalidArgument naming the problem: a malformed path or URI (as parse_resource_path
// and parse_resource_uri say), "init-data" with no init-data, an init-data without the claim
// (the claims it has are listed), or a claim that is not a kbs URI.
Result<ResourcePath> resolve_resource_reference(std::string_view reference,
                                                const InitData* init_data);

// The disk key in `secret`, the bytes fetched from `path`: the secret itself (resource plugin),
// or the bytes of the provisioner_key_name(path.tag) entry of the confdata document
// (provisioner plugin; `secret` is wiped when it goes out of scope either way).
// Errors: those of parse_confdata_key, with the path as context.
Result<SecretBytes> disk_key_from_secret(const ResourcePath& path, SecretBytes secret);

}  // namespace ccfde::kbs_client

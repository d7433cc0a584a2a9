// SPDX-License-Identifier: Apache-2.0
// devkbs's model of Trustee's provisioner plugin (confidential-containers/trustee,
// kbs/src/plugins/implementations/provisioner/mod.rs and README.md, commit 78962cd4): the VM's
// deterministic UUID, the resource path of its key, the confdata document that holds the key,
// and the init-data claim that binds a guest to it. The HTTP side is in broker.cpp.
#pragma once

#include <string>
#include <string_view>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::devkbs::provisioner {

// The init-data claim a guest must carry, equal to "kbs+provisioner:///<resource path>".
inline constexpr std::string_view kBindingClaim = "trustee.kbs.resource";

// The namespace of a provisioning request without one (ProvisionRequest's default).
inline constexpr std::string_view kDefaultNamespace = "default";

// Whether `text` is a UUID as Uuid::to_string writes it: 8-4-4-4-12 lowercase hex digits.
bool is_canonical_uuid(std::string_view text);

// The VM's UUID, as handle_provision derives it: UUID version 5 (RFC 4122 section 4.3: SHA-1,
// version and variant bits) of "<vm_namespace>/<vm_name>" in the provisioner's namespace
// feab5599-6854-52bc-95f0-0241c03e620a, in canonical form. Errors: kCryptoError from SHA-1.
Result<std::string> vm_uuid(std::string_view vm_namespace, std::string_view vm_name);

// "default/<uuid>/root": where the key of the VM with `uuid` is stored and served.
std::string resource_path(std::string_view uuid);

// A confdata document (generate_confdata_toml) with a fresh key of 32 characters (key_length's
// default) drawn uniformly from A-Z a-z 0-9 (rand's Alphanumeric). Errors: kCryptoError when
// RAND_bytes fails.
Result<SecretBytes> make_confdata_document();

}  // namespace ccfde::devkbs::provisioner

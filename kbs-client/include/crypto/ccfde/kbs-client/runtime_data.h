// SPDX-License-Identifier: Apache-2.0
// The runtime-data binding of Trustee's RCAR protocol (docs/reference/TRUSTEE-KBS-PROTOCOL.md
// §3.7): the evidence's report data is a hash of the canonical JSON of the TEE public key, the
// nonce and the additional evidence.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// HASH(JCS({"additional-evidence": additional_evidence, "nonce": nonce, "tee-pubkey": tee_pubkey}))
// where `additional_evidence` is a JSON string ("" when there is none) and `tee_pubkey` the JWK
// object the client sends. Errors: those of canonical_json (kInvalidArgument), kCryptoError.
Result<Bytes> runtime_data_digest(const nlohmann::json& tee_pubkey, std::string_view nonce,
                                  std::string_view additional_evidence, DigestAlgorithm algorithm);

// The hash the broker selected: sha384 unless `extra_params` is an object with a string member
// "selected-hash-algorithm" (matched case-insensitively: "sha256", "SHA384", "sha512").
// A null, empty-string or non-object extra_params, or an object without that member -> sha384.
// Errors: kUnsupportedAlgorithm for another name (naming it), kMalformedResponse when the member
// is not a string.
Result<DigestAlgorithm> hash_algorithm_from_extra_params(const nlohmann::json& extra_params);

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// RFC 8785 JSON Canonicalization Scheme (JCS): the byte form whose hash binds the TEE key and the
// broker's nonce into the attestation evidence (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.7).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// The RFC 8785 canonical serialisation of `value`: object members sorted by the UTF-16 code units
// of their names, no whitespace, strings escaped only for '"', '\\' and control characters (the
// short forms \b \f \n \r \t, otherwise \u00xx lowercase), non-ASCII kept as UTF-8, numbers in the
// ECMAScript Number.prototype.toString form (integers without exponent or fraction up to 1e21,
// -0 as 0, 1e21 as "1e+21", 1E-7 as "1e-7").
// Errors: kInvalidArgument for NaN or infinite numbers, binary values, invalid UTF-8 in a string
// or name, or duplicate member names after decoding (nlohmann cannot produce those, but the
// check is cheap).
Result<std::string> canonical_json(const nlohmann::json& value);

}  // namespace ccfde::kbs_client

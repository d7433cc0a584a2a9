// SPDX-License-Identifier: Apache-2.0
// confdata: the TOML document in which Trustee's provisioner plugin hands out a per-VM disk key
// (confidential-containers/trustee, kbs/src/plugins/implementations/provisioner/mod.rs,
// generate_confdata_toml, and its README.md, commit 78962cd4):
//
//   version = "0.1.0"
//
//   [data]
//   "io.cryptsetup.key.text.root" = "<alphanumeric key>"
//
// The value of a "io.cryptsetup.key.text.*" entry is a text passphrase: its UTF-8 bytes, exactly,
// are what unlocks the LUKS keyslot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// The only confdata version Trustee writes.
inline constexpr std::string_view kConfdataVersion = "0.1.0";

// The [data] entry holding the root disk's passphrase.
inline constexpr std::string_view kConfdataRootKey = "io.cryptsetup.key.text.root";

// The largest confdata document accepted (a few keys, not a payload).
inline constexpr std::size_t kMaxConfdataSize = std::size_t{64} * 1024;

// Parses a confdata document (as fetched, e.g. the SecretBytes of a provisioner resource) and
// returns the bytes of the string `key_name` of its [data] table. The document's other string
// values in [data] are wiped from the parser's memory before returning; the caller keeps and wipes
// `document` itself. No message includes a value or a character of the document.
// Errors: kInvalidArgument (more than kMaxConfdataSize bytes, a NUL byte); kMalformed naming the
// problem: not TOML (line and column only), `version` missing, not a string or not
// kConfdataVersion, [data] missing or not a table, `key_name` missing from [data] (the names
// present are listed), its value not a string, or empty.
Result<SecretBytes> parse_confdata_key(std::span<const std::uint8_t> document,
                                       std::string_view key_name);

}  // namespace ccfde::kbs_client

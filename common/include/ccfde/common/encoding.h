// SPDX-License-Identifier: Apache-2.0
// Hex, base64 (RFC 4648 §4) and base64url (RFC 4648 §5) codecs. Decoders are strict: they accept
// exactly the canonical alphabet and report the offset of the first bad character.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde {

using Bytes = std::vector<std::uint8_t>;

// Lowercase hex of `bytes`.
std::string hex_encode(std::span<const std::uint8_t> bytes);
// Decodes hex (either case, no separators, even length). kInvalidArgument names the offset.
Result<Bytes> hex_decode(std::string_view text);

// Padded standard base64.
std::string base64_encode(std::span<const std::uint8_t> bytes);
// Decodes padded standard base64; padding is required when the length is not a multiple of 4.
Result<Bytes> base64_decode(std::string_view text);

// Unpadded base64url (the JOSE form).
std::string base64url_encode(std::span<const std::uint8_t> bytes);
// Decodes base64url; trailing '=' padding is tolerated, as some brokers send it.
Result<Bytes> base64url_decode(std::string_view text);
// As base64url_decode, decoding straight into a SecretBytes (for key material).
Result<SecretBytes> base64url_decode_secret(std::string_view text);

// `text` with every byte outside printable ASCII (tab, CR and LF allowed) written as "\xNN": the
// form in which text from untrusted bytes (event data, certificate names, file paths) enters JSON
// and logs, which need valid UTF-8 and must not carry terminal control sequences.
std::string escape_nonprintable(std::string_view text);

// The bytes of a string, and the string of bytes (no validation).
inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_chars(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace ccfde

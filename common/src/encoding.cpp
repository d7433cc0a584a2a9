// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/encoding.h"

#include <openssl/crypto.h>

#include <array>

namespace ccfde {
namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string encode_base64_with(std::span<const std::uint8_t> bytes, std::string_view alphabet,
                               bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = std::uint32_t{bytes[i]} << 16 | std::uint32_t{bytes[i + 1]} << 8 |
                                std::uint32_t{bytes[i + 2]};
    out += alphabet[group >> 18 & 63];
    out += alphabet[group >> 12 & 63];
    out += alphabet[group >> 6 & 63];
    out += alphabet[group & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t group = std::uint32_t{bytes[i]} << 16;
    out += alphabet[group >> 18 & 63];
    out += alphabet[group >> 12 & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    const std::uint32_t group = std::uint32_t{bytes[i]} << 16 | std::uint32_t{bytes[i + 1]} << 8;
    out += alphabet[group >> 18 & 63];
    out += alphabet[group >> 12 & 63];
    out += alphabet[group >> 6 & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes into `out` (sized by the caller to decoded_size). `padding_required` distinguishes
// standard base64 from base64url.
Status decode_base64_into(std::string_view text, std::string_view alphabet, bool padding_required,
                          std::span<std::uint8_t> out, std::size_t& written) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    value[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  std::size_t data_length = text.size();
  while (data_length > 0 && text[data_length - 1] == '=') --data_length;
  const std::size_t padding = text.size() - data_length;
  if (padding > 2) {
    return make_error(ErrorCode::kInvalidArgument, "base64: too much '=' padding at offset {}",
                      data_length);
  }
  if (padding_required && text.size() % 4 != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "base64: length {} is not a multiple of 4 (padding missing)", text.size());
  }
  if (padding > 0 && text.size() % 4 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "base64: padding at offset {} is misplaced",
                      data_length);
  }
  if (data_length % 4 == 1) {
    return make_error(ErrorCode::kInvalidArgument, "base64: length {} cannot be decoded",
                      data_length);
  }
  std::uint32_t accumulator = 0;
  int bits = 0;
  written = 0;
  for (std::size_t i = 0; i < data_length; ++i) {
    const int v = value[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      return make_error(ErrorCode::kInvalidArgument, "base64: invalid character at offset {}", i);
    }
    accumulator = accumulator << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[written++] = static_cast<std::uint8_t>(accumulator >> bits & 0xff);
    }
  }
  // Non-canonical encodings leave set bits in the final partial group.
  if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "base64: non-zero trailing bits at offset {}",
                      data_length - 1);
  }
  return Status();
}

std::size_t decoded_size_upper_bound(std::string_view text) {
  return text.size() / 4 * 3 + 3;
}

Result<Bytes> decode_base64_bytes(std::string_view text, std::string_view alphabet,
                                  bool padding_required) {
  Bytes out(decoded_size_upper_bound(text));
  std::size_t written = 0;
  CCFDE_RETURN_IF_ERROR(decode_base64_into(text, alphabet, padding_required, out, written));
  out.resize(written);
  return out;
}

}  // namespace

std::string escape_nonprintable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 0x20 && byte < 0x7f) || byte == '\t' || byte == '\n' || byte == '\r') {
      out.push_back(c);
    } else {
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 15];
    }
  }
  return out;
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t byte : bytes) {
    out += kHexDigits[byte >> 4];
    out += kHexDigits[byte & 15];
  }
  return out;
}

Result<Bytes> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "hex: odd number of digits ({})", text.size());
  }
  Bytes out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) {
      return make_error(ErrorCode::kInvalidArgument, "hex: invalid digit at offset {}",
                        high < 0 ? 2 * i : 2 * i + 1);
    }
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return out;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  return encode_base64_with(bytes, kBase64Alphabet, /*pad=*/true);
}

Result<Bytes> base64_decode(std::string_view text) {
  return decode_base64_bytes(text, kBase64Alphabet, /*padding_required=*/true);
}

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  return encode_base64_with(bytes, kBase64UrlAlphabet, /*pad=*/false);
}

Result<Bytes> base64url_decode(std::string_view text) {
  return decode_base64_bytes(text, kBase64UrlAlphabet, /*padding_required=*/false);
}

Result<SecretBytes> base64url_decode_secret(std::string_view text) {
  SecretBytes scratch(decoded_size_upper_bound(text));
  std::size_t written = 0;
  CCFDE_RETURN_IF_ERROR(decode_base64_into(text, kBase64UrlAlphabet, /*padding_required=*/false,
                                           scratch.span(), written));
  return SecretBytes::copy_of(scratch.span().first(written));
}

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/encoding.h"

#include <gtest/gtest.h>

namespace ccfde {
namespace {

struct Rfc4648Vector {
  std::string_view plain;
  std::string_view base64;
  std::string_view hex;
};

// RFC 4648 §10 test vectors.
constexpr Rfc4648Vector kVectors[] = {
    {"", "", ""},
    {"f", "Zg==", "66"},
    {"fo", "Zm8=", "666f"},
    {"foo", "Zm9v", "666f6f"},
    {"foob", "Zm9vYg==", "666f6f62"},
    {"fooba", "Zm9vYmE=", "666f6f6261"},
    {"foobar", "Zm9vYmFy", "666f6f626172"},
};

TEST(Encoding, Rfc4648Base64AndHexRoundTrip) {
  for (const auto& vector : kVectors) {
    EXPECT_EQ(base64_encode(as_bytes(vector.plain)), vector.base64);
    auto decoded = base64_decode(vector.base64);
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(as_chars(*decoded), vector.plain);

    EXPECT_EQ(hex_encode(as_bytes(vector.plain)), vector.hex);
    auto from_hex = hex_decode(vector.hex);
    ASSERT_TRUE(from_hex.ok());
    EXPECT_EQ(as_chars(*from_hex), vector.plain);
  }
}

TEST(Encoding, Base64UrlIsUnpaddedWithUrlAlphabet) {
  const std::uint8_t bytes[] = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  EXPECT_EQ(base64url_encode(as_bytes("f")), "Zg");
  auto decoded = base64url_decode("-_-_");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, Bytes(std::begin(bytes), std::end(bytes)));
  // Padding is tolerated on input.
  auto padded = base64url_decode("Zg==");
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(as_chars(*padded), "f");
}

TEST(Encoding, JoseProtectedHeaderVector) {
  // kbs-types: the protected header of {"alg":"fakealg","enc":"fakeenc"}.
  EXPECT_EQ(base64url_encode(as_bytes(R"({"alg":"fakealg","enc":"fakeenc"})")),
            "eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9");
}

TEST(Encoding, DecodersNameTheBadOffset) {
  auto bad_hex = hex_decode("00zz");
  ASSERT_FALSE(bad_hex.ok());
  EXPECT_EQ(bad_hex.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad_hex.status().message(), "hex: invalid digit at offset 2");
  EXPECT_FALSE(hex_decode("abc").ok());

  auto bad_base64 = base64_decode("Zm9v!mFy");
  ASSERT_FALSE(bad_base64.ok());
  EXPECT_EQ(bad_base64.status().message(), "base64: invalid character at offset 4");
  EXPECT_FALSE(base64_decode("Zg").ok()) << "standard base64 requires padding";
  EXPECT_FALSE(base64_decode("Zg===").ok());
  EXPECT_FALSE(base64_decode("Zh==").ok()) << "non-canonical trailing bits";
  EXPECT_FALSE(base64url_decode("Z").ok());
  EXPECT_FALSE(base64url_decode("Zm+v").ok()) << "'+' is not in the url alphabet";
}

TEST(Encoding, Base64UrlDecodeSecret) {
  auto secret = base64url_decode_secret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
  ASSERT_TRUE(secret.ok());
  ASSERT_EQ(secret->size(), 32u);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(secret->data()[i], i);
  EXPECT_FALSE(base64url_decode_secret("A*").ok());
}

TEST(Encoding, EscapeNonprintableKeepsTextAndEscapesTheRest) {
  EXPECT_EQ(escape_nonprintable("ACPI DATA\tok\n"), "ACPI DATA\tok\n");
  EXPECT_EQ(escape_nonprintable(std::string_view("a\0b\x1b[31m\xff\xc3", 10)),
            "a\\x00b\\x1b[31m\\xff\\xc3");
  EXPECT_EQ(escape_nonprintable(""), "");
}

}  // namespace
}  // namespace ccfde

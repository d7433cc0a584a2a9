// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/digest.h"

#include <gtest/gtest.h>

#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde {
namespace {

TEST(Digest, KnownAnswersForAbc) {
  // FIPS 180-2 "abc" vectors.
  EXPECT_EQ(hex_encode(*digest(DigestAlgorithm::kSha1, as_bytes("abc"))),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex_encode(*digest(DigestAlgorithm::kSha256, as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_encode(*digest(DigestAlgorithm::kSha384, as_bytes("abc"))),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7");
}

TEST(Digest, PartsAreConcatenated) {
  auto whole = digest(DigestAlgorithm::kSha512, as_bytes("abcdef"));
  auto parts = digest(DigestAlgorithm::kSha512, {as_bytes("ab"), as_bytes(""), as_bytes("cdef")});
  ASSERT_TRUE(whole.ok() && parts.ok());
  EXPECT_EQ(*whole, *parts);
  EXPECT_EQ(whole->size(), 64u);
}

TEST(Digest, Names) {
  EXPECT_EQ(*digest_from_name("sha384"), DigestAlgorithm::kSha384);
  auto unknown = digest_from_name("sm3");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_EQ(digest_size(DigestAlgorithm::kSha1), 20u);
}

// RFC 4231 section 4.3 (test case 2) and 4.4 (test case 3: 20 bytes 0xaa, 50 bytes 0xdd).
TEST(Digest, HmacSha256MatchesRfc4231) {
  auto jefe = hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"));
  ASSERT_TRUE(jefe.ok()) << jefe.status().to_string();
  EXPECT_EQ(hex_encode(*jefe), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::vector<std::uint8_t> key(20, 0xaa);
  const std::vector<std::uint8_t> data(50, 0xdd);
  auto filled = hmac_sha256(key, data);
  ASSERT_TRUE(filled.ok()) << filled.status().to_string();
  EXPECT_EQ(hex_encode(*filled),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

}  // namespace
}  // namespace ccfde

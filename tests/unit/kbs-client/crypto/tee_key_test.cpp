// SPDX-License-Identifier: Apache-2.0
// TeeKey: generation, the public JWK members, import of private JWKs.
#include "ccfde/kbs-client/tee_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using json = nlohmann::json;

std::set<std::string> member_names(const json& object) {
  std::set<std::string> names;
  for (const auto& item : object.items()) names.insert(item.key());
  return names;
}

Bytes decoded(const json& jwk, const char* name) {
  auto bytes = base64url_decode(jwk.at(name).get<std::string>());
  EXPECT_TRUE(bytes.ok()) << name;
  return bytes.ok() ? *bytes : Bytes();
}

TEST(TeeKey, GeneratedEcKeysHaveExactlyTheDocumentedMembers) {
  for (const auto& [type, crv, size] : {std::tuple{TeeKeyType::kEcP256, "P-256", 32u},
                                        std::tuple{TeeKeyType::kEcP521, "P-521", 66u}}) {
    auto key = TeeKey::generate(type);
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(key->type(), type);
    ASSERT_NE(key->pkey(), nullptr);
    const json jwk = key->public_jwk();
    EXPECT_EQ(member_names(jwk), (std::set<std::string>{"kty", "crv", "alg", "x", "y"}));
    EXPECT_EQ(jwk["kty"], "EC");
    EXPECT_EQ(jwk["crv"], crv);
    EXPECT_EQ(jwk["alg"], "ECDH-ES+A256KW");
    EXPECT_EQ(decoded(jwk, "x").size(), size);
    EXPECT_EQ(decoded(jwk, "y").size(), size);
    // Unpadded base64url: ceil(size * 4 / 3) characters, no '='.
    EXPECT_EQ(jwk["x"].get<std::string>().size(), (size * 4 + 2) / 3);
    EXPECT_EQ(jwk["x"].get<std::string>().find('='), std::string::npos);
  }
}

TEST(TeeKey, GeneratedRsaKeyHasExactlyTheDocumentedMembers) {
  auto key = TeeKey::generate(TeeKeyType::kRsaOaep256);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  const json jwk = key->public_jwk();
  EXPECT_EQ(member_names(jwk), (std::set<std::string>{"kty", "alg", "n", "e"}));
  EXPECT_EQ(jwk["kty"], "RSA");
  EXPECT_EQ(jwk["alg"], "RSA-OAEP-256");
  EXPECT_EQ(jwk["e"], "AQAB");  // 65537, no leading zero bytes
  const Bytes n = decoded(jwk, "n");
  ASSERT_EQ(n.size(), 384u);
  EXPECT_NE(n[0], 0);
  EXPECT_EQ(EVP_PKEY_get_bits(key->pkey()), 3072);
}

TEST(TeeKey, TwoGeneratedKeysDiffer) {
  auto a = TeeKey::generate(TeeKeyType::kEcP256);
  auto b = TeeKey::generate(TeeKeyType::kEcP256);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_jwk()["x"], b->public_jwk()["x"]);
}

TEST(TeeKey, FromPrivateJwkOfTheConstructedVector) {
  CCFDE_LOAD_TESTDATA(file, "constructed/kbs-constructed-vectors.json");
  const json vectors = json::parse(file.begin(), file.end());
  const json& private_jwk = vectors.at("kbs_jwe_ecdh_es_a256kw_p256").at("tee_private_jwk");
  auto key = TeeKey::from_private_jwk(private_jwk);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(key->type(), TeeKeyType::kEcP256);
  // The public JWK equals the one of the worked example
  // (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.4).
  EXPECT_EQ(key->public_jwk(), json::parse(R"({"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW",
      "x":"DH3IAti9SHYgKffRuGwOUrJcgaHbdA8zNkKvFK4LWck",
      "y":"UZ0NQzuKjcqpoK58COSD9ovMS5OFB7PGUI2lPVNwZ64"})"));

  // The same d with another key's public point is inconsistent.
  json mismatched = private_jwk;
  mismatched["x"] = vectors["kbs_jwe_ecdh_es_a256kw_p256"]["ephemeral_private_jwk"]["x"];
  mismatched["y"] = vectors["kbs_jwe_ecdh_es_a256kw_p256"]["ephemeral_private_jwk"]["y"];
  auto bad = TeeKey::from_private_jwk(mismatched);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
}

TEST(TeeKey, FromPrivateJwkErrors) {
  auto generated = TeeKey::generate(TeeKeyType::kEcP256);
  ASSERT_TRUE(generated.ok());
  const json pub = generated->public_jwk();

  auto code_of = [](const json& jwk) { return TeeKey::from_private_jwk(jwk).status().code(); };
  EXPECT_EQ(code_of(json::array()), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(pub), ErrorCode::kInvalidArgument);  // no "d"
  json p384 = pub;
  p384["crv"] = "P-384";
  EXPECT_EQ(code_of(p384), ErrorCode::kUnsupportedAlgorithm);
  json okp = {{"kty", "OKP"}, {"crv", "X25519"}};
  EXPECT_EQ(code_of(okp), ErrorCode::kUnsupportedAlgorithm);
  json short_d = pub;
  short_d["d"] = "AAEC";
  auto status = TeeKey::from_private_jwk(short_d).status();
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("\"d\" must be 32 bytes, found 3"), std::string::npos);
  json bad_b64 = pub;
  bad_b64["d"] = "not*base64url";
  EXPECT_EQ(code_of(bad_b64), ErrorCode::kInvalidArgument);
  json rsa_missing = {{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}};
  EXPECT_EQ(code_of(rsa_missing), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// JWE decryption and encryption (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.8): the constructed
// vector step by step, round trips, tampering and refused algorithms.
#include "ccfde/kbs-client/jwe.h"

#include <gtest/gtest.h>

#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/jwe_primitives.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using json = nlohmann::json;

constexpr std::string_view kVectorFile = "constructed/kbs-constructed-vectors.json";
constexpr std::string_view kPlaintext = "this is a test data";

std::string text_of(const SecretBytes& secret) {
  return std::string(as_chars(secret.span()));
}

std::string b64(std::string_view text) {
  return base64url_encode(as_bytes(text));
}

// Flips the lowest bit of the first decoded byte of a base64url member.
json flip_member(json jwe, const char* name) {
  Bytes bytes = *base64url_decode(jwe[name].get<std::string>());
  bytes.at(0) ^= 1;
  jwe[name] = base64url_encode(bytes);
  return jwe;
}

TeeKey generate(TeeKeyType type) {
  auto key = TeeKey::generate(type);
  EXPECT_TRUE(key.ok()) << key.status().to_string();
  return std::move(key).value();
}

json encrypt_for(const TeeKey& key, std::string_view plaintext) {
  auto jwe = encrypt_jwe(as_bytes(plaintext), key.public_jwk());
  EXPECT_TRUE(jwe.ok()) << jwe.status().to_string();
  return jwe.ok() ? *jwe : json();
}

void expect_error(const Result<SecretBytes>& result, ErrorCode code, std::string_view fragment) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status().to_string();
  EXPECT_NE(result.status().message().find(fragment), std::string::npos)
      << result.status().message();
}

class ConstructedVector : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = testing::load_testdata(std::string(kVectorFile));
    ASSERT_TRUE(file) << "test vector " << testing::testdata_path(std::string(kVectorFile))
                      << " absent";
    vector_ = json::parse(file->begin(), file->end()).at("kbs_jwe_ecdh_es_a256kw_p256");
    auto key = TeeKey::from_private_jwk(vector_.at("tee_private_jwk"));
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    key_.emplace(std::move(key).value());
  }
  json vector_;
  std::optional<TeeKey> key_;
};

TEST_F(ConstructedVector, DecryptsToTheDocumentedPlaintext) {
  auto plaintext = decrypt_jwe(vector_.at("response"), *key_);
  ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string();
  EXPECT_EQ(plaintext->size(), 19u);
  EXPECT_EQ(text_of(*plaintext), kPlaintext);
}

TEST_F(ConstructedVector, IntermediateValuesMatch) {
  const json& response = vector_.at("response");
  const Bytes header = *base64url_decode(response.at("protected").get<std::string>());
  EXPECT_EQ(std::string(as_chars(header)), vector_.at("protected_json").get<std::string>());
  const json epk = json::parse(header).at("epk");

  auto curve = internal::curve_info("P-256");
  ASSERT_TRUE(curve.ok());
  auto peer = internal::ec_public_key(*curve, *base64url_decode(epk["x"].get<std::string>()),
                                      *base64url_decode(epk["y"].get<std::string>()));
  ASSERT_TRUE(peer.ok()) << peer.status().to_string();
  auto z = internal::ecdh_shared_secret(key_->pkey(), peer->get());
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(hex_encode(z->span()),
            "628d8584f595946911132a3c9d0db3dc9b2ad9a494d0153b497cf8ebfd33165d");
  auto kek = internal::concat_kdf_a256kw(z->span());
  ASSERT_TRUE(kek.ok());
  EXPECT_EQ(hex_encode(kek->span()),
            "897cb912f5788567ca8b8828e53d6629a29379e65d77b515a1ddf05d13d4dbbc");
  const Bytes wrapped = *base64url_decode(response.at("encrypted_key").get<std::string>());
  ASSERT_EQ(wrapped.size(), 40u);
  auto cek = internal::aes_kw_unwrap(kek->span(), wrapped);
  ASSERT_TRUE(cek.ok());
  EXPECT_EQ(hex_encode(cek->span()),
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(hex_encode(*base64url_decode(response.at("iv").get<std::string>())),
            "a0a1a2a3a4a5a6a7a8a9aaab");
  // Wrapping the CEK again under the KEK reproduces encrypted_key (RFC 3394 is deterministic).
  auto rewrapped = internal::aes_kw_wrap(kek->span(), cek->span());
  ASSERT_TRUE(rewrapped.ok());
  EXPECT_EQ(*rewrapped, wrapped);
}

TEST_F(ConstructedVector, TamperingIsDetected) {
  const json& response = vector_.at("response");
  expect_error(decrypt_jwe(flip_member(response, "tag"), *key_), ErrorCode::kDecryptionFailed,
               "tag mismatch");
  expect_error(decrypt_jwe(flip_member(response, "ciphertext"), *key_),
               ErrorCode::kDecryptionFailed, "tag mismatch");
  expect_error(decrypt_jwe(flip_member(response, "iv"), *key_), ErrorCode::kDecryptionFailed,
               "tag mismatch");
  expect_error(decrypt_jwe(flip_member(response, "encrypted_key"), *key_),
               ErrorCode::kDecryptionFailed, "key unwrap failed");

  // The same header with one space more: semantically equal, but the AAD is the received text.
  json respaced = response;
  std::string header = vector_.at("protected_json").get<std::string>();
  header.insert(1, " ");
  respaced["protected"] = b64(header);
  expect_error(decrypt_jwe(respaced, *key_), ErrorCode::kDecryptionFailed, "tag mismatch");

  // Another epk on the same curve: a different KEK.
  auto other = TeeKey::generate(TeeKeyType::kEcP256);
  ASSERT_TRUE(other.ok());
  json swapped_header = json::parse(vector_.at("protected_json").get<std::string>());
  swapped_header["epk"]["x"] = other->public_jwk()["x"];
  swapped_header["epk"]["y"] = other->public_jwk()["y"];
  json swapped = response;
  swapped["protected"] = b64(swapped_header.dump());
  expect_error(decrypt_jwe(swapped, *key_), ErrorCode::kDecryptionFailed, "key unwrap failed");

  // Messages give nothing beyond the cause.
  auto result = decrypt_jwe(flip_member(response, "tag"), *key_);
  EXPECT_EQ(result.status().message(), "tag mismatch");
}

TEST_F(ConstructedVector, WrongKeyFailsToUnwrap) {
  auto other = TeeKey::generate(TeeKeyType::kEcP256);
  ASSERT_TRUE(other.ok());
  expect_error(decrypt_jwe(vector_.at("response"), *other), ErrorCode::kDecryptionFailed,
               "key unwrap failed");
}

TEST_F(ConstructedVector, EpkOnAnotherCurveIsRefused) {
  auto p521 = TeeKey::generate(TeeKeyType::kEcP521);
  ASSERT_TRUE(p521.ok());
  json header = {{"alg", "ECDH-ES+A256KW"}, {"enc", "A256GCM"}, {"epk", p521->public_jwk()}};
  header["epk"].erase("alg");
  json jwe = vector_.at("response");
  jwe["protected"] = b64(header.dump());
  expect_error(decrypt_jwe(jwe, *key_), ErrorCode::kMalformedResponse,
               "epk curve \"P-521\" does not match the TEE key's curve P-256");
}

TEST_F(ConstructedVector, EpkNotOnTheCurveIsRefused) {
  json header = json::parse(vector_.at("protected_json").get<std::string>());
  Bytes y = *base64url_decode(header["epk"]["y"].get<std::string>());
  y[31] ^= 1;
  header["epk"]["y"] = base64url_encode(y);
  json jwe = vector_.at("response");
  jwe["protected"] = b64(header.dump());
  expect_error(decrypt_jwe(jwe, *key_), ErrorCode::kMalformedResponse, "epk");

  header["epk"]["y"] = "AAAA";
  jwe["protected"] = b64(header.dump());
  expect_error(decrypt_jwe(jwe, *key_), ErrorCode::kMalformedResponse, "32 bytes");
}

TEST(Jwe, RoundTripsForEveryKeyType) {
  for (TeeKeyType type : {TeeKeyType::kEcP256, TeeKeyType::kEcP521, TeeKeyType::kRsaOaep256}) {
    SCOPED_TRACE(std::string(tee_key_type_name(type)));
    const TeeKey key = generate(type);
    const std::string secret(64, '\x5a');
    const json jwe = encrypt_for(key, secret);
    auto plaintext = decrypt_jwe(jwe, key);
    ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string();
    EXPECT_EQ(text_of(*plaintext), secret);

    // Trustee's members, and its protected-header bytes.
    std::set<std::string> names;
    for (const auto& item : jwe.items()) names.insert(item.key());
    EXPECT_EQ(names,
              (std::set<std::string>{"protected", "encrypted_key", "iv", "ciphertext", "tag"}));
    EXPECT_EQ(base64url_decode(jwe["iv"].get<std::string>())->size(), 12u);
    EXPECT_EQ(base64url_decode(jwe["tag"].get<std::string>())->size(), 16u);
    const std::string header(as_chars(*base64url_decode(jwe["protected"].get<std::string>())));
    if (type == TeeKeyType::kRsaOaep256) {
      EXPECT_EQ(jwe["protected"], "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0");
      EXPECT_EQ(base64url_decode(jwe["encrypted_key"].get<std::string>())->size(), 384u);
    } else {
      const std::string crv = key.public_jwk()["crv"];
      EXPECT_EQ(header.rfind(R"({"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":")" + crv +
                                 R"(","kty":"EC","x":")",
                             0),
                0u)
          << header;
      const json parsed = json::parse(header);
      EXPECT_EQ(parsed["epk"].size(), 4u);
      EXPECT_EQ(base64url_decode(jwe["encrypted_key"].get<std::string>())->size(), 40u);
    }
  }
}

TEST(Jwe, EmptyPlaintextRoundTrips) {
  const TeeKey key = generate(TeeKeyType::kEcP256);
  auto plaintext = decrypt_jwe(encrypt_for(key, ""), key);
  ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string();
  EXPECT_TRUE(plaintext->empty());
}

TEST(Jwe, RsaTamperingAndWrongKeyLookLikeATagMismatch) {
  const TeeKey key = generate(TeeKeyType::kRsaOaep256);
  const json jwe = encrypt_for(key, kPlaintext);
  expect_error(decrypt_jwe(flip_member(jwe, "tag"), key), ErrorCode::kDecryptionFailed,
               "tag mismatch");
  expect_error(decrypt_jwe(flip_member(jwe, "ciphertext"), key), ErrorCode::kDecryptionFailed,
               "tag mismatch");
  // A broken OAEP block is not reported differently (RFC 7516 §11.5).
  auto broken = decrypt_jwe(flip_member(jwe, "encrypted_key"), key);
  expect_error(broken, ErrorCode::kDecryptionFailed, "tag mismatch");
  const TeeKey other = generate(TeeKeyType::kRsaOaep256);
  expect_error(decrypt_jwe(jwe, other), ErrorCode::kDecryptionFailed, "tag mismatch");
  json truncated = jwe;
  truncated["encrypted_key"] = base64url_encode(Bytes(383, 1));
  expect_error(decrypt_jwe(truncated, key), ErrorCode::kMalformedResponse, "384 bytes");
}

TEST(Jwe, UnsupportedAlgorithmsAreNamed) {
  const TeeKey ec = generate(TeeKeyType::kEcP256);
  const TeeKey rsa = generate(TeeKeyType::kRsaOaep256);
  json jwe = encrypt_for(ec, kPlaintext);
  auto with_header = [&](const json& header) {
    json copy = jwe;
    copy["protected"] = b64(header.dump());
    return copy;
  };
  // kbs-types' own test header (protected "eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9").
  json fake = jwe;
  fake["protected"] = "eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9";
  expect_error(decrypt_jwe(fake, ec), ErrorCode::kUnsupportedAlgorithm, "\"fakeenc\"");
  expect_error(decrypt_jwe(with_header({{"alg", "RSA1_5"}, {"enc", "A256GCM"}}), rsa),
               ErrorCode::kUnsupportedAlgorithm, "\"RSA1_5\"");
  expect_error(decrypt_jwe(with_header({{"alg", "dir"}, {"enc", "A256GCM"}}), ec),
               ErrorCode::kUnsupportedAlgorithm, "\"dir\"");
  expect_error(decrypt_jwe(with_header({{"alg", "ECDH-ES"}, {"enc", "A256GCM"}}), ec),
               ErrorCode::kUnsupportedAlgorithm, "\"ECDH-ES\"");
  expect_error(decrypt_jwe(with_header({{"alg", "ECDH-ES+A256KW"}, {"enc", "A128GCM"}}), ec),
               ErrorCode::kUnsupportedAlgorithm, "\"A128GCM\"");
  expect_error(decrypt_jwe(with_header({{"alg", "ECDH-ES+A256KW"}, {"enc", "A256CBC-HS512"}}), ec),
               ErrorCode::kUnsupportedAlgorithm, "\"A256CBC-HS512\"");
  expect_error(decrypt_jwe(with_header({{"alg", "RSA-OAEP-256"}, {"enc", "A256GCM"}}), ec),
               ErrorCode::kUnsupportedAlgorithm, "does not fit the TEE key (EC P-256)");
  expect_error(decrypt_jwe(with_header({{"alg", "ECDH-ES+A256KW"}, {"enc", "A256GCM"}}), rsa),
               ErrorCode::kUnsupportedAlgorithm, "does not fit");
  json zip = json::parse(*base64url_decode(jwe["protected"].get<std::string>()));
  zip["zip"] = "DEF";
  expect_error(decrypt_jwe(with_header(zip), ec), ErrorCode::kUnsupportedAlgorithm, "zip");
  json crit = json::parse(*base64url_decode(jwe["protected"].get<std::string>()));
  crit["crit"] = json::array({"exp"});
  expect_error(decrypt_jwe(with_header(crit), ec), ErrorCode::kUnsupportedAlgorithm, "crit");
}

TEST(Jwe, ShapeErrorsAreMalformedResponses) {
  const TeeKey key = generate(TeeKeyType::kEcP256);
  const json jwe = encrypt_for(key, kPlaintext);
  auto malformed = [&](const json& candidate, std::string_view fragment) {
    expect_error(decrypt_jwe(candidate, key), ErrorCode::kMalformedResponse, fragment);
  };
  malformed(json::array(), "expected a JSON object");
  malformed("text", "expected a JSON object");
  for (const char* member : {"protected", "encrypted_key", "iv", "ciphertext", "tag"}) {
    json missing = jwe;
    missing.erase(member);
    malformed(missing, std::string("\"") + member + "\" is missing");
    json number = jwe;
    number[member] = 5;
    malformed(number, "must be a string, found number");
    json bad = jwe;
    bad[member] = "a+b/";
    malformed(bad, std::string("JWE member \"") + member + "\"");
  }
  json aad = jwe;
  aad["aad"] = "eA";
  malformed(aad, "\"aad\" is not accepted");
  json recipients = jwe;
  recipients["recipients"] = json::array();
  malformed(recipients, "general JSON serialization");
  json extra = jwe;
  extra["unprotected"] = json::object();
  malformed(extra, "unexpected JWE member \"unprotected\"");
  json unprotected = jwe;
  unprotected["header"] = {{"alg", "dir"}};
  malformed(unprotected, "unprotected header member \"alg\" is not accepted");
  json duplicate_epk = jwe;
  duplicate_epk["header"] = {{"epk", key.public_jwk()}};
  malformed(duplicate_epk, "both the protected and the unprotected header");

  json not_json = jwe;
  not_json["protected"] = b64("{\"alg\":");
  malformed(not_json, "protected header is not a JSON object");
  json array_header = jwe;
  array_header["protected"] = b64("[1]");
  malformed(array_header, "protected header is not a JSON object");
  json no_epk = jwe;
  no_epk["protected"] = b64(R"({"alg":"ECDH-ES+A256KW","enc":"A256GCM"})");
  malformed(no_epk, "\"epk\" is missing");
  json no_alg = jwe;
  no_alg["protected"] = b64(R"({"enc":"A256GCM"})");
  malformed(no_alg, "\"alg\" is missing");

  json short_iv = jwe;
  short_iv["iv"] = base64url_encode(Bytes(11, 0));
  malformed(short_iv, "iv must be 12 bytes, found 11");
  json short_tag = jwe;
  short_tag["tag"] = base64url_encode(Bytes(15, 0));
  malformed(short_tag, "tag must be 16 bytes, found 15");
  json short_key = jwe;
  short_key["encrypted_key"] = base64url_encode(Bytes(39, 0));
  malformed(short_key, "encrypted_key must be 40 bytes");
}

TEST(Jwe, EncryptRejectsUnusableRecipients) {
  const TeeKey ec = generate(TeeKeyType::kEcP256);
  const std::string plaintext(kPlaintext);
  auto code_of = [&](const json& jwk) {
    return encrypt_jwe(as_bytes(plaintext), jwk).status().code();
  };
  EXPECT_EQ(code_of(json::array()), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(json{{"kty", "OKP"}}), ErrorCode::kUnsupportedAlgorithm);
  json p384 = ec.public_jwk();
  p384["crv"] = "P-384";
  EXPECT_EQ(code_of(p384), ErrorCode::kUnsupportedAlgorithm);
  json wrong_alg = ec.public_jwk();
  wrong_alg["alg"] = "ECDH-ES";
  EXPECT_EQ(code_of(wrong_alg), ErrorCode::kUnsupportedAlgorithm);
  json off_curve = ec.public_jwk();
  Bytes y = *base64url_decode(off_curve["y"].get<std::string>());
  y[0] ^= 0x80;
  off_curve["y"] = base64url_encode(y);
  EXPECT_EQ(code_of(off_curve), ErrorCode::kInvalidArgument);
  json rsa1_5 = {{"kty", "RSA"}, {"alg", "RSA1_5"}, {"n", "AQAB"}, {"e", "AQAB"}};
  EXPECT_EQ(code_of(rsa1_5), ErrorCode::kUnsupportedAlgorithm);
  json small_rsa = {{"kty", "RSA"}, {"n", base64url_encode(Bytes(128, 0xff))}, {"e", "AQAB"}};
  EXPECT_EQ(code_of(small_rsa), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// The pure cryptographic functions of the ITA adapter against the constructed vector
// (docs/reference/TEST-VECTORS.md §10.1) and against wrapped keys generated here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "ccfde/kbs-client/ita_client.h"
#include "ccfde/testing/test_pki.h"
#include "ita_test_util.h"

namespace ccfde::kbs_client {
namespace {

using testing::from_hex;
using ::testing::HasSubstr;

// Expected values: the ita_kbs_transfer object of the constructed vectors
// (docs/reference/TEST-VECTORS.md §10.1).
constexpr std::string_view kReportDataHex =
    "a76fcf6aa53fc1f89ec18bf5932822d3992243af99f2a0e4914c5d59cbfa0eb4"
    "def7f269dc2332c9245d0a12747994e59783620a90477992984f0db9b6821109";
constexpr std::string_view kSwkHex =
    "f493e720869ebf7a9ee3d75d237ffb9239a2cd92b0642870fd52077bbb5bdda3";
constexpr std::string_view kSecretHex =
    "38819ada2959a17ed59e039419164d0e0fce5a3203de1875a8265edf32c55ff7";
constexpr std::string_view kIvHex = "000102030405060708090a0b";

#define CCFDE_LOAD_ITA_VECTOR(var)                                                  \
  auto var##_optional = ::ccfde::kbs_client::testing::load_ita_vector();            \
  if (!var##_optional) FAIL() << "constructed/kbs-constructed-vectors.json absent"; \
  const nlohmann::json var = *var##_optional

Bytes b64(const nlohmann::json& value) {
  auto bytes = base64_decode(value.get<std::string>());
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return bytes.ok() ? *bytes : Bytes();
}

ItaKey vector_key(const nlohmann::json& vector) {
  auto key = ItaKey::from_private_pem(vector.at("rsa_private_key_pem_pkcs1").get<std::string>());
  EXPECT_TRUE(key.ok()) << key.status().to_string();
  return std::move(key).value();
}

ItaNonce vector_nonce(const nlohmann::json& vector) {
  const auto& nonce = vector.at("verifier_nonce");
  return ItaNonce{nonce.at("val").get<std::string>(), nonce.at("iat").get<std::string>(), "AA=="};
}

// wrapped_key with its three header lengths replaced.
Bytes with_lengths(Bytes wrapped, std::uint32_t iv_len, std::uint32_t tag_len,
                   std::uint32_t ct_len) {
  const std::uint32_t values[] = {iv_len, tag_len, ct_len};
  for (std::size_t field = 0; field < 3; ++field) {
    for (std::size_t i = 0; i < 4; ++i) {
      wrapped[field * 4 + i] = static_cast<std::uint8_t>(values[field] >> (8 * i));
    }
  }
  return wrapped;
}

TEST(ItaVector, UserDataIsExponentLeThenModulusBe) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  ItaKey key = vector_key(vector);
  EXPECT_EQ(key.bits(), 3072u);
  auto user_data = ita_user_data(key.pkey());
  ASSERT_TRUE(user_data.ok()) << user_data.status().to_string();
  ASSERT_EQ(user_data->size(), 388u);
  EXPECT_EQ(Bytes(user_data->begin(), user_data->begin() + 4), (Bytes{0x01, 0x00, 0x01, 0x00}));
  // Big-endian modulus: the top bit of a 3072-bit n is set in the first byte.
  EXPECT_GE((*user_data)[4], 0x80);
  EXPECT_EQ(*user_data, b64(vector.at("user_data_b64")));
  EXPECT_EQ(base64_encode(*user_data), vector.at("user_data_b64").get<std::string>());
}

TEST(ItaVector, ReportDataIsSha512OfValIatUserData) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  const ItaNonce nonce = vector_nonce(vector);
  EXPECT_EQ(as_chars(b64(vector.at("verifier_nonce").at("iat"))),
            "2024-01-01 00:00:00.000000000 +0000 UTC");
  EXPECT_EQ(b64(vector.at("verifier_nonce").at("val")).size(), 64u);
  auto report_data = ita_report_data(nonce, b64(vector.at("user_data_b64")));
  ASSERT_TRUE(report_data.ok()) << report_data.status().to_string();
  EXPECT_EQ(hex_encode(*report_data), kReportDataHex);
}

TEST(ItaVector, ReportDataFromGeneratedUserDataMatchesToo) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  ItaKey key = vector_key(vector);
  auto user_data = ita_user_data(key.pkey());
  ASSERT_TRUE(user_data.ok());
  auto report_data = ita_report_data(vector_nonce(vector), *user_data);
  ASSERT_TRUE(report_data.ok());
  EXPECT_EQ(hex_encode(*report_data), kReportDataHex);
}

TEST(ItaVector, UnwrapsSwkAndSecret) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  ItaKey key = vector_key(vector);
  const Bytes wrapped_swk = b64(vector.at("response").at("wrapped_swk"));
  const Bytes wrapped_key = b64(vector.at("response").at("wrapped_key"));
  ASSERT_EQ(wrapped_key.size(), 72u);
  EXPECT_EQ(vector.at("response").at("wrapped_key").get<std::string>().substr(0, 16),
            "DAAAABAAAAAwAAAA");
  EXPECT_EQ(hex_encode(std::span(wrapped_key).subspan(12, 12)), kIvHex);

  auto swk = ita_unwrap_swk(wrapped_swk, key);
  ASSERT_TRUE(swk.ok()) << swk.status().to_string();
  EXPECT_TRUE(swk->equals(from_hex(kSwkHex)));
  auto secret = ita_unwrap_key(wrapped_key, *swk);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_TRUE(secret->equals(from_hex(kSecretHex)));

  auto combined = ita_unwrap(ItaTransferResponse{wrapped_key, wrapped_swk}, key);
  ASSERT_TRUE(combined.ok()) << combined.status().to_string();
  EXPECT_TRUE(combined->equals(from_hex(kSecretHex)));
}

class ItaUnwrapKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto vector = testing::load_ita_vector();
    ASSERT_TRUE(vector) << "constructed/kbs-constructed-vectors.json absent";
    wrapped_ = b64(vector->at("response").at("wrapped_key"));
    swk_ = SecretBytes::copy_of(from_hex(kSwkHex));
  }
  void expect_error(const Bytes& wrapped, ErrorCode code, std::string_view text) {
    auto result = ita_unwrap_key(wrapped, swk_);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), code) << result.status().to_string();
    EXPECT_THAT(result.status().message(), HasSubstr(std::string(text)));
  }
  Bytes wrapped_;
  SecretBytes swk_;
};

TEST_F(ItaUnwrapKeyTest, CorruptedTagFails) {
  Bytes wrapped = wrapped_;
  wrapped.back() ^= 0x01;
  expect_error(wrapped, ErrorCode::kDecryptionFailed, "tag mismatch");
}

TEST_F(ItaUnwrapKeyTest, CorruptedCiphertextAndIvFail) {
  Bytes wrapped = wrapped_;
  wrapped[30] ^= 0x80;
  expect_error(wrapped, ErrorCode::kDecryptionFailed, "tag mismatch");
  wrapped = wrapped_;
  wrapped[12] ^= 0x01;
  expect_error(wrapped, ErrorCode::kDecryptionFailed, "tag mismatch");
}

TEST_F(ItaUnwrapKeyTest, WrongSwkFails) {
  Bytes other = from_hex(kSwkHex);
  other[0] ^= 0xff;
  auto result = ita_unwrap_key(wrapped_, SecretBytes::copy_of(other));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kDecryptionFailed);
}

TEST_F(ItaUnwrapKeyTest, SwkOfWrongSizeIsRejected) {
  auto result = ita_unwrap_key(wrapped_, SecretBytes(16));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ItaUnwrapKeyTest, TruncatedInputsAreMalformed) {
  expect_error(Bytes(wrapped_.begin(), wrapped_.end() - 1), ErrorCode::kMalformedResponse,
               "72 (12 + iv 12 + ct 48)");
  expect_error(Bytes(wrapped_.begin(), wrapped_.begin() + 11), ErrorCode::kMalformedResponse,
               "shorter than its 12-byte length header");
  expect_error(Bytes(wrapped_.begin(), wrapped_.begin() + 24), ErrorCode::kMalformedResponse,
               "is 24 bytes");
  expect_error(Bytes(), ErrorCode::kMalformedResponse, "is 0 bytes");
  Bytes longer = wrapped_;
  longer.push_back(0);
  expect_error(longer, ErrorCode::kMalformedResponse, "is 73 bytes, its lengths declare 72");
}

TEST_F(ItaUnwrapKeyTest, LengthsThatOverflowAreMalformed) {
  expect_error(with_lengths(wrapped_, 12, 16, 0xffffffffu), ErrorCode::kMalformedResponse,
               "declare 4294967319");
  // 12 + 12 + (2^32 - 24) wraps to 0 in 32-bit arithmetic.
  expect_error(with_lengths(wrapped_, 12, 16, 0xffffffe8u), ErrorCode::kMalformedResponse,
               "declare 4294967296");
  expect_error(with_lengths(wrapped_, 0xffffffffu, 16, 48), ErrorCode::kMalformedResponse,
               "iv_len at offset 0 is 4294967295, expected 12");
  expect_error(with_lengths(wrapped_, 12, 0xffffffffu, 48), ErrorCode::kMalformedResponse,
               "tag_len at offset 4 is 4294967295, expected 16");
}

TEST_F(ItaUnwrapKeyTest, UnexpectedLengthsAreMalformed) {
  expect_error(with_lengths(wrapped_, 16, 16, 44), ErrorCode::kMalformedResponse, "iv_len");
  expect_error(with_lengths(wrapped_, 12, 12, 48), ErrorCode::kMalformedResponse, "tag_len");
  expect_error(with_lengths(wrapped_, 12, 16, 16), ErrorCode::kMalformedResponse,
               "must exceed the 16-byte tag");
  expect_error(with_lengths(wrapped_, 12, 16, 0), ErrorCode::kMalformedResponse, "ct_len");
  expect_error(with_lengths(wrapped_, 12, 16, 47), ErrorCode::kMalformedResponse, "declare 71");
}

TEST(ItaUnwrapSwk, WrongKeyFails) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  auto other = ItaKey::generate();
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  auto swk = ita_unwrap_swk(b64(vector.at("response").at("wrapped_swk")), *other);
  ASSERT_FALSE(swk.ok());
  EXPECT_EQ(swk.status().code(), ErrorCode::kDecryptionFailed);
  EXPECT_THAT(swk.status().message(), HasSubstr("RSA-OAEP-SHA256"));
}

TEST(ItaUnwrapSwk, WrongLengthsAreMalformed) {
  CCFDE_LOAD_ITA_VECTOR(vector);
  ItaKey key = vector_key(vector);
  Bytes wrapped = b64(vector.at("response").at("wrapped_swk"));
  ASSERT_EQ(wrapped.size(), 384u);
  for (const Bytes& bad : {Bytes(wrapped.begin(), wrapped.end() - 1), Bytes(), Bytes(385, 1)}) {
    auto swk = ita_unwrap_swk(bad, key);
    ASSERT_FALSE(swk.ok());
    EXPECT_EQ(swk.status().code(), ErrorCode::kMalformedResponse);
    EXPECT_THAT(swk.status().message(), HasSubstr("expected 384"));
  }
  wrapped[100] ^= 0x01;
  auto swk = ita_unwrap_swk(wrapped, key);
  ASSERT_FALSE(swk.ok());
  EXPECT_EQ(swk.status().code(), ErrorCode::kDecryptionFailed);
}

TEST(ItaUnwrapSwk, SwkOfWrongSizeIsRefused) {
  auto key = ItaKey::generate();
  ASSERT_TRUE(key.ok());
  auto user_data = ita_user_data(key->pkey());
  ASSERT_TRUE(user_data.ok());
  auto public_key = testing::public_key_from_user_data(*user_data);
  const Bytes short_swk = testing::random_bytes(16);
  auto swk = ita_unwrap_swk(testing::rsa_oaep_sha256_encrypt(public_key.get(), short_swk), *key);
  ASSERT_FALSE(swk.ok());
  EXPECT_EQ(swk.status().code(), ErrorCode::kDecryptionFailed);
  EXPECT_THAT(swk.status().message(), HasSubstr("SWK is 16 bytes, expected 32"));
}

TEST(ItaKey, GeneratedKeyRoundTripsThroughUserData) {
  auto key = ItaKey::generate();
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(key->bits(), 3072u);
  auto user_data = ita_user_data(key->pkey());
  ASSERT_TRUE(user_data.ok());
  ASSERT_EQ(user_data->size(), 388u);
  EXPECT_EQ(Bytes(user_data->begin(), user_data->begin() + 4), (Bytes{0x01, 0x00, 0x01, 0x00}));

  // What a broker does with user_data: a fresh SWK and secret come back intact.
  auto public_key = testing::public_key_from_user_data(*user_data);
  const Bytes swk = testing::random_bytes(32);
  const Bytes secret = testing::random_bytes(64);
  const Bytes iv = testing::random_bytes(12);
  ItaTransferResponse response{testing::seal_wrapped_key(swk, iv, secret),
                               testing::rsa_oaep_sha256_encrypt(public_key.get(), swk)};
  auto unwrapped = ita_unwrap(response, *key);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().to_string();
  EXPECT_TRUE(unwrapped->equals(secret));
}

TEST(ItaKey, RefusesSmallOrNonRsaKeys) {
  auto small = ItaKey::generate(2048);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), ErrorCode::kInvalidArgument);

  EvpPkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  ASSERT_EQ(EVP_PKEY_keygen_init(context.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), 2048), 1);
  ASSERT_EQ(EVP_PKEY_keygen(context.get(), &raw), 1);
  EvpPkeyPtr rsa2048(raw);

  auto to_pem = [](EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
  };
  auto from_small = ItaKey::from_private_pem(to_pem(rsa2048.get()));
  ASSERT_FALSE(from_small.ok());
  EXPECT_EQ(from_small.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(from_small.status().message(), HasSubstr("2048-bit"));

  auto ec = ccfde::testing::generate_ec_key();
  auto from_ec = ItaKey::from_private_pem(to_pem(ec.get()));
  ASSERT_FALSE(from_ec.ok());
  EXPECT_EQ(from_ec.status().code(), ErrorCode::kUnsupportedAlgorithm);

  auto garbage = ItaKey::from_private_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), ErrorCode::kInvalidArgument);

  auto user_data = ita_user_data(ec.get());
  ASSERT_FALSE(user_data.ok());
  EXPECT_EQ(user_data.status().code(), ErrorCode::kInvalidArgument);
}

TEST(ItaReportData, BadBase64IsMalformed) {
  const Bytes user_data(388, 1);
  auto result = ita_report_data(ItaNonce{"not base64!", "AAAA", "AAAA"}, user_data);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(result.status().message(), HasSubstr("\"val\""));
  result = ita_report_data(ItaNonce{"AAAA", "AAA", "AAAA"}, user_data);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("\"iat\""));
}

}  // namespace
}  // namespace ccfde::kbs_client

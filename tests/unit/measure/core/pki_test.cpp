// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/pki.h"

#include <gtest/gtest.h>
#include <openssl/obj_mac.h>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/test_pki.h"

namespace ccfde::measure {
namespace {

using std::chrono::sys_days;
using namespace std::chrono_literals;

TimePoint at(const char* text) {
  return *parse_rfc3339(text);
}

TEST(Rfc3339, ParsesAndFormats) {
  EXPECT_EQ(at("1970-01-01T00:00:00Z").time_since_epoch().count(), 0);
  EXPECT_EQ(at("2026-06-01T00:00:00Z").time_since_epoch().count(), 1780272000);
  EXPECT_EQ(at("2026-06-01T02:00:00+02:00"), at("2026-06-01T00:00:00Z"));
  EXPECT_EQ(at("2026-06-01T00:00:00.123Z"), at("2026-06-01T00:00:00Z"));
  EXPECT_EQ(format_rfc3339(at("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
}

TEST(Rfc3339, RejectsMalformedTimes) {
  for (const char* bad :
       {"", "2026-06-01", "2026-06-01T00:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
        "2026-06-01T24:00:00Z", "2026-06-01T00:00:00Q", "2026-06-01T00:00:00+2:00",
        "1969-12-31T23:59:59Z", "2026-06-01T00:00:00.Z",
        // Each field is its exact number of digits: no sign, no leading space.
        "+026-06-01T00:00:00Z", "2026-+6-01T00:00:00Z", "2026-06- 1T00:00:00Z",
        "2026-06-01T-0:00:00Z", "2026-06-01T00:00:00+ 2:00", "2026-06-01T00:00:00+-2:00"}) {
    auto parsed = parse_rfc3339(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  }
}

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_key_ = testing::generate_ec_key();
    intermediate_key_ = testing::generate_ec_key();
    leaf_key_ = testing::generate_ec_key();
    root_ = testing::issue_certificate(
        {"Test Root", at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"), true},
        root_key_.get(), nullptr, nullptr);
    intermediate_ = testing::issue_certificate(
        {"Test Intermediate", at("2021-01-01T00:00:00Z"), at("2035-01-01T00:00:00Z"), true},
        intermediate_key_.get(), root_key_.get(), root_.get());
    leaf_ = testing::issue_certificate(
        {"Test Leaf", at("2022-01-01T00:00:00Z"), at("2030-01-01T00:00:00Z"), false},
        leaf_key_.get(), intermediate_key_.get(), intermediate_.get());
  }

  Status verify(TimePoint time, const X509* root) {
    const X509* intermediates[] = {intermediate_.get()};
    return verify_certificate_chain(leaf_.get(), intermediates, root, time);
  }

  EvpPkeyPtr root_key_, intermediate_key_, leaf_key_;
  X509Ptr root_, intermediate_, leaf_;
};

TEST_F(ChainTest, VerifiesInsideTheValidityWindow) {
  Status status = verify(at("2026-06-01T00:00:00Z"), root_.get());
  EXPECT_TRUE(status.ok()) << status.to_string();
}

TEST_F(ChainTest, FailsOutsideTheWindowWithExpired) {
  Status before = verify(at("2021-06-01T00:00:00Z"), root_.get());
  EXPECT_EQ(before.code(), ErrorCode::kCertificateExpired) << before.to_string();
  EXPECT_NE(before.message().find("Test Leaf"), std::string::npos) << before.message();
  Status after = verify(at("2031-01-01T00:00:00Z"), root_.get());
  EXPECT_EQ(after.code(), ErrorCode::kCertificateExpired) << after.to_string();
}

TEST_F(ChainTest, AnotherRootWithTheSameNameIsUntrusted) {
  auto impostor_key = testing::generate_ec_key();
  auto impostor = testing::issue_certificate(
      {"Test Root", at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"), true},
      impostor_key.get(), nullptr, nullptr);
  Status status = verify(at("2026-06-01T00:00:00Z"), impostor.get());
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.code() == ErrorCode::kUntrustedRoot ||
              status.code() == ErrorCode::kSignatureInvalid)
      << status.to_string();
}

TEST_F(ChainTest, RootInsideTheIntermediatesIsNotTrusted) {
  auto other_key = testing::generate_ec_key();
  auto other_root = testing::issue_certificate(
      {"Other Root", at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"), true}, other_key.get(),
      nullptr, nullptr);
  const X509* intermediates[] = {intermediate_.get(), root_.get()};
  Status status = verify_certificate_chain(leaf_.get(), intermediates, other_root.get(),
                                           at("2026-06-01T00:00:00Z"));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot) << status.to_string();
}

TEST_F(ChainTest, PemBundleParsesInOrderAndToleratesTrailingNul) {
  std::string bundle = testing::certificate_pem(leaf_.get()) +
                       testing::certificate_pem(intermediate_.get()) +
                       testing::certificate_pem(root_.get());
  bundle.push_back('\0');
  auto certificates = parse_pem_certificates(as_bytes(bundle));
  ASSERT_TRUE(certificates.ok()) << certificates.status().to_string();
  ASSERT_EQ(certificates->size(), 3u);
  EXPECT_EQ(certificate_common_name((*certificates)[0].get()), "Test Leaf");
  EXPECT_EQ(certificate_common_name((*certificates)[2].get()), "Test Root");
  EXPECT_EQ(certificate_fingerprint((*certificates)[1].get()),
            certificate_fingerprint(intermediate_.get()));
}

TEST_F(ChainTest, PemGarbageNamesTheBlock) {
  std::string bundle = testing::certificate_pem(leaf_.get()) + "garbage\n";
  auto certificates = parse_pem_certificates(as_bytes(bundle));
  ASSERT_FALSE(certificates.ok());
  EXPECT_EQ(certificates.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_NE(certificates.status().message().find("certificate 1"), std::string::npos);

  std::string damaged = testing::certificate_pem(leaf_.get());
  damaged[100] = '*';
  EXPECT_FALSE(parse_pem_certificates(as_bytes(damaged)).ok());
  EXPECT_FALSE(parse_pem_certificates(as_bytes("")).ok());
}

TEST_F(ChainTest, DerRoundTripAndTrailingBytes) {
  auto der = certificate_der(leaf_.get());
  auto parsed = parse_certificate(der);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(certificate_der(parsed->get()), der);
  der.push_back(0);
  auto trailing = parse_der_certificate(der);
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_FALSE(parse_der_certificate(std::span(der).first(40)).ok());
}

TEST(Ecdsa, RawSignatureVerifiesAndTamperingFails) {
  auto key = testing::generate_ec_key(NID_secp384r1);
  std::vector<std::uint8_t> message(100, 0x5a);
  auto raw = testing::sign_ecdsa_raw(key.get(), message, 48, EVP_sha384());
  std::span<const std::uint8_t> r(raw.data(), 48), s(raw.data() + 48, 48);
  EXPECT_TRUE(verify_ecdsa_signature(key.get(), DigestAlgorithm::kSha384, message, r, s).ok());
  message[3] ^= 1;
  EXPECT_EQ(verify_ecdsa_signature(key.get(), DigestAlgorithm::kSha384, message, r, s).code(),
            ErrorCode::kSignatureInvalid);
}

TEST(Ecdsa, PublicKeyFromCoordinates) {
  // The Intel SGX Root CA public key (docs/reference/MEASUREMENT-FORMATS.md §2.5).
  auto x = hex_decode("0ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5");
  auto y = hex_decode("67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394");
  auto key = ec_public_key_from_xy(NID_X9_62_prime256v1, *x, *y);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  (*y)[31] ^= 1;
  auto off_curve = ec_public_key_from_xy(NID_X9_62_prime256v1, *x, *y);
  ASSERT_FALSE(off_curve.ok());
  EXPECT_EQ(off_curve.status().code(), ErrorCode::kMalformed);
}

}  // namespace
}  // namespace ccfde::measure

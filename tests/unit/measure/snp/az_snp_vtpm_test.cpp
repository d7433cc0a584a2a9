// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/az_snp_vtpm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include <cstring>
#include <random>
#include <string>

#include "ccfde/common/digest.h"
#include "ccfde/measure/snp_verify.h"
#include "snp_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using namespace snp_test;

// Values of the Azure evidence (docs/reference/TEST-VECTORS.md §8, §7.1).
constexpr const char* kRuntimeDataSha256 =
    "cf7cc0731c50f64876804b3943b2bfbd93dba69f5928e3df223e78ff34dd46ee";
constexpr const char* kUserDataDigestUpper =
    "982F5C6E45DF0ED3F10B6F60B02F0C8390E281300F3805E2279C16168CD6AE9AA398F647CAA2338748CD0FD9F5F819"
    "EF";
constexpr const char* kPcrDigest =
    "2304510eb15046d5c940e957b6ac93bc805e3ffcadb38e0a1b95442e552cb004";
constexpr const char* kAzMeasurement =
    "5b0ce64ad1c1f6375dbda5f760b98526ca1bcf91b8195091afc28e7b024251d68fe32e05af34048d6607678cd23283"
    "f"
    "f";
constexpr const char* kPinnedTime = "2026-06-01T00:00:00Z";

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

void store_u32le(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  store_u32(bytes, offset, value);
}

void store_u32be(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i)
    bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * (3 - i)));
}

class AzSnpVtpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto json = load_json(kAzEvidence);
    ASSERT_TRUE(json) << "test vector " << kAzEvidence << " is absent";
    json_ = std::move(*json);
    auto evidence = parse_az_snp_vtpm_evidence(json_);
    ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
    evidence_ = std::move(*evidence);
  }

  AzHclReport hcl() const {
    auto parsed = parse_az_hcl_report(evidence_.hcl_report);
    EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
    return parsed.ok() ? std::move(*parsed) : AzHclReport{};
  }

  TpmsAttestQuote quote() const {
    auto parsed = parse_tpms_attest(evidence_.quote_message);
    EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
    return parsed.ok() ? std::move(*parsed) : TpmsAttestQuote{};
  }

  nlohmann::json json_;
  AzSnpVtpmEvidence evidence_;
};

TEST_F(AzSnpVtpmTest, EvidenceDecodesToDocumentedSizes) {
  EXPECT_EQ(evidence_.hcl_report.size(), 2600u);
  EXPECT_EQ(evidence_.vcek.size(), 1351u);
  EXPECT_EQ(evidence_.quote_signature.size(), 256u);
  ASSERT_EQ(evidence_.pcrs.size(), 24u);
  for (const auto& pcr : evidence_.pcrs) EXPECT_EQ(pcr.size(), 32u);
  const auto json = to_json(evidence_);
  EXPECT_EQ(json["tpm_quote"]["pcrs"].size(), 24u);
  EXPECT_EQ(json["vcek"].get<std::string>().size(), 2 * 1351u);
}

TEST_F(AzSnpVtpmTest, HclReportLayout) {
  const AzHclReport report = hcl();
  EXPECT_EQ(report.header.version, 1u);
  EXPECT_EQ(report.header.report_size, 2346u);
  EXPECT_EQ(report.header.request_type, 2u);
  EXPECT_EQ(report.header.status, 0u);
  EXPECT_EQ(report.runtime_header.data_size, 1130u);
  EXPECT_EQ(report.runtime_header.version, 1u);
  EXPECT_EQ(report.runtime_header.report_type, 2u);
  EXPECT_EQ(report.runtime_header.hash_type, AzHclHashType::kSha256);
  EXPECT_EQ(report.runtime_header.runtime_data_size, 1110u);
  EXPECT_EQ(report.runtime_data.size(), 1110u);
  EXPECT_EQ(report.padding_size, 2600u - 2346u);
  EXPECT_EQ(report.snp_report_bytes.size(), 1184u);
  // The embedded SNP report is column AZ of docs/reference/TEST-VECTORS.md §7.1.
  EXPECT_EQ(report.snp_report.version, 3u);
  EXPECT_EQ(report.snp_report.guest_svn, 12u);
  EXPECT_EQ(report.snp_report.policy.raw, 0x3001fu);
  EXPECT_EQ(hex(report.snp_report.measurement), kAzMeasurement);
  EXPECT_EQ(tcb_bytes(report.snp_report.reported_tcb), "04000000000018db");
}

TEST_F(AzSnpVtpmTest, RuntimeClaims) {
  const AzHclReport report = hcl();
  const auto& claims = report.runtime_claims;
  ASSERT_TRUE(claims.contains("keys"));
  const auto& key = claims["keys"][0];
  EXPECT_EQ(key["kid"], "HCLAkPub");
  EXPECT_EQ(key["kty"], "RSA");
  EXPECT_EQ(key["e"], "AQAB");
  EXPECT_EQ(key["key_ops"], nlohmann::json::array({"sign"}));
  const auto& vm = claims["vm-configuration"];
  EXPECT_EQ(vm["console-enabled"], true);
  EXPECT_EQ(vm["secure-boot"], true);
  EXPECT_EQ(vm["tpm-enabled"], true);
  EXPECT_EQ(vm["vmUniqueId"], "7DF7B373-B947-4AAA-96E5-C358F2A03D20");
  EXPECT_EQ(claims["user-data"], std::string(kUserDataDigestUpper) + std::string(32, '0'));
  ASSERT_TRUE(report.user_data.has_value());
  EXPECT_EQ(hex(*report.user_data), lower(kUserDataDigestUpper) + std::string(32, '0'));
}

TEST_F(AzSnpVtpmTest, ReportDataBindsRuntimeData) {
  const AzHclReport report = hcl();
  const std::span<const std::uint8_t> report_data(report.snp_report.report_data);
  EXPECT_EQ(hex(report_data.first(32)), kRuntimeDataSha256);
  EXPECT_EQ(hex(report_data.subspan(32)), zeros(32));
  auto runtime_digest = digest(DigestAlgorithm::kSha256, report.runtime_data);
  ASSERT_TRUE(runtime_digest.ok());
  EXPECT_EQ(hex(*runtime_digest), kRuntimeDataSha256);
  const Status status = check_az_runtime_data_binding(report);
  EXPECT_TRUE(status.ok()) << status.to_string();
}

TEST_F(AzSnpVtpmTest, QuoteFields) {
  const TpmsAttestQuote parsed = quote();
  EXPECT_EQ(hex(std::span<const std::uint8_t>(evidence_.quote_message).first(6)), "ff5443478018");
  EXPECT_EQ(hex(parsed.extra_data), lower(kUserDataDigestUpper));
  ASSERT_EQ(parsed.pcr_selections.size(), 1u);
  EXPECT_EQ(parsed.pcr_selections[0].hash_alg, kTpmAlgSha256);
  std::vector<std::uint32_t> all(24);
  for (std::uint32_t i = 0; i < 24; ++i) all[i] = i;
  EXPECT_EQ(parsed.pcr_selections[0].pcrs, all);
  EXPECT_EQ(hex(parsed.pcr_digest), kPcrDigest);
  const auto json = to_json(parsed);
  EXPECT_EQ(json["magic"], "0xff544347");
  EXPECT_EQ(json["type"], "0x8018");
  EXPECT_EQ(json["pcr_selections"][0]["hash"], "sha256");
  EXPECT_EQ(json["pcr_digest"], kPcrDigest);
}

TEST_F(AzSnpVtpmTest, PcrDigestAndValues) {
  const TpmsAttestQuote parsed = quote();
  // Independent of check_az_pcr_digest: SHA-256 of the 24 values concatenated.
  Bytes concatenated;
  for (const auto& pcr : evidence_.pcrs)
    concatenated.insert(concatenated.end(), pcr.begin(), pcr.end());
  auto concatenated_digest = digest(DigestAlgorithm::kSha256, concatenated);
  ASSERT_TRUE(concatenated_digest.ok());
  EXPECT_EQ(hex(*concatenated_digest), kPcrDigest);
  const Status status = check_az_pcr_digest(parsed, evidence_.pcrs);
  EXPECT_TRUE(status.ok()) << status.to_string();
  for (std::size_t i = 17; i <= 22; ++i)
    EXPECT_EQ(hex(evidence_.pcrs[i]), std::string(64, 'f')) << i;
  for (std::size_t i : {8u, 11u, 13u, 15u, 16u, 23u})
    EXPECT_EQ(hex(evidence_.pcrs[i]), zeros(32)) << i;
}

TEST_F(AzSnpVtpmTest, UserDataEqualsExtraData) {
  const AzHclReport report = hcl();
  const TpmsAttestQuote parsed = quote();
  auto expected = hex_decode(kUserDataDigestUpper);
  ASSERT_TRUE(expected.ok());
  EXPECT_TRUE(check_az_user_data(report, parsed).ok());
  EXPECT_TRUE(check_az_user_data(report, parsed, *expected).ok());
  Bytes other = *expected;
  other[0] ^= 1;
  const Status status = check_az_user_data(report, parsed, other);
  EXPECT_EQ(status.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(status.message(), HasSubstr("expected digest"));

  TpmsAttestQuote changed = parsed;
  changed.extra_data[47] ^= 1;
  EXPECT_EQ(check_az_user_data(report, changed).code(), ErrorCode::kMeasurementMismatch);
  AzHclReport no_user_data = report;
  no_user_data.user_data.reset();
  EXPECT_EQ(check_az_user_data(no_user_data, parsed).code(), ErrorCode::kNotFound);
}

TEST_F(AzSnpVtpmTest, SignatureValidWithHclAkPub) {
  const AzHclReport report = hcl();
  auto key = az_hcl_attestation_key(report);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(EVP_PKEY_get_base_id(key->get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 2048);
  const Status status =
      verify_az_tpm_quote(evidence_.quote_message, evidence_.quote_signature, key->get());
  EXPECT_TRUE(status.ok()) << status.to_string();
}

TEST_F(AzSnpVtpmTest, FlippedMessageOrSignatureFails) {
  auto key = az_hcl_attestation_key(hcl());
  ASSERT_TRUE(key.ok());
  for (std::size_t offset : {0u, 5u, 40u, 100u, 160u}) {
    Bytes message = evidence_.quote_message;
    message[offset] ^= 0x01;
    const Status status = verify_az_tpm_quote(message, evidence_.quote_signature, key->get());
    EXPECT_EQ(status.code(), ErrorCode::kSignatureInvalid) << offset;
  }
  Bytes signature = evidence_.quote_signature;
  signature[128] ^= 0x80;
  EXPECT_EQ(verify_az_tpm_quote(evidence_.quote_message, signature, key->get()).code(),
            ErrorCode::kSignatureInvalid);
  signature = evidence_.quote_signature;
  signature.pop_back();
  const Status short_signature =
      verify_az_tpm_quote(evidence_.quote_message, signature, key->get());
  EXPECT_EQ(short_signature.code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(short_signature.message(), HasSubstr("255 bytes"));
}

TEST_F(AzSnpVtpmTest, SignatureWithAnotherKeyFails) {
  EvpPkeyPtr other(EVP_RSA_gen(2048));
  ASSERT_TRUE(other);
  EXPECT_EQ(
      verify_az_tpm_quote(evidence_.quote_message, evidence_.quote_signature, other.get()).code(),
      ErrorCode::kSignatureInvalid);
  // A signature made with the generated key over the same message verifies with it.
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, other.get()), 1);
  std::size_t length = 0;
  ASSERT_EQ(EVP_DigestSign(context.get(), nullptr, &length, evidence_.quote_message.data(),
                           evidence_.quote_message.size()),
            1);
  Bytes signature(length);
  ASSERT_EQ(EVP_DigestSign(context.get(), signature.data(), &length, evidence_.quote_message.data(),
                           evidence_.quote_message.size()),
            1);
  EXPECT_TRUE(verify_az_tpm_quote(evidence_.quote_message, signature, other.get()).ok());
}

TEST_F(AzSnpVtpmTest, VcekVerifiesEmbeddedReport) {
  auto vcek = parse_certificate(evidence_.vcek);
  ASSERT_TRUE(vcek.ok()) << vcek.status().to_string();
  EXPECT_EQ(certificate_common_name(vcek->get()), "SEV-VCEK");
  char issuer[64] = {};
  X509_NAME_get_text_by_NID(X509_get_issuer_name(vcek->get()), NID_commonName, issuer,
                            sizeof issuer);
  EXPECT_STREQ(issuer, "SEV-Milan");
  CCFDE_LOAD_TESTDATA(pem, kMilanChain);
  auto ca = parse_snp_ca_pem(pem);
  ASSERT_TRUE(ca.ok()) << ca.status().to_string();
  const AzHclReport report = hcl();
  auto verified = verify_snp_attestation(report.snp_report_bytes, vcek->get(), ca->ask.get(),
                                         ca->ark.get(), *parse_rfc3339(kPinnedTime));
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(hex(verified->chip_id), hex(report.snp_report.chip_id));
}

TEST_F(AzSnpVtpmTest, EndToEndVerification) {
  CCFDE_LOAD_TESTDATA(pem, kMilanChain);
  auto ca = parse_snp_ca_pem(pem);
  ASSERT_TRUE(ca.ok());
  const auto at = *parse_rfc3339(kPinnedTime);
  auto expected = hex_decode(kUserDataDigestUpper);
  ASSERT_TRUE(expected.ok());
  auto verified = verify_az_snp_vtpm(evidence_, ca->ask.get(), ca->ark.get(), at, *expected);
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(hex(verified->quote.pcr_digest), kPcrDigest);

  // The runtime data is not covered by the VCEK signature, only by REPORT_DATA.
  AzSnpVtpmEvidence tampered = evidence_;
  const std::string needle = "7DF7B373";
  auto at_id = std::search(tampered.hcl_report.begin(), tampered.hcl_report.end(), needle.begin(),
                           needle.end());
  ASSERT_NE(at_id, tampered.hcl_report.end());
  *at_id = '8';
  auto refused = verify_az_snp_vtpm(tampered, ca->ask.get(), ca->ark.get(), at);
  EXPECT_EQ(refused.status().code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(refused.status().message(), HasSubstr("runtime-data binding"));

  tampered = evidence_;
  tampered.pcrs[10][0] ^= 1;
  refused = verify_az_snp_vtpm(tampered, ca->ask.get(), ca->ark.get(), at);
  EXPECT_EQ(refused.status().code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(refused.status().message(), HasSubstr("PCR digest"));

  tampered = evidence_;
  tampered.quote_message[20] ^= 1;
  refused = verify_az_snp_vtpm(tampered, ca->ask.get(), ca->ark.get(), at);
  EXPECT_EQ(refused.status().code(), ErrorCode::kSignatureInvalid);

  Bytes other_digest = *expected;
  other_digest[5] ^= 1;
  refused = verify_az_snp_vtpm(evidence_, ca->ask.get(), ca->ark.get(), at, other_digest);
  EXPECT_EQ(refused.status().code(), ErrorCode::kMeasurementMismatch);

  tampered = evidence_;
  tampered.hcl_report[32 + 0x90] ^= 1;  // MEASUREMENT: the VCEK signature must fail
  refused = verify_az_snp_vtpm(tampered, ca->ask.get(), ca->ark.get(), at);
  EXPECT_EQ(refused.status().code(), ErrorCode::kSignatureInvalid);
}

TEST_F(AzSnpVtpmTest, ModifiedRuntimeDataBreaksBinding) {
  Bytes bytes = evidence_.hcl_report;
  const std::string needle = "\"tpm-enabled\":true";
  auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(at, bytes.end());
  std::memcpy(&*at, "\"tpm-enabled\":TRUE", needle.size());  // still 18 bytes, no longer JSON
  EXPECT_EQ(parse_az_hcl_report(bytes).status().code(), ErrorCode::kMalformed);
  std::memcpy(&*at, "\"tpm-enabled\":   1", needle.size());
  auto report = parse_az_hcl_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const Status status = check_az_runtime_data_binding(*report);
  EXPECT_EQ(status.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(status.message(), HasSubstr(kRuntimeDataSha256));

  Bytes high = evidence_.hcl_report;
  high[32 + 0x50 + 40] = 1;  // REPORT_DATA byte 40
  auto high_report = parse_az_hcl_report(high);
  ASSERT_TRUE(high_report.ok());
  EXPECT_EQ(check_az_runtime_data_binding(*high_report).code(), ErrorCode::kMeasurementMismatch);
}

TEST_F(AzSnpVtpmTest, PcrDigestMismatchesAndShapes) {
  const TpmsAttestQuote parsed = quote();
  std::vector<Bytes> pcrs = evidence_.pcrs;
  pcrs[0][31] ^= 1;
  const Status changed = check_az_pcr_digest(parsed, pcrs);
  EXPECT_EQ(changed.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(changed.message(), HasSubstr(kPcrDigest));
  pcrs = evidence_.pcrs;
  std::swap(pcrs[0], pcrs[17]);
  EXPECT_EQ(check_az_pcr_digest(parsed, pcrs).code(), ErrorCode::kMeasurementMismatch);
  pcrs = evidence_.pcrs;
  pcrs.pop_back();
  EXPECT_EQ(check_az_pcr_digest(parsed, pcrs).code(), ErrorCode::kMalformed);
  pcrs = evidence_.pcrs;
  pcrs[3].push_back(0);
  EXPECT_EQ(check_az_pcr_digest(parsed, pcrs).code(), ErrorCode::kMalformed);
  TpmsAttestQuote sha1 = parsed;
  sha1.pcr_selections[0].hash_alg = kTpmAlgSha1;
  EXPECT_EQ(check_az_pcr_digest(sha1, evidence_.pcrs).code(), ErrorCode::kUnsupportedAlgorithm);
}

TEST_F(AzSnpVtpmTest, HclTruncatedAtEveryLength) {
  for (std::size_t length = 0; length < 2346; ++length) {
    auto parsed = parse_az_hcl_report(std::span(evidence_.hcl_report).first(length));
    ASSERT_FALSE(parsed.ok()) << length;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kTruncated)
        << length << ": " << parsed.status().to_string();
  }
  // The padding after report_size is optional.
  EXPECT_TRUE(parse_az_hcl_report(std::span(evidence_.hcl_report).first(2346)).ok());
  auto short_report = parse_az_hcl_report(std::span(evidence_.hcl_report).first(100));
  EXPECT_THAT(short_report.status().message(), HasSubstr("HCL SNP report"));
  auto short_data = parse_az_hcl_report(std::span(evidence_.hcl_report).first(2000));
  EXPECT_THAT(short_data.status().message(), HasSubstr("2346"));
}

TEST_F(AzSnpVtpmTest, HclHeaderErrors) {
  Bytes bytes = evidence_.hcl_report;
  bytes[0] = 'X';
  auto parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("HCLA"));

  bytes = evidence_.hcl_report;
  store_u32le(bytes, 4, 2);
  parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(parsed.status().message(), HasSubstr("offset 4"));

  bytes = evidence_.hcl_report;
  store_u32le(bytes, 8, 2345);
  parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("report size"));

  bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 4, 7);
  parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(parsed.status().message(), HasSubstr("offset 1220"));

  bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 8, 4);  // TDX
  EXPECT_EQ(parse_az_hcl_report(bytes).status().code(), ErrorCode::kUnsupportedAlgorithm);

  for (std::uint32_t hash_type : {0u, 4u, 0xffffffffu}) {
    bytes = evidence_.hcl_report;
    store_u32le(bytes, 1216 + 12, hash_type);
    parsed = parse_az_hcl_report(bytes);
    EXPECT_EQ(parsed.status().code(), ErrorCode::kUnsupportedAlgorithm) << hash_type;
    EXPECT_THAT(parsed.status().message(), HasSubstr("hash type"));
  }
  bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 12, 2);  // SHA-384: parses, binding undocumented
  parsed = parse_az_hcl_report(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(check_az_runtime_data_binding(*parsed).code(), ErrorCode::kUnsupportedAlgorithm);

  bytes = evidence_.hcl_report;
  bytes[32] = 9;  // SNP VERSION 9
  parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(parsed.status().message(), HasSubstr("offset 32"));
}

TEST_F(AzSnpVtpmTest, HclOversizedDeclaredSizes) {
  // runtime data size alone: inconsistent with data size.
  Bytes bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 16, 0xfffffff0u);
  auto parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("data size"));
  // Wrap-around: 20 + 0xffffffff does not fit a u32.
  store_u32le(bytes, 1216, 0x13);
  store_u32le(bytes, 1216 + 16, 0xffffffffu);
  EXPECT_EQ(parse_az_hcl_report(bytes).status().code(), ErrorCode::kMalformed);
  // All three sizes consistent but past the buffer.
  bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 16, 5000);
  store_u32le(bytes, 1216, 5020);
  store_u32le(bytes, 8, 1216 + 5020);
  parsed = parse_az_hcl_report(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(parsed.status().message(), HasSubstr("6236"));
  // Sizes that shrink the runtime data cut the JSON: no longer an object.
  bytes = evidence_.hcl_report;
  store_u32le(bytes, 1216 + 16, 1000);
  store_u32le(bytes, 1216, 1020);
  store_u32le(bytes, 8, 1216 + 1020);
  EXPECT_EQ(parse_az_hcl_report(bytes).status().code(), ErrorCode::kMalformed);
}

TEST_F(AzSnpVtpmTest, AttestationKeyErrors) {
  AzHclReport report = hcl();
  report.runtime_claims["keys"][0]["kid"] = "other";
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kNotFound);
  report = hcl();
  report.runtime_claims.erase("keys");
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kNotFound);
  report = hcl();
  report.runtime_claims["keys"][0]["kty"] = "EC";
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kUnsupportedAlgorithm);
  report = hcl();
  report.runtime_claims["keys"][0]["n"] = "AQAB";
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kUnsupportedAlgorithm);
  report = hcl();
  report.runtime_claims["keys"][0]["n"] = "not base64url!";
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kMalformed);
  report = hcl();
  report.runtime_claims["keys"][0].erase("e");
  EXPECT_EQ(az_hcl_attestation_key(report).status().code(), ErrorCode::kMalformed);
  // The second key (HCLEkPub) is not the attestation key.
  report = hcl();
  auto ak = az_hcl_attestation_key(report);
  ASSERT_TRUE(ak.ok());
  std::swap(report.runtime_claims["keys"][0]["kid"], report.runtime_claims["keys"][1]["kid"]);
  auto ek = az_hcl_attestation_key(report);
  ASSERT_TRUE(ek.ok());
  EXPECT_EQ(
      verify_az_tpm_quote(evidence_.quote_message, evidence_.quote_signature, ek->get()).code(),
      ErrorCode::kSignatureInvalid);
}

TEST_F(AzSnpVtpmTest, QuoteTruncatedAtEveryLength) {
  ASSERT_EQ(evidence_.quote_message.size(), 161u);
  for (std::size_t length = 0; length < 161; ++length) {
    auto parsed = parse_tpms_attest(std::span(evidence_.quote_message).first(length));
    ASSERT_FALSE(parsed.ok()) << length;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kTruncated) << length;
  }
  Bytes longer = evidence_.quote_message;
  longer.push_back(0);
  auto parsed = parse_tpms_attest(longer);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("offset 161"));
}

TEST_F(AzSnpVtpmTest, QuoteStructureErrors) {
  Bytes bytes = evidence_.quote_message;
  bytes[0] = 0xfe;
  auto parsed = parse_tpms_attest(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("0xfe544347"));

  bytes = evidence_.quote_message;
  bytes[5] = 0x17;  // TPM_ST_ATTEST_CERTIFY
  parsed = parse_tpms_attest(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(parsed.status().message(), HasSubstr("0x8017"));

  bytes = evidence_.quote_message;
  bytes[6] = 0xff;  // qualifiedSigner size 0xff22
  parsed = parse_tpms_attest(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("qualifiedSigner"));

  // extraData at offset 42: declared 0xffff.
  bytes = evidence_.quote_message;
  bytes[42] = 0xff;
  bytes[43] = 0xff;
  EXPECT_EQ(parse_tpms_attest(bytes).status().code(), ErrorCode::kMalformed);

  // clockInfo.safe at 42 + 2 + 48 + 16 = 108.
  bytes = evidence_.quote_message;
  ASSERT_EQ(bytes[108], 1);
  bytes[108] = 2;
  EXPECT_EQ(parse_tpms_attest(bytes).status().code(), ErrorCode::kMalformed);

  // pcrSelect.count at 117.
  bytes = evidence_.quote_message;
  store_u32be(bytes, 117, 0xffffffffu);
  parsed = parse_tpms_attest(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("count"));
  store_u32be(bytes, 117, 2);  // the second selection would start in pcrDigest ("0020")
  EXPECT_EQ(parse_tpms_attest(bytes).status().code(), ErrorCode::kUnsupportedAlgorithm);
  bytes.resize(127);  // ... or at the end of the buffer
  parsed = parse_tpms_attest(bytes);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(parsed.status().message(), HasSubstr("offset 127"));

  bytes = evidence_.quote_message;
  bytes[122] = 0x99;  // bank algorithm 0x0099
  EXPECT_EQ(parse_tpms_attest(bytes).status().code(), ErrorCode::kUnsupportedAlgorithm);

  bytes = evidence_.quote_message;
  bytes[123] = 0xff;  // sizeofSelect 255
  EXPECT_EQ(parse_tpms_attest(bytes).status().code(), ErrorCode::kMalformed);
}

TEST_F(AzSnpVtpmTest, EvidenceJsonErrors) {
  auto json = json_;
  json["version"] = 1;
  EXPECT_EQ(parse_az_snp_vtpm_evidence(json).status().code(), ErrorCode::kUnsupportedVersion);
  json = json_;
  json["version"] = "2";
  EXPECT_EQ(parse_az_snp_vtpm_evidence(json).status().code(), ErrorCode::kMalformed);
  json = json_;
  json.erase("vcek");
  auto parsed = parse_az_snp_vtpm_evidence(json);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("vcek"));
  json = json_;
  json["tpm_quote"]["message"] = "zz";
  EXPECT_EQ(parse_az_snp_vtpm_evidence(json).status().code(), ErrorCode::kMalformed);
  json = json_;
  json["tpm_quote"]["pcrs"][3] = 5;
  parsed = parse_az_snp_vtpm_evidence(json);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(parsed.status().message(), HasSubstr("pcrs[3]"));
  json = json_;
  json["hcl_report"] = "+/==";
  EXPECT_EQ(parse_az_snp_vtpm_evidence(json).status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(parse_az_snp_vtpm_evidence(nlohmann::json::array()).status().code(),
            ErrorCode::kMalformed);
  EXPECT_EQ(parse_az_snp_vtpm_evidence(nlohmann::json()).status().code(), ErrorCode::kMalformed);
}

TEST_F(AzSnpVtpmTest, HclToJson) {
  const auto json = to_json(hcl());
  EXPECT_EQ(json["header"]["version"], 1);
  EXPECT_EQ(json["header"]["report_size"], 2346);
  EXPECT_EQ(json["runtime_data_header"]["hash_type_name"], "sha256");
  EXPECT_EQ(json["runtime_data_sha256"], kRuntimeDataSha256);
  EXPECT_EQ(json["runtime_claims"]["vm-configuration"]["vmUniqueId"],
            "7DF7B373-B947-4AAA-96E5-C358F2A03D20");
  EXPECT_EQ(json["snp_report"]["measurement"], kAzMeasurement);
  EXPECT_EQ(json["user_data"], lower(kUserDataDigestUpper) + std::string(32, '0'));
}

// Random byte flips over both parsers never crash (run under ASan/UBSan).
TEST_F(AzSnpVtpmTest, RandomMutationsNeverCrash) {
  std::mt19937 random(1234);
  for (int round = 0; round < 3000; ++round) {
    Bytes hcl_bytes = evidence_.hcl_report;
    Bytes message = evidence_.quote_message;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int i = 0; i < flips; ++i) {
      hcl_bytes[random() % hcl_bytes.size()] = static_cast<std::uint8_t>(random());
      message[random() % message.size()] = static_cast<std::uint8_t>(random());
    }
    // Also mutate the size fields, where bounds checks matter most.
    if (round % 3 == 0) store_u32le(hcl_bytes, 1216 + 16, static_cast<std::uint32_t>(random()));
    if (auto report = parse_az_hcl_report(hcl_bytes); report.ok()) {
      (void)to_json(*report).dump();
      (void)check_az_runtime_data_binding(*report);
      (void)az_hcl_attestation_key(*report);
    }
    if (auto parsed = parse_tpms_attest(message); parsed.ok()) {
      (void)to_json(*parsed).dump();
      (void)check_az_pcr_digest(*parsed, evidence_.pcrs);
    }
  }
}

TEST(AzSnpVtpmStandalone, EmptyAndTinyInputs) {
  EXPECT_EQ(parse_az_hcl_report({}).status().code(), ErrorCode::kTruncated);
  EXPECT_EQ(parse_tpms_attest({}).status().code(), ErrorCode::kTruncated);
  const Bytes hcla = {'H', 'C', 'L', 'A', 1, 0, 0, 0};
  auto parsed = parse_az_hcl_report(hcla);
  EXPECT_EQ(parsed.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(parsed.status().message(), HasSubstr("report size"));
  EXPECT_EQ(verify_az_tpm_quote({}, {}, nullptr).code(), ErrorCode::kUnsupportedAlgorithm);
}

}  // namespace
}  // namespace ccfde::measure

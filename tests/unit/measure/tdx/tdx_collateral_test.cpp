// SPDX-License-Identifier: Apache-2.0
// TDX collateral: Intel's real TCB Info / QE Identity / CRLs for the SPR_E4 quote
// (tests/data/go-tdx-guest/collateral, evaluated at 2023-07-01T01:00:00Z as upstream does), and
// synthetic collateral for the synthetic quote (tests/support/sample_collateral.h) for the
// revoked, out-of-date, expired and mismatching cases.
#include "ccfde/measure/tdx_collateral.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/tdx_collateral_verify.h"
#include "ccfde/measure/tdx_verify.h"
#include "ccfde/testing/sample_collateral.h"
#include "ccfde/testing/sample_evidence.h"
#include "ccfde/testing/test_pki.h"
#include "ccfde/testing/testdata.h"
#include "tdx_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using namespace tdx_test;

constexpr const char* kRealDir = "go-tdx-guest/collateral/";
const char* const kRealTime = "2023-07-01T01:00:00Z";
const char* const kSampleTime = "2026-06-01T00:00:00Z";

TimePoint at(const char* text) {
  auto time = parse_rfc3339(text);
  EXPECT_TRUE(time.ok()) << text;
  return time.ok() ? *time : TimePoint{};
}

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

std::string text_of(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

// Intel's collateral for FMSPC 50806f000000 as go-tdx-guest's tests serve it.
class RealCollateral : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [name, target] : {
             std::pair{"sample_tcbInfo_response", &collateral_.tcb_info},
             std::pair{"tcb_info_issuer_chain", &collateral_.tcb_info_issuer_chain},
             std::pair{"sample_qeIdentity_response", &collateral_.qe_identity},
             std::pair{"qe_identity_issuer_chain", &collateral_.qe_identity_issuer_chain},
             std::pair{"pckcrl", &collateral_.pck_crl},
             std::pair{"pck_crl_issuer_chain", &collateral_.pck_crl_issuer_chain},
             std::pair{"rootcrl.der", &collateral_.root_ca_crl},
         }) {
      auto bytes = testing::load_testdata(std::string(kRealDir) + name);
      ASSERT_TRUE(bytes) << name << " is absent from tests/data/" << kRealDir;
      *target = std::move(*bytes);
    }
    auto quote_bytes = testing::load_testdata(kSprE4);
    ASSERT_TRUE(quote_bytes) << kSprE4;
    auto quote = parse_tdx_quote(*quote_bytes);
    ASSERT_TRUE(quote.ok()) << quote.status().to_string();
    quote_ = std::move(quote).value();
    auto root = intel_sgx_root_ca();
    ASSERT_TRUE(root.ok());
    root_ = std::move(root).value();
  }

  Result<TdxCollateralVerification> verify(const char* time) const {
    return verify_tdx_collateral(quote_, collateral_, root_.get(), at(time));
  }

  TdxCollateral collateral_;
  TdxQuote quote_;
  X509Ptr root_;
};

TEST_F(RealCollateral, TcbInfoParsesWithIntelsValues) {
  auto document = split_signed_document(text_of(collateral_.tcb_info), "tcbInfo");
  ASSERT_TRUE(document.ok()) << document.status().to_string();
  EXPECT_EQ(hex(document->signature).substr(0, 16), "f6502d6fad1e3b72");
  EXPECT_TRUE(document->body.starts_with(R"({"id":"TDX","version":3,)"));
  auto info = parse_tdx_tcb_info(document->body);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(hex(info->fmspc), "50806f000000");
  EXPECT_EQ(hex(info->pce_id), "0000");
  EXPECT_EQ(info->tcb_evaluation_data_number, 15U);
  EXPECT_EQ(format_rfc3339(info->issue_date), "2023-06-18T08:42:58Z");
  EXPECT_EQ(format_rfc3339(info->next_update), "2023-07-18T08:42:58Z");
  ASSERT_EQ(info->tcb_levels.size(), 2U);
  EXPECT_EQ(info->tcb_levels[0].status, TcbStatus::kUpToDate);
  EXPECT_EQ(hex(info->tcb_levels[0].sgx_tcb_components), "05050202030100030000000000000000");
  EXPECT_EQ(info->tcb_levels[0].pce_svn, 11);
  EXPECT_EQ(hex(info->tcb_levels[0].tdx_tcb_components), "03000500000000000000000000000000");
  EXPECT_EQ(info->tcb_levels[1].status, TcbStatus::kOutOfDate);
  EXPECT_EQ(info->tcb_levels[1].pce_svn, 5);
  EXPECT_EQ(info->tcb_levels[1].advisory_ids.size(), 13U);
  EXPECT_TRUE(info->tdx_module_identities.empty());
}

TEST(RealTcbInfoV5, TdxModuleIdentitiesParse) {
  CCFDE_LOAD_TESTDATA(bytes, std::string(kRealDir) + "sample_tcbinfo_response_v5");
  auto document = split_signed_document(text_of(bytes), "tcbInfo");
  ASSERT_TRUE(document.ok()) << document.status().to_string();
  auto info = parse_tdx_tcb_info(document->body);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(hex(info->fmspc), "90c06f000000");
  EXPECT_EQ(info->tcb_evaluation_data_number, 18U);
  ASSERT_EQ(info->tdx_module_identities.size(), 2U);
  EXPECT_EQ(info->tdx_module_identities[0].id, "TDX_03");
  const auto& tdx_01 = info->tdx_module_identities[1];
  EXPECT_EQ(tdx_01.id, "TDX_01");
  ASSERT_EQ(tdx_01.tcb_levels.size(), 3U);
  EXPECT_EQ(tdx_01.tcb_levels[0].isv_svn, 6);
  EXPECT_EQ(tdx_01.tcb_levels[0].status, TcbStatus::kUpToDate);
  EXPECT_EQ(tdx_01.tcb_levels[1].isv_svn, 4);
  EXPECT_EQ(tdx_01.tcb_levels[1].status, TcbStatus::kOutOfDate);
  EXPECT_EQ(tdx_01.tcb_levels[1].advisory_ids,
            (std::vector<std::string>{"INTEL-SA-01036", "INTEL-SA-01099"}));
  EXPECT_EQ(info->tcb_levels.size(), 3U);
}

TEST_F(RealCollateral, QeIdentityParsesWithIntelsValues) {
  auto document = split_signed_document(text_of(collateral_.qe_identity), "enclaveIdentity");
  ASSERT_TRUE(document.ok()) << document.status().to_string();
  auto identity = parse_qe_identity(document->body);
  ASSERT_TRUE(identity.ok()) << identity.status().to_string();
  EXPECT_EQ(hex(identity->mr_signer),
            "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
  EXPECT_EQ(identity->isv_prod_id, 2);
  EXPECT_EQ(identity->misc_select_mask, 0xffffffffU);
  EXPECT_EQ(hex(identity->attributes_mask), "fbffffffffffffff0000000000000000");
  ASSERT_EQ(identity->tcb_levels.size(), 1U);
  EXPECT_EQ(identity->tcb_levels[0].isv_svn, 4);
  EXPECT_EQ(identity->tcb_levels[0].status, TcbStatus::kUpToDate);
}

// Every check up to the TCB level passes (CRLs, signatures, chains, FMSPC, PCE-ID, TDX module, QE
// identity); the quote's CPUSVN components (03 03 ..) and TEE_TCB_SVN[2] (04) are below both
// levels of this TCB Info (05 05 .., 05), so no level matches. go-tdx-guest's verify_test.go
// (TestVerifyUsingTcbInfoV4) notes the same and zeroes the level's SVNs to get a match.
TEST_F(RealCollateral, SprE4QuotePassesEveryCheckButMeetsNoTcbLevel) {
  auto verification = verify(kRealTime);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralMismatch);
  EXPECT_THAT(verification.status().message(),
              HasSubstr("no level is met by CPUSVN components 03030202020100020000000000000000, "
                        "PCESVN 11 and TEE_TCB_SVN 03000400000000000000000000000000"));
}

TEST_F(RealCollateral, TamperedTcbInfoFailsItsSignature) {
  std::string text = text_of(collateral_.tcb_info);
  const auto position = text.find("\"pcesvn\":11");
  ASSERT_NE(position, std::string::npos);
  text.replace(position, 11, "\"pcesvn\":10");
  collateral_.tcb_info = bytes_of(text);
  auto verification = verify(kRealTime);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verification.status().message(), HasSubstr("TCB Info signature"));
}

TEST_F(RealCollateral, TamperedQeIdentityFailsItsSignature) {
  std::string text = text_of(collateral_.qe_identity);
  const auto position = text.find("\"isvsvn\":4");
  ASSERT_NE(position, std::string::npos);
  text.replace(position, 10, "\"isvsvn\":3");
  collateral_.qe_identity = bytes_of(text);
  auto verification = verify(kRealTime);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verification.status().message(), HasSubstr("QE Identity signature"));
}

TEST_F(RealCollateral, StalePckCrlIsRefusedByName) {
  // The PCK CRL's nextUpdate (2023-07-08) is the earliest of the set.
  auto verification = verify("2023-07-10T00:00:00Z");
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralExpired);
  EXPECT_THAT(verification.status().message(), HasSubstr("PCK CRL"));
}

TEST_F(RealCollateral, CorruptedCrlSignatureIsRefused) {
  collateral_.root_ca_crl.at(collateral_.root_ca_crl.size() - 3) ^= 0x01;
  auto verification = verify(kRealTime);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verification.status().message(), HasSubstr("Root CA CRL"));
}

TEST_F(RealCollateral, IssuerChainFromAnotherRootIsRefused) {
  const auto sample = testing::build_sample_pck_chain();
  collateral_.tcb_info_issuer_chain = bytes_of(testing::certificate_pem(sample.root.get()));
  auto verification = verify(kRealTime);
  ASSERT_FALSE(verification.ok());
  EXPECT_THAT(verification.status().message(), HasSubstr("TCB Info issuer chain"));
}

// The synthetic quote and collateral (test PKI; valid 2026-01-01 .. 2027-01-01).
class SampleCollateral : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_ = testing::build_sample_pck_chain();
    auto quote = parse_tdx_quote(testing::build_sample_tdx_quote({}, chain_).quote);
    ASSERT_TRUE(quote.ok()) << quote.status().to_string();
    quote_ = std::move(quote).value();
  }

  static TdxCollateral convert(const testing::SampleCollateral& sample) {
    return {bytes_of(sample.tcb_info),
            bytes_of(sample.tcb_info_issuer_chain),
            bytes_of(sample.qe_identity),
            bytes_of(sample.qe_identity_issuer_chain),
            sample.pck_crl,
            bytes_of(sample.pck_crl_issuer_chain),
            sample.root_ca_crl};
  }

  Result<TdxCollateralVerification> verify(const testing::SampleCollateralSpec& spec,
                                           const char* time = kSampleTime) {
    sample_ = testing::build_sample_collateral(chain_, spec);
    return verify_tdx_collateral(quote_, convert(sample_), chain_.root.get(), at(time));
  }

  testing::SamplePckChain chain_;
  TdxQuote quote_;
  testing::SampleCollateral sample_;
};

TEST_F(SampleCollateral, UpToDateQuoteMeetsTheFirstLevelAndTheDefaultPolicy) {
  auto verification = verify({});
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->tcb_status, TcbStatus::kUpToDate);
  EXPECT_EQ(verification->tcb_level_index, 0U);
  EXPECT_EQ(hex(verification->fmspc), "00906ed50000");
  EXPECT_EQ(verification->tcb_evaluation_data_number, 17U);
  EXPECT_TRUE(check_tdx_tcb_status(*verification, TdxTcbPolicy{}).ok());
  const nlohmann::json json = to_json(*verification);
  EXPECT_EQ(json["tcb_status"], "UpToDate");
  EXPECT_EQ(json["tcb_level"]["pce_svn"], 11);
}

TEST_F(SampleCollateral, OutOfDateLevelIsReportedAndRefusedByDefault) {
  testing::SampleCollateralSpec spec;
  spec.newer_level_first = true;
  spec.platform_status = "OutOfDate";
  auto verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->tcb_status, TcbStatus::kOutOfDate);
  EXPECT_EQ(verification->tcb_level_index, 1U);
  const Status refused = check_tdx_tcb_status(*verification, TdxTcbPolicy{});
  EXPECT_EQ(refused.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(refused.message(), HasSubstr("TDX TCB status OutOfDate is not accepted"));
  EXPECT_THAT(refused.message(), HasSubstr("INTEL-SA-00000"));
  auto lenient = parse_tdx_tcb_policy("UpToDate,OutOfDate");
  ASSERT_TRUE(lenient.ok());
  EXPECT_TRUE(check_tdx_tcb_status(*verification, *lenient).ok());
}

TEST_F(SampleCollateral, SwHardeningNeededIsAcceptedByDefaultOnly) {
  testing::SampleCollateralSpec spec;
  spec.platform_status = "SWHardeningNeeded";
  auto verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->tcb_status, TcbStatus::kSwHardeningNeeded);
  EXPECT_TRUE(check_tdx_tcb_status(*verification, TdxTcbPolicy{}).ok());
  auto strict = parse_tdx_tcb_policy("UpToDate");
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(check_tdx_tcb_status(*verification, *strict).code(), ErrorCode::kPolicyViolation);
}

TEST_F(SampleCollateral, ConfigurationNeededIsRefusedByDefault) {
  testing::SampleCollateralSpec spec;
  spec.platform_status = "ConfigurationNeeded";
  auto verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(check_tdx_tcb_status(*verification, TdxTcbPolicy{}).code(),
            ErrorCode::kPolicyViolation);
}

TEST_F(SampleCollateral, OutOfDateQeLowersTheCombinedStatus) {
  testing::SampleCollateralSpec spec;
  spec.qe_status = "OutOfDate";
  auto verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->platform_tcb_status, TcbStatus::kUpToDate);
  EXPECT_EQ(verification->qe_tcb_level.status, TcbStatus::kOutOfDate);
  EXPECT_EQ(verification->tcb_status, TcbStatus::kOutOfDate);

  spec.platform_status = "ConfigurationNeeded";
  verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->tcb_status, TcbStatus::kOutOfDateConfigurationNeeded);
}

TEST_F(SampleCollateral, RevokedTcbLevelIsNeverAccepted) {
  testing::SampleCollateralSpec spec;
  spec.platform_status = "Revoked";
  auto verification = verify(spec);
  ASSERT_TRUE(verification.ok()) << verification.status().to_string();
  EXPECT_EQ(verification->tcb_status, TcbStatus::kRevoked);
  auto everything = parse_tdx_tcb_policy(
      "UpToDate,SWHardeningNeeded,ConfigurationNeeded,ConfigurationAndSWHardeningNeeded,"
      "OutOfDate,OutOfDateConfigurationNeeded");
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(check_tdx_tcb_status(*verification, *everything).code(), ErrorCode::kPolicyViolation);
}

// TEE_TCB_SVN[1] > 0: bytes 0 and 1 are left out of the platform level and the module identity
// TDX_01 gives the module level from TEE_TCB_SVN[0].
TEST_F(SampleCollateral, TdxModuleIdentityDecidesTheModuleLevel) {
  testing::SampleQuoteSpec quote_spec;
  quote_spec.tee_tcb_svn = {6, 1, 4};
  auto current = parse_tdx_quote(testing::build_sample_tdx_quote(quote_spec, chain_).quote);
  ASSERT_TRUE(current.ok());
  quote_spec.tee_tcb_svn = {3, 1, 4};
  auto old = parse_tdx_quote(testing::build_sample_tdx_quote(quote_spec, chain_).quote);
  ASSERT_TRUE(old.ok());
  testing::SampleCollateralSpec spec;
  spec.tdx_module_identities = true;
  sample_ = testing::build_sample_collateral(chain_, spec);

  auto up_to_date =
      verify_tdx_collateral(*current, convert(sample_), chain_.root.get(), at(kSampleTime));
  ASSERT_TRUE(up_to_date.ok()) << up_to_date.status().to_string();
  EXPECT_EQ(up_to_date->tdx_module_identity, "TDX_01");
  ASSERT_TRUE(up_to_date->tdx_module_tcb_level);
  EXPECT_EQ(up_to_date->tdx_module_tcb_level->isv_svn, 6);
  EXPECT_EQ(up_to_date->tcb_status, TcbStatus::kUpToDate);

  auto out_of_date =
      verify_tdx_collateral(*old, convert(sample_), chain_.root.get(), at(kSampleTime));
  ASSERT_TRUE(out_of_date.ok()) << out_of_date.status().to_string();
  EXPECT_EQ(out_of_date->platform_tcb_status, TcbStatus::kUpToDate);
  EXPECT_EQ(out_of_date->tdx_module_tcb_level->isv_svn, 2);
  EXPECT_EQ(out_of_date->tcb_status, TcbStatus::kOutOfDate);

  sample_ = testing::build_sample_collateral(chain_, {});
  auto missing =
      verify_tdx_collateral(*current, convert(sample_), chain_.root.get(), at(kSampleTime));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kCollateralMismatch);
  EXPECT_THAT(missing.status().message(), HasSubstr("no identity 'TDX_01'"));
}

TEST_F(SampleCollateral, RevokedPckCertificateIsRefused) {
  testing::SampleCollateralSpec spec;
  spec.revoke_pck = true;
  auto verification = verify(spec);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCertificateRevoked);
  EXPECT_THAT(verification.status().message(),
              HasSubstr("PCK certificate 'Intel SGX PCK Certificate'"));
  EXPECT_THAT(verification.status().message(), HasSubstr("revoked by the PCK CRL"));
}

TEST_F(SampleCollateral, RevokedPckCaIsRefused) {
  testing::SampleCollateralSpec spec;
  spec.revoke_pck_ca = true;
  auto verification = verify(spec);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCertificateRevoked);
  EXPECT_THAT(verification.status().message(), HasSubstr("revoked by the Root CA CRL"));
}

TEST_F(SampleCollateral, ExpiredAndNotYetValidCollateralIsRefused) {
  auto late = verify({}, "2027-02-01T00:00:00Z");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), ErrorCode::kCollateralExpired);
  EXPECT_THAT(late.status().message(), HasSubstr("Root CA CRL"));
  auto early = verify({}, "2025-12-01T00:00:00Z");
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), ErrorCode::kCollateralExpired);
}

TEST_F(SampleCollateral, ExpiredTcbInfoIsRefusedByName) {
  sample_ = testing::build_sample_collateral(chain_, {});
  auto document = split_signed_document(sample_.tcb_info, "tcbInfo");
  ASSERT_TRUE(document.ok());
  std::string body = document->body;
  const auto position = body.find("\"nextUpdate\":\"2027-01-01");
  ASSERT_NE(position, std::string::npos);
  body.replace(position, 24, "\"nextUpdate\":\"2026-05-01");
  sample_.tcb_info =
      testing::sign_collateral_document(sample_.tcb_signing_key.get(), "tcbInfo", body);
  auto verification =
      verify_tdx_collateral(quote_, convert(sample_), chain_.root.get(), at(kSampleTime));
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralExpired);
  EXPECT_THAT(verification.status().message(), HasSubstr("TCB Info is valid from issueDate"));
}

TEST_F(SampleCollateral, OtherPlatformsFmspcIsRefused) {
  testing::SampleCollateralSpec spec;
  spec.fmspc = {0x50, 0x80, 0x6f, 0x00, 0x00, 0x00};
  auto verification = verify(spec);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralMismatch);
  EXPECT_THAT(verification.status().message(),
              HasSubstr("fmspc (PCK certificate FMSPC): the quote has 00906ed50000, the "
                        "collateral 50806f000000"));
}

TEST_F(SampleCollateral, QeIdentityMismatchIsRefused) {
  testing::SampleCollateralSpec spec;
  spec.qe_mr_signer.fill(0x45);
  auto verification = verify(spec);
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralMismatch);
  EXPECT_THAT(verification.status().message(), HasSubstr("QE Identity mrsigner"));
}

TEST_F(SampleCollateral, NoMatchingTcbLevelIsRefused) {
  sample_ = testing::build_sample_collateral(chain_, {});
  auto document = split_signed_document(sample_.tcb_info, "tcbInfo");
  ASSERT_TRUE(document.ok());
  std::string body = document->body;
  const auto position = body.find("\"pcesvn\":11");
  ASSERT_NE(position, std::string::npos);
  body.replace(position, 11, "\"pcesvn\":12");
  sample_.tcb_info =
      testing::sign_collateral_document(sample_.tcb_signing_key.get(), "tcbInfo", body);
  auto verification =
      verify_tdx_collateral(quote_, convert(sample_), chain_.root.get(), at(kSampleTime));
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCollateralMismatch);
  EXPECT_THAT(verification.status().message(), HasSubstr("no level is met"));
}

TEST_F(SampleCollateral, DocumentSignedByTheWrongCertificateIsRefused) {
  sample_ = testing::build_sample_collateral(chain_, {});
  auto collateral = convert(sample_);
  collateral.tcb_info_issuer_chain = collateral.pck_crl_issuer_chain;
  auto verification = verify_tdx_collateral(quote_, collateral, chain_.root.get(), at(kSampleTime));
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(verification.status().message(),
              HasSubstr("TCB Info signer is 'Intel SGX PCK Platform CA'"));
}

TEST_F(SampleCollateral, DirectoryRoundTrip) {
  testing::TempDir directory;
  sample_ = testing::build_sample_collateral(chain_, {});
  ASSERT_TRUE(testing::write_sample_collateral(sample_, directory.path()).ok());
  auto collateral = read_tdx_collateral_directory(directory.path());
  ASSERT_TRUE(collateral.ok()) << collateral.status().to_string();
  EXPECT_TRUE(verify_tdx_collateral(quote_, *collateral, chain_.root.get(), at(kSampleTime)).ok());
  std::filesystem::remove(directory.path() / kPckCrlFile);
  auto missing = read_tdx_collateral_directory(directory.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("pck_crl.der"));
}

TEST(TdxCollateralDocument, SplitKeepsTheExactSignedBytes) {
  const std::string signature(128, 'a');
  auto document = split_signed_document(
      R"({ "signature" : ")" + signature + R"(", "tcbInfo" : { "a" : [1, "}"] } })", "tcbInfo");
  ASSERT_TRUE(document.ok()) << document.status().to_string();
  EXPECT_EQ(document->body, R"({ "a" : [1, "}"] })");
  EXPECT_EQ(document->signature[0], 0xaa);
}

TEST(TdxCollateralDocument, SplitRefusesDuplicatesExtrasAndBadSignatures) {
  const std::string signature = "\"" + std::string(128, 'a') + "\"";
  for (const std::string& text : {
           R"({"tcbInfo":{},"tcbInfo":{},"signature":)" + signature + "}",
           R"({"tcbInfo":{},"extra":1,"signature":)" + signature + "}",
           std::string(R"({"tcbInfo":{},"signature":"abcd"})"),
           std::string(R"({"signature":)") + signature + "}",
           std::string(R"({"tcbInfo":[],"signature":)") + signature + "}",
           std::string("not json"),
       }) {
    auto document = split_signed_document(text, "tcbInfo");
    ASSERT_FALSE(document.ok()) << text;
    EXPECT_EQ(document.status().code(), ErrorCode::kMalformed) << text;
  }
}

TEST(TdxCollateralDocument, UnknownStatusAndWrongVersionAreRefused) {
  auto qe = parse_qe_identity(R"({"id":"TD_QE","version":3})");
  ASSERT_FALSE(qe.ok());
  EXPECT_EQ(qe.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_FALSE(parse_tcb_status("uptodate").ok());
  EXPECT_EQ(*parse_tcb_status("ConfigurationAndSWHardeningNeeded"),
            TcbStatus::kConfigurationAndSwHardeningNeeded);
}

TEST(TdxTcbPolicy, ParsesListsAndRefusesRevokedOrEmpty) {
  auto policy = parse_tdx_tcb_policy("UpToDate, SWHardeningNeeded,UpToDate");
  ASSERT_TRUE(policy.ok()) << policy.status().to_string();
  EXPECT_EQ(policy->accepted,
            (std::vector<TcbStatus>{TcbStatus::kUpToDate, TcbStatus::kSwHardeningNeeded}));
  EXPECT_EQ(parse_tdx_tcb_policy("UpToDate,Revoked").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_tdx_tcb_policy("").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_tdx_tcb_policy("UpToDate,Bogus").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(TdxTcbPolicy{}.accepted,
            (std::vector<TcbStatus>{TcbStatus::kUpToDate, TcbStatus::kSwHardeningNeeded}));
}

}  // namespace
}  // namespace ccfde::measure

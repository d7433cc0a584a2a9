// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_report_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "ccfde/common/digest.h"
#include "snp_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using namespace snp_test;

TEST(SnpReportJson, E2eReportReEncodesToTheDocumentedBytesAndFields) {
  SNP_VECTOR(evidence, load_json(kE2eEvidence));
  auto report = snp_report_from_trustee_json(evidence.at("attestation_report"));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const Bytes bytes = serialize_snp_report(*report);
  ASSERT_EQ(bytes.size(), kSnpReportSize);
  EXPECT_EQ(hex(*digest(DigestAlgorithm::kSha256, bytes)),
            "18e907bf99a957d8ccf30f2081da17f673da648a7a0b9d551a866e875234c21a");

  EXPECT_EQ(report->version, 3u);
  EXPECT_EQ(report->guest_svn, 0u);
  EXPECT_EQ(report->policy.raw, 0x30000u);
  EXPECT_EQ(hex(report->family_id), std::string(32, '0'));
  EXPECT_EQ(hex(report->image_id), std::string(32, '0'));
  EXPECT_EQ(report->vmpl, 0u);
  EXPECT_EQ(report->signature_algo, 1u);
  const std::string tcb = "0a00000000001719";
  for (const SnpTcb* t :
       {&report->current_tcb, &report->reported_tcb, &report->committed_tcb, &report->launch_tcb}) {
    EXPECT_EQ(to_json(*t)["bytes"], tcb);
  }
  EXPECT_EQ(report->reported_tcb.parts, (SnpTcbParts{std::nullopt, 10, 0, 23, 25}));
  EXPECT_EQ(report->platform_info.raw, 0x25u);
  EXPECT_EQ(report->signer_info.raw, 0u);
  ASSERT_TRUE(report->cpuid.has_value());
  EXPECT_EQ(*report->cpuid, (SnpCpuid{0x19, 0xA0, 0x02}));
  EXPECT_EQ(report->product, SnpProduct::kGenoa);
  EXPECT_EQ(report->current_version, (SnpFirmwareVersion{1, 55, 40}));
  EXPECT_EQ(report->committed_version, (SnpFirmwareVersion{1, 55, 40}));
  EXPECT_EQ(hex(report->report_id_ma), std::string(64, 'f'));
  EXPECT_EQ(hex(report->host_data), std::string(64, '0'));
  EXPECT_EQ(hex(report->author_key_digest), std::string(96, '0'));
  EXPECT_EQ(hex(report->report_data),
            "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b19"
            "82f9a92b17c51b578d958cde6b0c92978f150cf9b0");
  EXPECT_EQ(hex(report->measurement),
            "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b"
            "315506e73e");
  EXPECT_EQ(hex(report->chip_id),
            "371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67ea6e687ffae7bf84b54a5d"
            "0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8");
  EXPECT_EQ(hex(report->report_id),
            "b34cb907a31ad237beb02efd236ab9899a7ddd66ff5beed2636765183a84e44f");
  EXPECT_FALSE(report->launch_mit_vector.has_value());
}

TEST(SnpReportJson, ToTrusteeJsonReproducesTheE2eObject) {
  SNP_VECTOR(evidence, load_json(kE2eEvidence));
  const nlohmann::json& original = evidence.at("attestation_report");
  auto report = snp_report_from_trustee_json(original);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(snp_report_to_trustee_json(*report), original);
}

TEST(SnpReportJson, BinaryReportsRoundTripThroughJson) {
  SNP_VECTOR(vm, load_vm_report());
  SNP_VECTOR(az, load_az_report());
  CCFDE_LOAD_TESTDATA(tr, kTrReport);
  for (const Bytes* bytes : {&vm, &az, &tr}) {
    auto report = parse_snp_report(*bytes);
    ASSERT_TRUE(report.ok());
    const nlohmann::json json = snp_report_to_trustee_json(*report);
    auto back = snp_report_from_trustee_json(nlohmann::json::parse(json.dump()));
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(serialize_snp_report(*back), *bytes);
    EXPECT_EQ(*back, *report);
  }
}

TEST(SnpReportJson, Version2HasNullCpuidAndVersion5HasMitigationVectors) {
  CCFDE_LOAD_TESTDATA(tr, kTrReport);
  auto report = parse_snp_report(tr);
  ASSERT_TRUE(report.ok());
  nlohmann::json json = snp_report_to_trustee_json(*report);
  EXPECT_TRUE(json["cpuid_fam_id"].is_null());
  EXPECT_FALSE(json.contains("launch_mit_vector"));

  json["version"] = 5;
  json["cpuid_fam_id"] = 0x1A;
  json["cpuid_mod_id"] = 0x02;
  json["cpuid_step"] = 0;
  for (const char* key : {"current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"}) {
    json[key]["fmc"] = 7;
  }
  json["launch_mit_vector"] = 3;
  auto turin = snp_report_from_trustee_json(json);
  ASSERT_TRUE(turin.ok()) << turin.status().to_string();
  EXPECT_EQ(turin->tcb_layout, SnpTcbLayout::kTurin);
  EXPECT_EQ(turin->reported_tcb.parts.fmc, 7);
  EXPECT_EQ(turin->launch_mit_vector, 3u);
  EXPECT_EQ(turin->current_mit_vector, 0u);
  EXPECT_EQ(snp_report_to_trustee_json(*turin)["launch_mit_vector"], 3);
}

TEST(SnpReportJson, RejectsMalformedMembers) {
  SNP_VECTOR(evidence, load_json(kE2eEvidence));
  const nlohmann::json good = evidence.at("attestation_report");
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"missing", [](nlohmann::json& j) { j.erase("measurement"); }, "\"measurement\" is missing"},
      {"string", [](nlohmann::json& j) { j["vmpl"] = "0"; }, "\"vmpl\" must be a non-negative"},
      {"negative", [](nlohmann::json& j) { j["guest_svn"] = -1; }, "\"guest_svn\""},
      {"too large", [](nlohmann::json& j) { j["vmpl"] = 1ULL << 32; }, "at most 4294967295"},
      {"byte", [](nlohmann::json& j) { j["chip_id"][3] = 256; }, "chip_id[3]"},
      {"length", [](nlohmann::json& j) { j["report_id"].erase(0); }, "array of 32 byte values"},
      {"fmc on genoa", [](nlohmann::json& j) { j["reported_tcb"]["fmc"] = 1; }, "reported_tcb"},
      {"no cpuid", [](nlohmann::json& j) { j["cpuid_fam_id"] = nullptr; }, "cpuid_fam_id"},
      {"mitigation", [](nlohmann::json& j) { j["current_mit_vector"] = 1; }, "mitigation"},
      {"tcb member", [](nlohmann::json& j) { j["launch_tcb"].erase("snp"); }, "\"snp\""},
      {"signature", [](nlohmann::json& j) { j["signature"] = 5; }, "\"r\""},
  };
  for (const Case& c : cases) {
    nlohmann::json json = good;
    c.edit(json);
    auto result = snp_report_from_trustee_json(json);
    EXPECT_EQ(result.status().code(), ErrorCode::kMalformed) << c.what;
    EXPECT_THAT(result.status().message(), HasSubstr(c.expected)) << c.what;
  }
  EXPECT_EQ(snp_report_from_trustee_json(nlohmann::json::array()).status().code(),
            ErrorCode::kMalformed);
  // Binary-parser checks still apply to JSON input.
  nlohmann::json json = good;
  json["version"] = 9;
  EXPECT_EQ(snp_report_from_trustee_json(json).status().code(), ErrorCode::kUnsupportedVersion);
  json = good;
  json["policy"] = 0;
  EXPECT_EQ(snp_report_from_trustee_json(json).status().code(), ErrorCode::kMalformed);
}

}  // namespace
}  // namespace ccfde::measure

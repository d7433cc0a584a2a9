// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/digest.h"
#include "snp_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using namespace snp_test;

// A minimal report that parses: version, POLICY bit 17, SIGNATURE_ALGO 1.
Bytes minimal_report(std::uint32_t version) {
  Bytes bytes(kSnpReportSize, 0);
  store_u32(bytes, 0x000, version);
  store_u64(bytes, 0x008, 0x30000);
  store_u32(bytes, 0x034, 1);
  return bytes;
}

Status parse_status(const Bytes& bytes) {
  return parse_snp_report(bytes).status();
}

// The fields of each binary report vector (the vectors: docs/reference/TEST-VECTORS.md §7.1). Not
// listed, because the same in all of them: VMPL 0, SIGNATURE_ALGO 1, SIGNER_INFO 0, HOST_DATA and
// AUTHOR_KEY_DIGEST zero, REPORT_ID_MA all 0xff, no mitigation vector.
struct DocumentedReport {
  std::uint32_t version;
  std::uint32_t guest_svn;
  std::uint64_t policy;
  std::string family_id;
  std::string image_id;
  std::string current_tcb;
  std::string tcb;  // REPORTED_TCB, COMMITTED_TCB and LAUNCH_TCB
  SnpTcbParts reported_tcb_parts;
  std::uint64_t platform_info;
  std::optional<SnpCpuid> cpuid;
  SnpFirmwareVersion firmware;  // CURRENT and COMMITTED version
  std::string report_data;
  std::string measurement;
  std::string id_key_digest;
  std::string chip_id;
  std::string report_id;
};

void expect_documented_fields(const SnpReport& report, const DocumentedReport& expected) {
  EXPECT_EQ(report.version, expected.version);
  EXPECT_EQ(report.guest_svn, expected.guest_svn);
  EXPECT_EQ(report.policy.raw, expected.policy);
  EXPECT_EQ(hex(report.family_id), expected.family_id);
  EXPECT_EQ(hex(report.image_id), expected.image_id);
  EXPECT_EQ(report.vmpl, 0u);
  EXPECT_EQ(report.signature_algo, 1u);
  EXPECT_EQ(tcb_bytes(report.current_tcb), expected.current_tcb);
  EXPECT_EQ(tcb_bytes(report.reported_tcb), expected.tcb);
  EXPECT_EQ(tcb_bytes(report.committed_tcb), expected.tcb);
  EXPECT_EQ(tcb_bytes(report.launch_tcb), expected.tcb);
  EXPECT_EQ(report.reported_tcb.parts, expected.reported_tcb_parts);
  EXPECT_EQ(report.platform_info.raw, expected.platform_info);
  EXPECT_EQ(report.signer_info.raw, 0u);
  EXPECT_EQ(report.cpuid, expected.cpuid);
  EXPECT_EQ(report.current_version, expected.firmware);
  EXPECT_EQ(report.committed_version, expected.firmware);
  EXPECT_EQ(hex(report.report_data), expected.report_data);
  EXPECT_EQ(hex(report.measurement), expected.measurement);
  EXPECT_EQ(hex(report.id_key_digest), expected.id_key_digest);
  EXPECT_EQ(hex(report.host_data), zeros(32));
  EXPECT_EQ(hex(report.author_key_digest), zeros(48));
  EXPECT_EQ(hex(report.chip_id), expected.chip_id);
  EXPECT_EQ(hex(report.report_id), expected.report_id);
  EXPECT_EQ(hex(report.report_id_ma), std::string(64, 'f'));
  EXPECT_FALSE(report.launch_mit_vector.has_value());
  EXPECT_FALSE(report.current_mit_vector.has_value());
}

TEST(SnpReport, VmReportFieldsMatchTheReadme) {
  SNP_VECTOR(bytes, load_vm_report());
  ASSERT_EQ(bytes.size(), kSnpReportSize);
  EXPECT_EQ(hex(*digest(DigestAlgorithm::kSha256, bytes)),
            "120d77b213c8868dd42f160ccb0114f05336ec715f6d51070f534b33c7e03f3b");
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  expect_documented_fields(
      *report,
      {.version = 2,
       .guest_svn = 0,
       .policy = 0x30000,
       .family_id = zeros(16),
       .image_id = zeros(16),
       .current_tcb = "0300000000000873",
       .tcb = "0300000000000873",
       .reported_tcb_parts = {std::nullopt, 3, 0, 8, 115},
       .platform_info = 0x1,
       .cpuid = std::nullopt,
       .firmware = {1, 52, 4},
       .report_data =
           "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca00404"
           "33be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
       .measurement =
           "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60b"
           "d95b9c480cd81841f",
       .id_key_digest = zeros(48),
       .chip_id = "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039"
                  "029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
       .report_id = "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b"});
  EXPECT_TRUE(report->policy.smt_allowed);
  EXPECT_FALSE(report->policy.debug);
  EXPECT_FALSE(report->policy.migrate_ma);
  EXPECT_EQ(report->policy.abi_major, 0);
  EXPECT_EQ(report->policy.abi_minor, 0);
  EXPECT_EQ(report->reported_tcb.layout, SnpTcbLayout::kMilanGenoa);
  EXPECT_TRUE(report->platform_info.smt_en);
  EXPECT_FALSE(report->platform_info.tsme_en);
  EXPECT_EQ(report->signer_info.signing_key, SnpSigningKey::kVcek);
  EXPECT_FALSE(report->signer_info.author_key_en);
  EXPECT_FALSE(report->signer_info.mask_chip_key);
  EXPECT_EQ(report->product, SnpProduct::kUnknown);
}

TEST(SnpReport, TrusteeReportFieldsMatchTheReadme) {
  CCFDE_LOAD_TESTDATA(bytes, kTrReport);
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  expect_documented_fields(
      *report,
      {.version = 2,
       .guest_svn = 4,
       .policy = 0x3001f,
       .family_id = "01000000000000000000000000000000",
       .image_id = "02000000000000000000000000000000",
       // The pitfall of docs/reference/TEST-VECTORS.md §7.1: CURRENT_TCB (ucode 206) differs from
       // REPORTED_TCB (ucode 115).
       .current_tcb = "03000000000008ce",
       .tcb = "0300000000000873",
       .reported_tcb_parts = {std::nullopt, 3, 0, 8, 115},
       .platform_info = 0x1,
       .cpuid = std::nullopt,
       .firmware = {1, 52, 4},
       .report_data =
           "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2" + zeros(32),
       .measurement =
           "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e"
           "6be917f9050d3d38c",
       .id_key_digest =
           "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc"
           "28a6e0b2bb57af7a44a3",
       .chip_id = "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286"
                  "612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
       .report_id = "385eba81216de4776548fcb86f8ead03c1ebc92b6207f3210d9ccebb89c99005"});
  EXPECT_EQ(report->policy.abi_minor, 0x1f);
  EXPECT_EQ(report->policy.abi_major, 0);
  EXPECT_FALSE(report->policy.debug);
  EXPECT_EQ(report->current_tcb.parts.microcode, 206);
}

TEST(SnpReport, AzureReportFieldsMatchTheReadme) {
  SNP_VECTOR(bytes, load_az_report());
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  expect_documented_fields(
      *report,
      {.version = 3,
       .guest_svn = 12,
       .policy = 0x3001f,
       .family_id = "02212000000000000000000000000000",
       .image_id = "02000000000000000000000000000000",
       .current_tcb = "04000000000018db",
       .tcb = "04000000000018db",
       .reported_tcb_parts = {std::nullopt, 4, 0, 24, 219},
       .platform_info = 0x25,
       .cpuid = SnpCpuid{0x19, 0x01, 0x01},
       .firmware = {1, 55, 29},
       .report_data =
           "cf7cc0731c50f64876804b3943b2bfbd93dba69f5928e3df223e78ff34dd46ee" + zeros(32),
       .measurement =
           "5b0ce64ad1c1f6375dbda5f760b98526ca1bcf91b8195091afc28e7b024251d68fe32e05af34048"
           "d6607678cd23283ff",
       .id_key_digest =
           "942fd93ebde6ea7a96efadeafc60f1c6b3d10e703b1dafd7555b92f7f3d32d0e006767648cba"
           "5b102af3d65756af4177",
       .chip_id = "2e0e62a0e6f39bc491381b091ff79cfe03ad0b42a6bbe764fd408923963d9097440365dbf8c3412c"
                  "8da4969024d81b19c1d4f12197f460bf2b5283a25e32f684",
       .report_id = "ad29db593a7c2498cc5e987f9c9f51947fe01e18af0eb68d9b35076ae5437050"});
  EXPECT_TRUE(report->platform_info.smt_en);
  EXPECT_TRUE(report->platform_info.ecc_en);
  EXPECT_TRUE(report->platform_info.alias_check_complete);
  EXPECT_FALSE(report->platform_info.tsme_en);
  EXPECT_EQ(report->platform_info.unknown_bits, 0u);
  EXPECT_EQ(report->product, SnpProduct::kMilan);
  EXPECT_EQ(report->tcb_layout, SnpTcbLayout::kMilanGenoa);
}

TEST(SnpReport, SerializeIsTheInverseOfParseForEveryVector) {
  SNP_VECTOR(vm, load_vm_report());
  SNP_VECTOR(az, load_az_report());
  CCFDE_LOAD_TESTDATA(tr, kTrReport);
  for (const Bytes* bytes : {&vm, &az, &tr}) {
    auto report = parse_snp_report(*bytes);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(serialize_snp_report(*report), *bytes);
    EXPECT_TRUE(looks_like_snp_report(*bytes));
  }
}

TEST(SnpReport, JsonCarriesDecodedFieldsAsHex) {
  SNP_VECTOR(bytes, load_az_report());
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok());
  const nlohmann::json json = to_json(*report);
  EXPECT_EQ(json["version"], 3);
  EXPECT_EQ(json["policy"]["raw"], "0x3001f");
  EXPECT_EQ(json["policy"]["debug"], false);
  EXPECT_EQ(json["reported_tcb"]["bytes"], "04000000000018db");
  EXPECT_EQ(json["reported_tcb"]["microcode"], 219);
  EXPECT_TRUE(json["reported_tcb"]["fmc"].is_null());
  EXPECT_EQ(json["cpuid"]["family"], 0x19);
  EXPECT_EQ(json["product"], "Milan");
  EXPECT_EQ(json["signer_info"]["signing_key"], "vcek");
  EXPECT_EQ(json["current_version"]["text"], "1.55 build 29");
  EXPECT_EQ(json["chip_id"], hex(report->chip_id));
  // r as a big-endian integer is the reversed first 48 bytes of the stored field.
  const std::string r_le = json["signature"]["r_le"];
  const std::string r_be = json["signature"]["r"];
  ASSERT_EQ(r_be.size(), 96u);
  EXPECT_EQ(r_be.substr(94, 2), r_le.substr(0, 2));
  EXPECT_TRUE(json["launch_mit_vector"].is_null());
}

TEST(SnpReport, TurinFamilySelectsTheTurinTcbLayout) {
  Bytes bytes = minimal_report(3);
  bytes[0x188] = 0x1A;  // Turin
  bytes[0x189] = 0x02;
  // FMC 1, BL 2, TEE 3, SNP 4, MICROCODE 5 in the Turin layout.
  const std::uint64_t tcb = 0x0500000004030201ULL;
  for (std::size_t offset : {0x038u, 0x180u, 0x1E0u, 0x1F0u}) store_u64(bytes, offset, tcb);
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->product, SnpProduct::kTurin);
  EXPECT_EQ(report->tcb_layout, SnpTcbLayout::kTurin);
  EXPECT_EQ(report->reported_tcb.parts, (SnpTcbParts{1, 2, 3, 4, 5}));
  EXPECT_EQ(report->launch_tcb.parts, (SnpTcbParts{1, 2, 3, 4, 5}));
  // The same bytes in the Milan/Genoa layout mean something else.
  EXPECT_EQ(decode_snp_tcb(tcb, SnpTcbLayout::kMilanGenoa).parts,
            (SnpTcbParts{std::nullopt, 1, 2, 0, 5}));
}

TEST(SnpReport, GenoaModelA0IsGenoaWithTheMilanGenoaLayout) {
  Bytes bytes = minimal_report(3);
  bytes[0x188] = 0x19;
  bytes[0x189] = 0xA0;
  bytes[0x18A] = 0x02;
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->product, SnpProduct::kGenoa);
  EXPECT_EQ(report->tcb_layout, SnpTcbLayout::kMilanGenoa);
  EXPECT_EQ(snp_product_from_cpuid(0x19, 0x11), SnpProduct::kGenoa);
  EXPECT_EQ(snp_product_from_cpuid(0x19, 0x01), SnpProduct::kMilan);
  EXPECT_EQ(snp_product_from_cpuid(0x17, 0x31), SnpProduct::kUnknown);
}

TEST(SnpReport, EncodeTcbRoundTripsAndRefusesTheWrongLayout) {
  auto milan = encode_snp_tcb({std::nullopt, 3, 0, 8, 115}, SnpTcbLayout::kMilanGenoa);
  ASSERT_TRUE(milan.ok());
  EXPECT_EQ(tcb_bytes(*milan), "0300000000000873");
  auto turin = encode_snp_tcb({1, 2, 3, 4, 5}, SnpTcbLayout::kTurin);
  ASSERT_TRUE(turin.ok());
  EXPECT_EQ(turin->raw, 0x0500000004030201ULL);
  EXPECT_EQ(encode_snp_tcb({1, 2, 3, 4, 5}, SnpTcbLayout::kMilanGenoa).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(encode_snp_tcb({std::nullopt, 2, 3, 4, 5}, SnpTcbLayout::kTurin).status().code(),
            ErrorCode::kInvalidArgument);
}

TEST(SnpReport, Version5HasMitigationVectors) {
  Bytes bytes = minimal_report(5);
  bytes[0x188] = 0x19;
  bytes[0x189] = 0x11;
  store_u64(bytes, 0x1F8, 0x11);
  store_u64(bytes, 0x200, 0x22);
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->launch_mit_vector, 0x11u);
  EXPECT_EQ(report->current_mit_vector, 0x22u);
  EXPECT_EQ(serialize_snp_report(*report), bytes);
  EXPECT_EQ(to_json(*report)["current_mit_vector"], "0x22");

  // Version 4 has the version 3 layout: a mitigation vector there is a non-zero reserved area.
  store_u32(bytes, 0x000, 4);
  auto v4 = parse_snp_report(bytes);
  EXPECT_EQ(v4.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(v4.status().message(), HasSubstr("0x1f8"));
}

TEST(SnpReport, RejectsTruncatedAndOversizedInput) {
  const Bytes report = minimal_report(2);
  for (std::size_t size : {0u, 1u, 0x2A0u, 1183u}) {
    auto result = parse_snp_report(std::span<const std::uint8_t>(report).first(size));
    EXPECT_EQ(result.status().code(), ErrorCode::kTruncated) << size;
    EXPECT_THAT(result.status().message(), HasSubstr("1184"));
  }
  Bytes longer = report;
  longer.push_back(0);
  auto result = parse_snp_report(longer);
  EXPECT_EQ(result.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(result.status().message(), HasSubstr("1 trailing"));
  EXPECT_FALSE(looks_like_snp_report(longer));
  EXPECT_FALSE(looks_like_snp_report(std::span<const std::uint8_t>(report).first(100)));
}

TEST(SnpReport, RejectsUnknownVersionsAndAlgorithms) {
  for (std::uint32_t version : {0u, 1u, 6u, 0xFFFFFFFFu}) {
    const Status status = parse_status(minimal_report(version));
    EXPECT_EQ(status.code(), ErrorCode::kUnsupportedVersion) << version;
    EXPECT_THAT(status.message(), HasSubstr(fmt::format("is {}", version)));
  }
  for (std::uint32_t version : {2u, 3u, 4u, 5u}) {
    EXPECT_TRUE(parse_status(minimal_report(version)).ok()) << version;
  }
  Bytes bytes = minimal_report(2);
  store_u32(bytes, 0x034, 2);
  EXPECT_EQ(parse_status(bytes).code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(parse_status(bytes).message(), HasSubstr("SIGNATURE_ALGO at offset 0x034 is 2"));
  EXPECT_FALSE(looks_like_snp_report(bytes));

  bytes = minimal_report(2);
  store_u32(bytes, 0x048, 3u << 2);  // SIGNING_KEY 3 is reserved
  EXPECT_EQ(parse_status(bytes).code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(parse_status(bytes).message(), HasSubstr("SIGNING_KEY"));

  bytes = minimal_report(2);
  store_u32(bytes, 0x048, (1u << 2) | 1u);  // VLEK, AUTHOR_KEY_EN
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->signer_info.signing_key, SnpSigningKey::kVlek);
  EXPECT_TRUE(report->signer_info.author_key_en);
}

TEST(SnpReport, RejectsNonZeroReservedAreasNamingTheOffset) {
  struct Case {
    std::uint32_t version;
    std::size_t offset;
    const char* expected;
  };
  const Case cases[] = {
      {2, 0x04C, "offset 0x04c"}, {2, 0x188, "offset 0x188"}, {3, 0x18B, "offset 0x18b"},
      {3, 0x19F, "offset 0x19f"}, {2, 0x1EB, "offset 0x1eb"}, {2, 0x1EF, "offset 0x1ef"},
      {3, 0x200, "offset 0x200"}, {5, 0x208, "offset 0x208"}, {5, 0x29F, "offset 0x29f"},
      {2, 0x2D0, "SIGNATURE.R"},  {2, 0x318, "SIGNATURE.S"},  {2, 0x330, "offset 0x330"},
      {2, 0x49F, "offset 0x49f"},
  };
  for (const Case& c : cases) {
    Bytes bytes = minimal_report(c.version);
    bytes[c.offset] = 0x01;
    const Status status = parse_status(bytes);
    EXPECT_EQ(status.code(), ErrorCode::kMalformed) << std::hex << c.offset;
    EXPECT_THAT(status.message(), HasSubstr(c.expected));
  }
}

TEST(SnpReport, RejectsPolicyAndSignerInfoMbzBits) {
  Bytes bytes = minimal_report(2);
  store_u64(bytes, 0x008, 0x10000);  // bit 17 clear
  EXPECT_EQ(parse_status(bytes).code(), ErrorCode::kMalformed);
  EXPECT_THAT(parse_status(bytes).message(), HasSubstr("bit 17 must be 1"));
  EXPECT_FALSE(looks_like_snp_report(bytes));

  store_u64(bytes, 0x008, 0x30000 | (1ULL << 40));
  EXPECT_EQ(parse_status(bytes).code(), ErrorCode::kMalformed);
  EXPECT_THAT(parse_status(bytes).message(), HasSubstr("bits 63:26"));

  bytes = minimal_report(2);
  store_u32(bytes, 0x048, 1u << 5);
  EXPECT_EQ(parse_status(bytes).code(), ErrorCode::kMalformed);
  EXPECT_THAT(parse_status(bytes).message(), HasSubstr("bits 31:5"));
}

TEST(SnpReport, DecodesEveryPolicyBit) {
  Bytes bytes = minimal_report(2);
  store_u64(bytes, 0x008, 0x3FF0102);
  auto report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const SnpPolicy& p = report->policy;
  EXPECT_EQ(p.abi_minor, 2);
  EXPECT_EQ(p.abi_major, 1);
  EXPECT_TRUE(p.smt_allowed && p.migrate_ma && p.debug && p.single_socket && p.cxl_allow &&
              p.mem_aes_256_xts && p.rapl_dis && p.ciphertext_hiding && p.page_swap_disable);
  store_u64(bytes, 0x040, 0x1C0);  // TIO_EN, reserved bits 6 and 8
  report = parse_snp_report(bytes);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->platform_info.tio_en);
  EXPECT_EQ(report->platform_info.unknown_bits, 0x140u);
}

TEST(SnpReport, NeverCrashesOnPrefixesOrMutations) {
  SNP_VECTOR(bytes, load_az_report());
  for (std::size_t size = 0; size <= bytes.size(); ++size) {
    auto result = parse_snp_report(std::span<const std::uint8_t>(bytes).first(size));
    EXPECT_EQ(result.ok(), size == bytes.size());
    (void)looks_like_snp_report(std::span<const std::uint8_t>(bytes).first(size));
  }
  std::mt19937 random(1184);
  std::uniform_int_distribution<std::size_t> position(0, bytes.size() - 1);
  std::uniform_int_distribution<int> value(0, 255);
  for (int round = 0; round < 2000; ++round) {
    Bytes mutated = bytes;
    for (int i = 0; i < 4; ++i)
      mutated[position(random)] = static_cast<std::uint8_t>(value(random));
    auto result = parse_snp_report(mutated);
    if (result.ok()) {
      EXPECT_EQ(serialize_snp_report(*result), mutated);
      (void)to_json(*result).dump();
    }
  }
}

}  // namespace
}  // namespace ccfde::measure

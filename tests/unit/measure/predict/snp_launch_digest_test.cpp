// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_launch_digest.h"

#include <gtest/gtest.h>

#include <string>

#include "ccfde/testing/testdata.h"

namespace ccfde::measure {
namespace {

// The last 4 KiB of edk2-stable202405 OVMF builds
// (tests/data/virtee-sev-snp-measure/PROVENANCE.md).
constexpr const char* kAmdSevOvmf = "virtee-sev-snp-measure/ovmf_AmdSev_suffix.bin";
constexpr const char* kOvmfX64 = "virtee-sev-snp-measure/ovmf_OvmfX64_suffix.bin";

// Expected values: virtee/sev-snp-measure tests/test_guest.py
// @ 8f2b337e38bc83f87cd30f3253cdfe8e3e12cc3a, unless a test says otherwise. Upstream passes
// /dev/null as kernel and initrd: both are empty files.
constexpr const char* kUpstreamOvmfHash =
    "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b"
    "74";
constexpr std::uint64_t kSnpActive = 0x1;
constexpr std::uint64_t kSnpActiveDebugSwap = 0x21;
constexpr std::uint8_t kNoBytes[1] = {0};
const std::span<const std::uint8_t> kEmptyFile(kNoBytes, 0);

SnpLaunchInputs upstream_inputs(std::span<const std::uint8_t> ovmf, std::uint32_t vcpus,
                                std::uint64_t features) {
  SnpLaunchInputs inputs;
  inputs.ovmf = ovmf;
  inputs.vcpus = vcpus;
  inputs.vcpu_signature = *snp_vcpu_signature("EPYC-v4");
  inputs.guest_features = features;
  return inputs;
}

std::string launch_digest_hex(const SnpLaunchInputs& inputs) {
  auto digest = snp_launch_digest(inputs);
  if (!digest.ok()) return digest.status().to_string();
  return hex_encode(*digest);
}

struct UpstreamCase {
  const char* name;  // the upstream test
  std::uint32_t vcpus;
  std::uint64_t features;
  bool kernel;          // /dev/null kernel and initrd
  const char* cmdline;  // with a kernel
  bool given_ovmf_hash;
  const char* expected;
};

class SnpLaunchDigestUpstreamTest : public ::testing::TestWithParam<UpstreamCase> {};

TEST_P(SnpLaunchDigestUpstreamTest, ReproducesSevSnpMeasure) {
  const UpstreamCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  SnpLaunchInputs inputs = upstream_inputs(ovmf, c.vcpus, c.features);
  if (c.kernel) inputs.direct_boot = SnpDirectBoot{kEmptyFile, kEmptyFile, c.cmdline};
  if (c.given_ovmf_hash) inputs.ovmf_hash = *hex_decode(kUpstreamOvmfHash);
  EXPECT_EQ(launch_digest_hex(inputs), c.expected) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Upstream, SnpLaunchDigestUpstreamTest,
    ::testing::Values(
        UpstreamCase{"test_snp_ovmf_hash_gen_default", 1, kSnpActiveDebugSwap, true, "", true,
                     "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1"
                     "d7fa41179ef98a7ef198"},
        UpstreamCase{"test_snp_ovmf_hash_gen_feature_snp_only", 1, kSnpActive, true, "", true,
                     "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a0"
                     "7a9079397fa3852819b5"},
        UpstreamCase{"test_snp_ovmf_hash_full_default", 1, kSnpActiveDebugSwap, true,
                     "console=ttyS0 loglevel=7", true,
                     "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1"
                     "e17895dfe778d0228977"},
        UpstreamCase{"test_snp_ovmf_hash_full_feature_snp_only", 1, kSnpActive, true,
                     "console=ttyS0 loglevel=7", true,
                     "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a920"
                     "46c042e706363b4b08fa"},
        UpstreamCase{"test_snp_default", 1, kSnpActiveDebugSwap, true, "console=ttyS0 loglevel=7",
                     false,
                     "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1"
                     "e17895dfe778d0228977"},
        UpstreamCase{"test_snp_guest_feature_snp_only", 1, kSnpActive, true,
                     "console=ttyS0 loglevel=7", false,
                     "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a920"
                     "46c042e706363b4b08fa"},
        UpstreamCase{"test_snp_without_kernel_default", 1, kSnpActiveDebugSwap, false, "", false,
                     "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2"
                     "ebe0eed9f22adbcd0e2b"},
        UpstreamCase{"test_snp_without_kernel_feature_snp_only", 1, kSnpActive, false, "", false,
                     "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6"
                     "f6db5d6d76e7c5df632d"},
        UpstreamCase{"test_snp_with_multiple_vcpus_default", 4, kSnpActiveDebugSwap, true, "",
                     false,
                     "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907"
                     "be0b4698e2414a631942"},
        UpstreamCase{"test_snp_with_multiple_vcpus_feature_snp_only", 4, kSnpActive, true, "",
                     false,
                     "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4"
                     "933de877c36e23046ad5"}));

TEST(SnpLaunchDigest, ComputesTheUpstreamOvmfHash) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  auto hash = snp_ovmf_hash(ovmf);
  ASSERT_TRUE(hash.ok()) << hash.status().to_string();
  EXPECT_EQ(hex_encode(*hash), kUpstreamOvmfHash);  // test_snp_ovmf_hash_full_default
}

TEST(SnpLaunchDigest, ReproducesUpstreamForAStandardOvmfWithoutKernel) {
  CCFDE_LOAD_TESTDATA(ovmf, kOvmfX64);
  // test_snp_with_ovmfx64_without_default, test_snp_with_ovmfx64_without_kernel_feature_snp_only
  EXPECT_EQ(launch_digest_hex(upstream_inputs(ovmf, 1, kSnpActiveDebugSwap)),
            "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b49"
            "3d8a64c385");
  EXPECT_EQ(launch_digest_hex(upstream_inputs(ovmf, 1, kSnpActive)),
            "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afd"
            "b6a30b4005");
}

// Distinct kernel, initrd and command line, other vCPU models: the expected values were computed
// with virtee/sev-snp-measure @ 8f2b337e38bc83f87cd30f3253cdfe8e3e12cc3a (guest.calc_launch_digest
// and SevHashes.construct_table, SEV_SNP mode, QEMU) on files holding these bytes.
constexpr std::string_view kKernel = "not a kernel";
constexpr std::string_view kInitrd = "not an initrd";

TEST(SnpLaunchDigest, BuildsQemusHashesTable) {
  auto table = sev_hashes_table(as_bytes(kKernel), as_bytes(kInitrd), "root=/dev/vda1 ro");
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  EXPECT_EQ(hex_encode(*table),
            "06d63894224fc94cb479a793d411fd21a800d82dd09720bd944caa78e7714d36ab2a32005b1044162429"
            "95f8ad18ef312aff06bde95090926a243c77c9b7c91cdb212e5131f7ba442f3ad74b9af141e29169781d"
            "32002fd855e8bb65c7e64e9a86a4a3ae47fb2dcd8e976663caf88a4825edac422b993794e74dd2ab7f42"
            "b835d5b172d2045b3200ca5e3e91e7ec9ea017b59edb38e8b10ca1ee0a13207afbdc5caa9aacf414012b"
            "0000000000000000");
}

TEST(SnpLaunchDigest, ReproducesSevSnpMeasureWithKernelInitrdAndCmdline) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  SnpLaunchInputs inputs = upstream_inputs(ovmf, 2, kSnpActiveDebugSwap);
  inputs.vcpu_signature = *snp_vcpu_signature("EPYC-Milan");
  inputs.direct_boot = SnpDirectBoot{as_bytes(kKernel), as_bytes(kInitrd), "root=/dev/vda1 ro"};
  EXPECT_EQ(launch_digest_hex(inputs),
            "4662af0f99c5482e486f3d35a9b08fc9d1f04b5b4a51d6bbfbd288028806288353ee7d7051e9ce3fa18dcc"
            "8e5d389a6f");

  inputs = upstream_inputs(ovmf, 3, kSnpActive);
  inputs.vcpu_signature = *snp_vcpu_signature("EPYC-Genoa");
  inputs.direct_boot = SnpDirectBoot{as_bytes(kKernel), std::nullopt, ""};
  EXPECT_EQ(launch_digest_hex(inputs),
            "af6b57adeb97b224bfc9c5a91b1b849f3547398f45bb3a9c3d159d60be81d842f165a273bfd4d3292bed0d"
            "56f45b00bb");
}

TEST(SnpLaunchDigest, ParsesTheAmdSevFooterTableAndMetadata) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  auto parsed = parse_amd_sev_ovmf(ovmf);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->gpa, 0xFFFFF000U);
  EXPECT_EQ(parsed->ap_reset_eip, 0x80B004U);
  EXPECT_EQ(parsed->hashes_table_gpa, 0x810C00U);
  ASSERT_EQ(parsed->sections.size(), 7U);
  EXPECT_EQ(parsed->sections[5].type, SevSectionType::kSnpKernelHashes);
  EXPECT_EQ(parsed->sections[5].gpa, 0x810000U);
  EXPECT_EQ(parsed->sections[5].size, 0x1000U);
}

TEST(SnpLaunchDigest, KnowsTheCpuSignatures) {
  EXPECT_EQ(*snp_vcpu_signature("EPYC-v4"), 0x800F12U);
  EXPECT_EQ(*snp_vcpu_signature("EPYC-Turin"), 0xB00F00U);
  EXPECT_EQ(amd_cpu_signature(25, 17, 0), *snp_vcpu_signature("EPYC-Genoa"));
  auto unknown = snp_vcpu_signature("EPYC-Bergamo");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("EPYC-Milan"), std::string::npos);
}

// Offsets in ovmf_AmdSev_suffix.bin: the footer entry header at 4046, the table's first entry
// (a 22-byte one) at 3928..3950 with its header at 3932, the SEV metadata entry's GUID at 3956,
// the metadata at 2732 with the SNP_KERNEL_HASHES section's size at 2812.
Status launch_error(Bytes ovmf, std::optional<SnpDirectBoot> boot = std::nullopt,
                    std::uint32_t vcpus = 1) {
  SnpLaunchInputs inputs = upstream_inputs(ovmf, vcpus, kSnpActive);
  inputs.direct_boot = boot;
  return snp_launch_digest(inputs).status();
}

const SnpDirectBoot kEmptyBoot{kEmptyFile, kEmptyFile, ""};

TEST(SnpLaunchDigest, RefusesATruncatedImage) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  EXPECT_EQ(launch_error(Bytes(ovmf.end() - 40, ovmf.end())).code(), ErrorCode::kTruncated);
  // The footer table is whole, the metadata 1364 bytes from the end is cut off.
  const Status cut = launch_error(Bytes(ovmf.end() - 1024, ovmf.end()));
  EXPECT_EQ(cut.code(), ErrorCode::kTruncated) << cut.to_string();
  EXPECT_NE(cut.message().find("SEV metadata"), std::string::npos) << cut.to_string();
}

TEST(SnpLaunchDigest, RefusesAFooterEntryPastTheTable) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  Bytes bad = ovmf;
  bad[3932] = 100;
  const Status status = launch_error(bad);
  EXPECT_EQ(status.code(), ErrorCode::kTruncated);
  EXPECT_NE(status.message().find("entry at offset 3932"), std::string::npos) << status.to_string();

  bad = ovmf;
  bad[4046] = 0xFF;
  bad[4047] = 0xFF;
  EXPECT_EQ(launch_error(bad).code(), ErrorCode::kMalformed);
}

TEST(SnpLaunchDigest, RefusesAFirmwareWithoutSevMetadata) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  Bytes bad = ovmf;
  bad[3956] ^= 0xFF;
  const Status status = launch_error(bad);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not an AmdSev build"), std::string::npos) << status.to_string();

  EXPECT_EQ(launch_error(Bytes(4096, 0)).code(), ErrorCode::kInvalidArgument);  // no footer table
  bad = ovmf;
  bad[2732] = 'X';  // signature
  EXPECT_EQ(launch_error(bad).code(), ErrorCode::kMalformed);
  bad = ovmf;
  bad[2732 + 16 + 8] = 9;  // first section's type
  EXPECT_EQ(launch_error(bad).code(), ErrorCode::kMalformed);
  bad = ovmf;
  bad[2732 + 16 + 3] = 0xFF;  // first section's GPA: 0xFF800000
  bad[2732 + 16 + 7] = 0x01;  // its size: 0x01009000
  const Status above = launch_error(bad);
  EXPECT_EQ(above.code(), ErrorCode::kMalformed);
  EXPECT_NE(above.message().find("ends above 4 GiB"), std::string::npos) << above.to_string();
}

TEST(SnpLaunchDigest, RefusesAKernelHashesSectionTooSmall) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  Bytes bad = ovmf;
  bad[2812 + 1] = 0x00;  // size 0x1000 -> 0
  const Status status = launch_error(bad, kEmptyBoot);
  EXPECT_EQ(status.code(), ErrorCode::kMalformed);
  EXPECT_NE(status.message().find("does not hold the 176-byte hashes table"), std::string::npos)
      << status.to_string();
}

TEST(SnpLaunchDigest, RefusesAKernelWithAFirmwareThatDoesNotMeasureIt) {
  CCFDE_LOAD_TESTDATA(ovmf, kOvmfX64);  // test_snp_with_ovmfx64_and_kernel_should_fail
  const Status status = launch_error(ovmf, kEmptyBoot);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("no SNP_KERNEL_HASHES section"), std::string::npos)
      << status.to_string();
}

TEST(SnpLaunchDigest, RefusesBadCountsAndHashes) {
  CCFDE_LOAD_TESTDATA(ovmf, kAmdSevOvmf);
  EXPECT_EQ(launch_error(ovmf, std::nullopt, 0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(launch_error(ovmf, std::nullopt, 100000).code(), ErrorCode::kInvalidArgument);
  SnpLaunchInputs inputs = upstream_inputs(ovmf, 1, kSnpActive);
  inputs.ovmf_hash = Bytes(32, 0);
  EXPECT_EQ(snp_launch_digest(inputs).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(snp_ovmf_hash(Bytes(4095, 0)).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::measure

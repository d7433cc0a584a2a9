// SPDX-License-Identifier: Apache-2.0
// The pure models behind cc-fde-tdx-emu's FUSE mounts: the sysfs measurement registers
// (Linux >= 6.16 semantics) and the quotes of configfs-tsm taking the RTMRs as they are now.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cerrno>
#include <vector>

#include "tdx_mr_model.h"
#include "tsm_report_model.h"

namespace ccfde::tdx_emu {
namespace {

using measure::TdxRegister;
using measure::TdxRegisterValue;

TdxRegisterValue filled(std::uint8_t byte) {
  TdxRegisterValue value;
  value.fill(byte);
  return value;
}

RtmrValues launch_rtmrs() {
  return {filled(0xa0), filled(0xa1), filled(0xa2), filled(0xa3)};
}

// SHA-384(old || digest) straight from OpenSSL, not through the model's digest helper.
TdxRegisterValue extended(const TdxRegisterValue& old, const std::vector<std::uint8_t>& digest) {
  std::vector<std::uint8_t> input(old.begin(), old.end());
  input.insert(input.end(), digest.begin(), digest.end());
  TdxRegisterValue out{};
  unsigned size = 0;
  EXPECT_EQ(EVP_Digest(input.data(), input.size(), out.data(), &size, EVP_sha384(), nullptr), 1);
  EXPECT_EQ(size, 48U);
  return out;
}

std::vector<std::uint8_t> digest_bytes(std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(48);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(seed + i);
  return bytes;
}

Bytes whole(const TdxRegisterValue& value) {
  return Bytes(value.begin(), value.end());
}

TEST(TdxMrFiles, AreTheKernelsNamesAndModes) {
  std::vector<std::string> names;
  std::vector<bool> writable;
  for (const auto& file : tdx_mr_files()) {
    names.emplace_back(measure::tdx_register_file_name(file.id));
    writable.push_back(file.writable);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"rtmr0:sha384", "rtmr1:sha384", "rtmr2:sha384",
                                             "rtmr3:sha384", "mrtd:sha384", "mrconfigid", "mrowner",
                                             "mrownerconfig"}));
  EXPECT_EQ(writable, (std::vector<bool>{true, true, true, true, false, false, false, false}));
  ASSERT_NE(find_tdx_mr_file("rtmr3:sha384"), nullptr);
  EXPECT_EQ(find_tdx_mr_file("rtmr3:sha384")->id, TdxRegister::kRtmr3);
  EXPECT_EQ(find_tdx_mr_file("rtmr3"), nullptr);
  EXPECT_EQ(find_tdx_mr_file("rtmr4:sha384"), nullptr);
}

TEST(TdxMrModel, ReadsTheLaunchValues) {
  const TdxMrModel model(filled(0x5d), launch_rtmrs());
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 4096), whole(filled(0x5d)));
  EXPECT_EQ(model.read(TdxRegister::kRtmr2, 0, 4096), whole(filled(0xa2)));
  EXPECT_EQ(model.read(TdxRegister::kMrOwner, 0, 4096), Bytes(48, 0));
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 40, 4096), Bytes(8, 0xa3));
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 10, 3), Bytes(3, 0xa3));
  EXPECT_TRUE(model.read(TdxRegister::kRtmr3, 48, 4096).empty());
}

TEST(TdxMrModel, WritingADigestExtends) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  const auto first = digest_bytes(1);
  const auto second = digest_bytes(7);
  auto written = model.write(TdxRegister::kRtmr3, 0, first);
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(*written, 48U);
  const TdxRegisterValue once = extended(filled(0xa3), first);
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 0, 48), whole(once));
  ASSERT_TRUE(model.write(TdxRegister::kRtmr3, 0, second).ok());
  const TdxRegisterValue twice = extended(once, second);
  EXPECT_EQ(model.rtmrs()[3], twice);
  // The other registers are untouched.
  EXPECT_EQ(model.rtmrs()[2], filled(0xa2));
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 48), whole(filled(0x5d)));
}

TEST(TdxMrModel, RefusesPartialWritesWithEinval) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  const std::vector<std::uint8_t> short_digest(47, 0x01);
  auto written = model.write(TdxRegister::kRtmr3, 0, short_digest);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EINVAL);
  EXPECT_EQ(written.status().code(), ErrorCode::kInvalidArgument);
  // 48 bytes at offset 1 are clipped to 47 and refused too.
  written = model.write(TdxRegister::kRtmr3, 1, digest_bytes(1));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EINVAL);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

TEST(TdxMrModel, RefusesWritesAtTheEndWithEfbig) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  auto written = model.write(TdxRegister::kRtmr3, 48, digest_bytes(1));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EFBIG);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

TEST(TdxMrModel, AnEmptyWriteDoesNothing) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  auto written = model.write(TdxRegister::kRtmr3, 0, {});
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 0U);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

// sysfs clips the count to the attribute's size before the driver sees it: the first 48 bytes
// extend and the write comes back short.
TEST(TdxMrModel, ALongerWriteExtendsWithItsFirst48BytesAndComesBackShort) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  auto long_write = digest_bytes(3);
  long_write.push_back(0xee);
  auto written = model.write(TdxRegister::kRtmr2, 0, long_write);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 48U);
  EXPECT_EQ(model.rtmrs()[2], extended(filled(0xa2), digest_bytes(3)));
}

TEST(TdxMrModel, ReadOnlyRegistersRefuseWritingWithEacces) {
  TdxMrModel model(filled(0x5d), launch_rtmrs());
  for (TdxRegister reg : {TdxRegister::kMrtd, TdxRegister::kMrConfigId, TdxRegister::kMrOwner,
                          TdxRegister::kMrOwnerConfig}) {
    EXPECT_EQ(model.check_open(reg, true).sys_errno(), EACCES);
    EXPECT_TRUE(model.check_open(reg, false).ok());
    auto written = model.write(reg, 0, digest_bytes(1));
    ASSERT_FALSE(written.ok());
    EXPECT_EQ(written.status().sys_errno(), EACCES);
  }
  EXPECT_TRUE(model.check_open(TdxRegister::kRtmr3, true).ok());
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 48), whole(filled(0x5d)));
}

// What serve wires together: a report generated after an extend carries the extended RTMR3.
TEST(TdxEmuModels, AQuoteAfterAnExtendCarriesTheNewRtmrs) {
  TdxMrModel registers(filled(0x5d), launch_rtmrs());
  std::vector<RtmrValues> seen;
  TsmReportModel reports([&](std::span<const std::uint8_t, kInblobSize>) -> Result<Bytes> {
    seen.push_back(registers.rtmrs());
    return Bytes{1, 2, 3};
  });
  ASSERT_TRUE(reports.make_instance("a").ok());
  auto generate = [&reports] {
    auto inblob = reports.open("a", TsmAttribute::kInblob, false, true);
    ASSERT_TRUE(inblob.ok());
    ASSERT_TRUE(reports.write(*inblob, 0, Bytes(kInblobSize, 0x42)).ok());
    ASSERT_TRUE(reports.flush(*inblob).ok());
    reports.release(*inblob);
    auto outblob = reports.open("a", TsmAttribute::kOutblob, true, false);
    ASSERT_TRUE(outblob.ok());
    ASSERT_TRUE(reports.read(*outblob, 0, 4096).ok());
    reports.release(*outblob);
  };
  generate();
  ASSERT_TRUE(registers.write(TdxRegister::kRtmr3, 0, digest_bytes(9)).ok());
  generate();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0][3], filled(0xa3));
  EXPECT_EQ(seen[1][3], extended(filled(0xa3), digest_bytes(9)));
}

}  // namespace
}  // namespace ccfde::tdx_emu

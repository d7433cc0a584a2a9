// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "ccfde/common/file_io.h"
#include "ccfde/measure/event_log_sources.h"
#include "ccfde/measure/rtmr.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::measure {
namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

Bytes filled(std::size_t size, std::uint8_t value) {
  return Bytes(size, value);
}

TEST(TdxMeasurementRegisters, ReadsRawRegisters) {
  testing::TempDir dir;
  ASSERT_TRUE(write_file(dir.path() / "mrtd:sha384", filled(48, 0x11)).ok());
  ASSERT_TRUE(write_file(dir.path() / "rtmr2:sha384", filled(48, 0x22)).ok());
  ASSERT_TRUE(write_file(dir.path() / "mrconfigid", filled(48, 0x33)).ok());
  TdxMeasurementRegisters registers(dir.path());
  auto mrtd = registers.read(TdxRegister::kMrtd);
  ASSERT_TRUE(mrtd.ok()) << mrtd.status().to_string();
  EXPECT_EQ(Bytes(mrtd->begin(), mrtd->end()), filled(48, 0x11));
  EXPECT_EQ((*registers.read(TdxRegister::kRtmr2))[47], 0x22);
  EXPECT_EQ((*registers.read(TdxRegister::kMrConfigId))[0], 0x33);
}

TEST(TdxMeasurementRegisters, AbsentAndWrongSizedRegisters) {
  testing::TempDir dir;
  TdxMeasurementRegisters registers(dir.path());
  auto absent = registers.read(TdxRegister::kRtmr3);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(contains(absent.status().message(), (dir.path() / "rtmr3:sha384").string()));
  EXPECT_TRUE(contains(absent.status().message(), "6.16"));

  // A hex dump where raw bytes are expected (96 characters) is not a register value.
  ASSERT_TRUE(write_file(dir.path() / "rtmr1:sha384", filled(96, '0')).ok());
  EXPECT_EQ(registers.read(TdxRegister::kRtmr1).status().code(), ErrorCode::kMalformed);
  ASSERT_TRUE(write_file(dir.path() / "rtmr0:sha384", filled(47, 0)).ok());
  EXPECT_EQ(registers.read(TdxRegister::kRtmr0).status().code(), ErrorCode::kMalformed);
}

TEST(TdxMeasurementRegisters, ExtendWritesExactly48Bytes) {
  testing::TempDir dir;
  ASSERT_TRUE(write_file(dir.path() / "rtmr3:sha384", {}).ok());
  TdxMeasurementRegisters registers(dir.path());
  const Bytes digest = filled(48, 0xA5);
  ASSERT_TRUE(registers.extend_rtmr(3, digest).ok());
  EXPECT_EQ(*read_file(dir.path() / "rtmr3:sha384"), digest);
}

TEST(TdxMeasurementRegisters, ExtendRefusals) {
  testing::TempDir dir;
  for (const char* name : {"rtmr0:sha384", "rtmr1:sha384", "rtmr2:sha384"}) {
    ASSERT_TRUE(write_file(dir.path() / name, {}).ok());
  }
  TdxMeasurementRegisters registers(dir.path());
  const Bytes digest = filled(48, 0x5A);
  for (unsigned index : {0u, 1u}) {
    auto refused = registers.extend_rtmr(index, digest);
    EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(contains(refused.message(), "firmware"));
  }
  EXPECT_TRUE(read_file(dir.path() / "rtmr0:sha384")->empty());
  ASSERT_TRUE(registers.extend_rtmr(0, digest, RtmrExtendPolicy::kForceAnyRegister).ok());
  EXPECT_EQ(*read_file(dir.path() / "rtmr0:sha384"), digest);

  EXPECT_EQ(registers.extend_rtmr(4, digest).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(registers.extend_rtmr(2, filled(47, 1)).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(registers.extend_rtmr(2, filled(49, 1)).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(read_file(dir.path() / "rtmr2:sha384")->empty());
  EXPECT_EQ(registers.extend_rtmr(3, digest).code(), ErrorCode::kNotFound);
}

TEST(TdxRegisterNames, MatchTheKernel) {
  EXPECT_EQ(tdx_register_file_name(TdxRegister::kMrtd), "mrtd:sha384");
  EXPECT_EQ(tdx_register_file_name(TdxRegister::kRtmr3), "rtmr3:sha384");
  EXPECT_EQ(tdx_register_file_name(TdxRegister::kMrOwnerConfig), "mrownerconfig");
}

TEST(EventLogSources, ReadsTheCcelFromAFakeTree) {
  CCFDE_LOAD_TESTDATA(table, "go-tdx-guest/ccel_table.dat");
  CCFDE_LOAD_TESTDATA(data, "go-tdx-guest/ccel_data.dat");
  testing::TempDir dir;
  const PlatformPaths paths = PlatformPaths::rooted_at(dir.path());
  std::filesystem::create_directories(paths.ccel_data.parent_path());
  ASSERT_TRUE(write_file(paths.ccel_table, table).ok());
  ASSERT_TRUE(write_file(paths.ccel_data, data).ok());
  auto got_table = read_event_log(paths, EventLogKind::kCcelTable);
  ASSERT_TRUE(got_table.ok()) << got_table.status().to_string();
  EXPECT_EQ(*got_table, table);
  EXPECT_EQ(got_table->size(), 56u);
  auto got_data = read_event_log(paths, EventLogKind::kCcelData);
  ASSERT_TRUE(got_data.ok());
  EXPECT_EQ(*got_data, data);
}

TEST(EventLogSources, AbsentLogsAreNotFoundWithThePath) {
  testing::TempDir dir;
  const PlatformPaths paths = PlatformPaths::rooted_at(dir.path());
  for (EventLogKind kind : {EventLogKind::kCcelTable, EventLogKind::kCcelData, EventLogKind::kTpm2,
                            EventLogKind::kImaAscii, EventLogKind::kImaBinary}) {
    auto log = read_event_log(paths, kind);
    ASSERT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), ErrorCode::kNotFound);
    EXPECT_TRUE(contains(log.status().message(), event_log_path(paths, kind).string()));
    EXPECT_TRUE(contains(log.status().message(), event_log_kind_name(kind)));
  }
}

TEST(EventLogSources, ReadsTpmAndImaLists) {
  testing::TempDir dir;
  const PlatformPaths paths = PlatformPaths::rooted_at(dir.path());
  std::filesystem::create_directories(paths.ima_ascii_list.parent_path());
  std::filesystem::create_directories(paths.tpm2_event_log.parent_path());
  ASSERT_TRUE(write_file(paths.tpm2_event_log, filled(10, 3)).ok());
  ASSERT_TRUE(write_file(paths.ima_ascii_list, as_bytes("10 abc ima-ng sha256:00 /x\n")).ok());
  ASSERT_TRUE(write_file(paths.ima_binary_list, filled(5, 4)).ok());
  EXPECT_EQ(*read_event_log(paths, EventLogKind::kTpm2), filled(10, 3));
  EXPECT_EQ(as_chars(*read_event_log(paths, EventLogKind::kImaAscii)),
            "10 abc ima-ng sha256:00 /x\n");
  EXPECT_EQ(*read_event_log(paths, EventLogKind::kImaBinary), filled(5, 4));
}

}  // namespace
}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/ccel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/testing/testdata.h"
#include "dump_text.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;

void expect_edk2_table(const CcelTable& table, std::uint64_t laml, std::uint64_t lasa) {
  EXPECT_EQ(table.signature, "CCEL");
  EXPECT_EQ(table.length, 56u);
  EXPECT_EQ(table.revision, 1);
  EXPECT_EQ(table.oem_id, "INTEL ");
  EXPECT_EQ(table.oem_table_id, "EDK2    ");
  EXPECT_EQ(table.oem_revision, 2u);
  EXPECT_EQ(table.creator_id, "    ");
  EXPECT_EQ(table.creator_revision, 0x01000013u);
  EXPECT_EQ(table.cc_type, kCcTypeTdx);
  EXPECT_EQ(cc_type_name(table.cc_type), "tdx");
  EXPECT_EQ(table.cc_subtype, 0);
  EXPECT_EQ(table.log_area_minimum_length, laml);
  EXPECT_EQ(table.log_area_start_address, lasa);
}

TEST(CcelTableTest, GoTdxGuestTable) {
  CCFDE_LOAD_TESTDATA(bytes, "go-tdx-guest/ccel_table.dat");
  auto table = parse_ccel_table(bytes);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  expect_edk2_table(*table, 0x40000, 0xbedbf000);
  auto json = to_json(*table);
  EXPECT_EQ(json["log_area_minimum_length"], 0x40000);
  EXPECT_EQ(json["cc_type_name"], "tdx");
  EXPECT_NO_THROW((void)json.dump());
}

TEST(CcelTableTest, TrustAuthorityTable) {
  CCFDE_LOAD_TESTDATA(bytes, "trustauthority-client-for-go/CCEL.bin");
  auto table = parse_ccel_table(bytes);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  expect_edk2_table(*table, 0x10000, 0x7d649000);
}

TEST(CcelTableTest, TdxToolsDumpTable) {
  CCFDE_LOAD_TESTDATA(text, "tdx-tools/measure_log_direct_boot.txt");
  auto dump = testing::reassemble_dump(std::string(as_chars(text)));
  ASSERT_EQ(dump.ccel_table.size(), kCcelTableSize);
  auto table = parse_ccel_table(dump.ccel_table);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  EXPECT_EQ(table->checksum, 0x4F);
  expect_edk2_table(*table, 0x10000, 0x7cba7000);
}

// A valid table built in code: the go-tdx-guest values, checksum fixed.
Bytes make_table() {
  Bytes table(kCcelTableSize, 0);
  std::string_view head = "CCEL";
  std::copy(head.begin(), head.end(), table.begin());
  table[4] = 56;
  table[8] = 1;
  std::string_view ids = "INTEL EDK2    ";
  std::copy(ids.begin(), ids.end(), table.begin() + 10);
  table[36] = 2;
  table[42] = 0x04;  // LAML 0x40000
  return table;
}

void fix_checksum(Bytes& table) {
  table[9] = 0;
  unsigned sum = 0;
  for (auto b : table) sum += b;
  table[9] = static_cast<std::uint8_t>(256 - sum % 256);
}

TEST(CcelTableTest, BuiltTableParses) {
  auto bytes = make_table();
  fix_checksum(bytes);
  auto table = parse_ccel_table(bytes);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  EXPECT_EQ(table->log_area_minimum_length, 0x40000u);
}

TEST(CcelTableTest, RejectsTruncated) {
  auto bytes = make_table();
  fix_checksum(bytes);
  for (std::size_t size = 0; size < kCcelTableSize; ++size) {
    auto table = parse_ccel_table(std::span(bytes).first(size));
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.status().code(), ErrorCode::kTruncated) << size;
    EXPECT_THAT(table.status().message(), HasSubstr("CCEL table"));
  }
}

TEST(CcelTableTest, RejectsBadSignature) {
  auto bytes = make_table();
  bytes[0] = 'X';
  fix_checksum(bytes);
  auto table = parse_ccel_table(bytes);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("signature"));
}

TEST(CcelTableTest, RejectsBadChecksum) {
  auto bytes = make_table();
  fix_checksum(bytes);
  bytes[9] = static_cast<std::uint8_t>(bytes[9] + 1);
  auto table = parse_ccel_table(bytes);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("checksum"));
}

TEST(CcelTableTest, RejectsLengthMismatch) {
  auto bytes = make_table();
  bytes.push_back(0);
  fix_checksum(bytes);
  auto table = parse_ccel_table(bytes);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("length at offset 4 is 56"));
}

TEST(CcelTableTest, RejectsUnknownRevisionAndCcType) {
  auto bytes = make_table();
  bytes[8] = 2;
  fix_checksum(bytes);
  auto table = parse_ccel_table(bytes);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), ErrorCode::kUnsupportedVersion);

  bytes = make_table();
  bytes[36] = 3;
  fix_checksum(bytes);
  table = parse_ccel_table(bytes);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(table.status().message(), HasSubstr("CC type at offset 36"));
}

}  // namespace
}  // namespace ccfde::measure

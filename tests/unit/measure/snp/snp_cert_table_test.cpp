// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_cert_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_report.h"
#include "snp_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;

using Guid = std::array<std::uint8_t, 16>;

// GUIDs of docs/reference/MEASUREMENT-FORMATS.md §3.5, written out from their textual form (not
// from the code under test).
Guid guid_from_text(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c != '-') hex.push_back(c);
  }
  Guid guid{};
  const Bytes bytes = *hex_decode(hex);
  std::copy(bytes.begin(), bytes.end(), guid.begin());
  return guid;
}
const Guid kVcekGuid = guid_from_text("63da758d-e664-4564-adc5-f4b93be8accd");
const Guid kVlekGuid = guid_from_text("a8074bc2-a25a-483e-aae6-39c045a0b8a1");
const Guid kAskGuid = guid_from_text("4ab7b379-bbac-4fe4-a02f-05aef327c782");
const Guid kArkGuid = guid_from_text("c0b406a4-a803-4952-9743-3fb6014cd0ae");

struct RawEntry {
  Guid guid;
  std::uint32_t offset;
  std::uint32_t length;
};

// A table of `entries` (followed by an all-zero terminator unless `terminate` is false), padded
// with zeros to `size` bytes.
Bytes build_table(const std::vector<RawEntry>& entries, std::size_t size, bool terminate = true) {
  Bytes out;
  auto put_u32 = [&out](std::uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  };
  for (const RawEntry& entry : entries) {
    out.insert(out.end(), entry.guid.begin(), entry.guid.end());
    put_u32(entry.offset);
    put_u32(entry.length);
  }
  if (terminate) out.insert(out.end(), 24, 0);
  if (out.size() < size) out.resize(size, 0);
  return out;
}

void fill(Bytes& buffer, std::size_t offset, std::size_t length, std::uint8_t value) {
  std::fill_n(buffer.begin() + static_cast<std::ptrdiff_t>(offset), length, value);
}

TEST(SnpCertTable, ParsesTypedEntriesWithTheirBytes) {
  const Guid other = guid_from_text("00112233-4455-6677-8899-aabbccddeeff");
  // 5 entries + terminator = 144 bytes of table.
  Bytes buffer = build_table({{kVcekGuid, 200, 10},
                              {kAskGuid, 210, 20},
                              {kArkGuid, 230, 30},
                              {kVlekGuid, 144, 56},
                              {other, 260, 4}},
                             4096);
  fill(buffer, 200, 10, 0xA1);
  fill(buffer, 210, 20, 0xA2);
  fill(buffer, 230, 30, 0xA3);
  fill(buffer, 144, 56, 0xA4);
  fill(buffer, 260, 4, 0xA5);
  auto table = parse_snp_cert_table(buffer);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  ASSERT_EQ(table->entries.size(), 5u);
  EXPECT_EQ(table->entries[0].type, SnpCertType::kVcek);
  EXPECT_EQ(table->entries[1].type, SnpCertType::kAsk);
  EXPECT_EQ(table->entries[2].type, SnpCertType::kArk);
  EXPECT_EQ(table->entries[3].type, SnpCertType::kVlek);
  EXPECT_EQ(table->entries[4].type, SnpCertType::kOther);
  EXPECT_EQ(table->entries[2].offset, 230u);
  EXPECT_EQ(table->entries[2].length, 30u);
  EXPECT_EQ(table->entries[2].data, Bytes(30, 0xA3));
  EXPECT_EQ(table->entries[3].data, Bytes(56, 0xA4));
  ASSERT_NE(table->find(SnpCertType::kAsk), nullptr);
  EXPECT_EQ(table->find(SnpCertType::kAsk)->data, Bytes(20, 0xA2));
  EXPECT_EQ(table->find(SnpCertType::kExtraPlatformInfo), nullptr);

  const nlohmann::json json = to_json(*table);
  EXPECT_EQ(json["entries"][0]["guid"], "63da758d-e664-4564-adc5-f4b93be8accd");
  EXPECT_EQ(json["entries"][0]["type"], "vcek");
  EXPECT_EQ(json["entries"][4]["type"], "other");
  EXPECT_EQ(json["entries"][0]["data"], "a1a1a1a1a1a1a1a1a1a1");
  EXPECT_EQ(json["entries"][0]["offset"], 200);
  EXPECT_EQ(snp_cert_guid(SnpCertType::kArk), kArkGuid);
}

TEST(SnpCertTable, EmptyTableIsOnlyATerminator) {
  auto table = parse_snp_cert_table(build_table({}, 4096));
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->entries.empty());
}

TEST(SnpCertTable, CarriesARealVcek) {
  CCFDE_LOAD_TESTDATA(vcek, snp_test::kVmVcek);
  Bytes buffer = build_table({{kVcekGuid, 48, static_cast<std::uint32_t>(vcek.size())}}, 4096);
  std::copy(vcek.begin(), vcek.end(), buffer.begin() + 48);
  auto table = parse_snp_cert_table(buffer);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  const SnpCertTableEntry* entry = table->find(SnpCertType::kVcek);
  ASSERT_NE(entry, nullptr);
  auto certificate = parse_der_certificate(entry->data);
  ASSERT_TRUE(certificate.ok()) << certificate.status().to_string();
  EXPECT_EQ(certificate_common_name(certificate->get()), "SEV-VCEK");
}

TEST(SnpCertTable, MissingTerminatorIsTruncated) {
  const Bytes buffer = build_table({{kVcekGuid, 48, 4}}, 0, /*terminate=*/false);
  auto table = parse_snp_cert_table(buffer);
  EXPECT_EQ(table.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(table.status().message(), HasSubstr("terminator"));
  EXPECT_THAT(table.status().message(), HasSubstr("entry 1"));
  EXPECT_EQ(parse_snp_cert_table({}).status().code(), ErrorCode::kTruncated);
  // A terminator cut short.
  Bytes cut = build_table({}, 0);
  cut.pop_back();
  EXPECT_EQ(parse_snp_cert_table(cut).status().code(), ErrorCode::kTruncated);
}

TEST(SnpCertTable, RejectsDataBeyondTheBuffer) {
  auto table = parse_snp_cert_table(build_table({{kVcekGuid, 48, 100}}, 147));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("entry 0"));
  EXPECT_THAT(table.status().message(), HasSubstr("[48, 148) exceeds the 147-byte buffer"));
  // offset + length overflows 32 bits: must not wrap around.
  table = parse_snp_cert_table(build_table({{kVcekGuid, 0xFFFFFFF0u, 0x20}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("exceeds"));
  EXPECT_TRUE(parse_snp_cert_table(build_table({{kVcekGuid, 48, 100}}, 148)).ok());
}

TEST(SnpCertTable, RejectsDataInsideTheTable) {
  auto table = parse_snp_cert_table(build_table({{kVcekGuid, 47, 10}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("points into the 48-byte table"));
}

TEST(SnpCertTable, RejectsOverlappingEntries) {
  auto table = parse_snp_cert_table(
      build_table({{kVcekGuid, 100, 50}, {kAskGuid, 200, 10}, {kArkGuid, 149, 10}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("entry 2"));
  EXPECT_THAT(table.status().message(), HasSubstr("overlaps entry 0"));
  // Adjacent is fine.
  EXPECT_TRUE(
      parse_snp_cert_table(build_table({{kVcekGuid, 100, 50}, {kAskGuid, 150, 10}}, 4096)).ok());
}

TEST(SnpCertTable, RejectsInconsistentEntries) {
  auto table = parse_snp_cert_table(build_table({{Guid{}, 48, 10}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("zero GUID"));

  table = parse_snp_cert_table(build_table({{kVcekGuid, 72, 0}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("length 0"));

  table = parse_snp_cert_table(build_table({{kVcekGuid, 100, 10}, {kVcekGuid, 200, 10}}, 4096));
  EXPECT_EQ(table.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(table.status().message(), HasSubstr("repeats GUID 63da758d"));
}

TEST(SnpCertTable, NeverCrashesOnPrefixes) {
  Bytes buffer = build_table({{kVcekGuid, 72, 30}, {kArkGuid, 102, 30}}, 200);
  for (std::size_t size = 0; size <= buffer.size(); ++size) {
    auto table = parse_snp_cert_table(std::span<const std::uint8_t>(buffer).first(size));
    EXPECT_EQ(table.ok(), size >= 132) << size;
  }
}

TEST(SnpCertTable, NeverCrashesOnRandomTables) {
  std::mt19937 random(356);
  std::uniform_int_distribution<std::uint32_t> small(0, 300);
  std::uniform_int_distribution<int> pick(0, 4);
  const Guid guids[] = {kVcekGuid, kVlekGuid, kAskGuid, kArkGuid, Guid{}};
  for (int round = 0; round < 3000; ++round) {
    std::vector<RawEntry> entries;
    const int count = pick(random);
    for (int i = 0; i < count; ++i) {
      entries.push_back({guids[pick(random)], small(random), small(random)});
    }
    const Bytes buffer = build_table(entries, small(random), /*terminate=*/pick(random) != 0);
    auto table = parse_snp_cert_table(buffer);
    if (table.ok()) {
      for (const auto& entry : table->entries) {
        EXPECT_LE(std::uint64_t{entry.offset} + entry.length, buffer.size());
        EXPECT_EQ(entry.data.size(), entry.length);
      }
    }
  }
}

}  // namespace
}  // namespace ccfde::measure

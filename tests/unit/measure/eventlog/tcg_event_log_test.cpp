// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tcg_event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "ccfde/common/digest.h"
#include "ccfde/testing/testdata.h"
#include "log_builder.h"

namespace ccfde::measure {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

struct CcelCase {
  const char* file;
  std::size_t bytes;
  std::size_t records;
  std::size_t end;
  std::size_t mr[4];  // records for CC MR index 1..4
};

// docs/reference/TEST-VECTORS.md §4.
const CcelCase kCcelCases[] = {
    {"go-tdx-guest/ccel_data.dat", 262144, 43, 18101, {16, 7, 20, 0}},
    {"evidence-api/ccel_data.bin", 65536, 98, 15812, {17, 8, 73, 0}},
    {"trustauthority-client-for-go/CCEL.data.bin", 65536, 19, 2026, {14, 4, 1, 0}},
    {"trustee/deps/eventlog/test_data/CCEL_data_ovmf", 65536, 20, 2120, {14, 4, 2, 0}},
    {"trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud", 11715, 87, 11707, {13, 14, 58, 2}},
};

class CcelLogTest : public ::testing::TestWithParam<CcelCase> {};

TEST_P(CcelLogTest, CountsEndAndPadding) {
  const CcelCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(bytes, c.file);
  ASSERT_EQ(bytes.size(), c.bytes);
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();

  EXPECT_EQ(log->header.register_index, 1u);
  EXPECT_EQ(log->header.event_type, kEvNoAction);
  EXPECT_EQ(log->spec_id.signature, "Spec ID Event03");
  EXPECT_EQ(log->spec_id.uintn_size, 2);
  EXPECT_EQ(log->spec_id.spec_version_major, 2);
  ASSERT_EQ(log->spec_id.algorithms.size(), 1u);
  EXPECT_EQ(log->spec_id.algorithms[0].algorithm_id, kTcgAlgSha384);
  EXPECT_EQ(log->spec_id.algorithms[0].digest_size, 48);
  EXPECT_EQ(log->header.data.size(), 33u);

  EXPECT_EQ(log->events.size(), c.records);
  EXPECT_EQ(log->end, LogEnd::kPadding);
  EXPECT_EQ(log->end_offset, c.end);
  EXPECT_TRUE(std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(c.end), bytes.end(),
                          [](std::uint8_t b) { return b == 0xFF; }));

  std::size_t mr[5] = {};
  std::size_t no_action = 0;
  for (const auto& event : log->events) {
    ASSERT_LE(event.register_index, 4u);
    ++mr[event.register_index];
    if (event.event_type == kEvNoAction) ++no_action;
    ASSERT_EQ(event.digests.size(), 1u);
    EXPECT_EQ(event.digests[0].digest.size(), 48u);
  }
  EXPECT_EQ(no_action, 0u);
  EXPECT_EQ(mr[0], 0u);
  EXPECT_EQ(mr[1], c.mr[0]);
  EXPECT_EQ(mr[2], c.mr[1]);
  EXPECT_EQ(mr[3], c.mr[2]);
  EXPECT_EQ(mr[4], c.mr[3]);
  // Records are contiguous, numbered from 1 after the header.
  std::size_t offset = log->header.size;
  for (std::size_t i = 0; i < log->events.size(); ++i) {
    EXPECT_EQ(log->events[i].index, i + 1);
    EXPECT_EQ(log->events[i].offset, offset);
    offset += log->events[i].size;
  }
  EXPECT_EQ(offset, c.end);

  auto json = to_json(*log, /*cc_log=*/true);
  EXPECT_EQ(json["event_count"], c.records);
  EXPECT_EQ(json["end"], "padding");
  EXPECT_NO_THROW((void)json.dump());
}

INSTANTIATE_TEST_SUITE_P(TestData, CcelLogTest, ::testing::ValuesIn(kCcelCases));

std::string text_of(const TcgEvent& event) {
  if (const auto* text = std::get_if<TextEvent>(&event.decoded)) return text->text;
  return "";
}

TEST(CcelLogContentTest, Cos113EventsDecoded) {
  CCFDE_LOAD_TESTDATA(bytes, "go-tdx-guest/ccel_data.dat");
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  std::map<std::string_view, int> mr1_types;
  std::vector<std::string> driver_config;
  std::vector<std::string> boot;
  std::vector<std::string> authority;
  std::vector<std::string> ipl;
  for (const auto& event : log->events) {
    EXPECT_TRUE(event.decode_error.empty()) << event.index << ": " << event.decode_error;
    if (event.register_index == 1) ++mr1_types[event_type_name(event.event_type)];
    if (const auto* variable = std::get_if<UefiVariableEvent>(&event.decoded)) {
      if (event.event_type == kEvEfiVariableDriverConfig) driver_config.push_back(variable->name);
      if (event.event_type == kEvEfiVariableBoot) boot.push_back(variable->name);
      if (event.event_type == kEvEfiVariableAuthority) authority.push_back(variable->name);
    }
    if (event.event_type == kEvEfiHandoffTables2) {
      const auto* tables = std::get_if<HandoffTablesEvent>(&event.decoded);
      ASSERT_NE(tables, nullptr);
      EXPECT_EQ(tables->description.value_or(""), "TdxTable");
      EXPECT_EQ(event.data.size(), 42u);
    }
    if (event.event_type == kEvEfiPlatformFirmwareBlob2) {
      const auto* blob = std::get_if<FirmwareBlobEvent>(&event.decoded);
      ASSERT_NE(blob, nullptr);
      EXPECT_EQ(blob->description.value_or(""), "Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)");
      EXPECT_EQ(event.data.size(), 58u);
    }
    if (event.event_type == kEvPlatformConfigFlags) {
      EXPECT_EQ(text_of(event), "ACPI DATA");
    }
    if (event.event_type == kEvSeparator) {
      ASSERT_TRUE(std::holds_alternative<SeparatorEvent>(event.decoded));
      auto matches = digest_matches_event_data(event);
      ASSERT_TRUE(matches.ok());
      EXPECT_TRUE(*matches);
    }
    if (event.register_index == 3) {
      EXPECT_EQ(event.event_type, kEvIpl);
      ipl.push_back(text_of(event));
    }
  }
  EXPECT_EQ(mr1_types["EV_EFI_HANDOFF_TABLES2"], 1);
  EXPECT_EQ(mr1_types["EV_EFI_PLATFORM_FIRMWARE_BLOB2"], 1);
  EXPECT_EQ(mr1_types["EV_EFI_VARIABLE_DRIVER_CONFIG"], 5);
  EXPECT_EQ(mr1_types["EV_SEPARATOR"], 1);
  EXPECT_EQ(mr1_types["EV_PLATFORM_CONFIG_FLAGS"], 3);
  EXPECT_EQ(mr1_types["EV_EFI_VARIABLE_BOOT"], 3);
  EXPECT_EQ(mr1_types["EV_EFI_VARIABLE_AUTHORITY"], 2);
  EXPECT_THAT(driver_config, ElementsAre("SecureBoot", "PK", "KEK", "db", "dbx"));
  EXPECT_THAT(boot, UnorderedElementsAre("BootOrder", "Boot0001", "Boot0000"));
  EXPECT_THAT(authority, UnorderedElementsAre("SbatLevel", "MokListTrusted"));
  ASSERT_EQ(ipl.size(), 20u);
  auto has = [&](std::string_view needle) {
    return std::any_of(ipl.begin(), ipl.end(),
                       [&](const std::string& s) { return s.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(has("MokList"));
  EXPECT_TRUE(has("MokListX"));
  EXPECT_TRUE(has("/efi/boot/grub.cfg"));
  EXPECT_TRUE(has("grub_cmd: "));
  EXPECT_TRUE(has("/syslinux/vmlinuz.A"));
  EXPECT_TRUE(has("kernel_cmdline: "));
}

TEST(CcelLogContentTest, AaelRecordsDecoded) {
  CCFDE_LOAD_TESTDATA(bytes, "trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud");
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->events.size(), 87u);
  struct Expected {
    std::size_t offset;
    std::string text;
    const char* digest;
  };
  const Expected expected[] = {
      {11447, "coco.com some-operation some-content",
       "2330183d89750c6a374ac9827d33a33636e7876733544584c8ccc88df0df87eada37e5d71d0773502234c2b5fb"
       "c7448e"},
      {11557, R"(coco.com some-operation {"key": "value", "nested-key": {"sub-key": "value"}})",
       "82b3e7dd09cbe55777a6eeed67614e9e5a25508ec1cd03ecbfbe10c913fa76ed451fbc275babc6a01a8e5c08e8"
       "53419b"},
  };
  for (std::size_t i = 0; i < 2; ++i) {
    const TcgEvent& event = log->events[85 + i];
    SCOPED_TRACE(i);
    EXPECT_EQ(event.offset, expected[i].offset);
    EXPECT_EQ(event.register_index, 4u);
    EXPECT_EQ(event.event_type, kEvEventTag);
    EXPECT_EQ(event_type_name(event.event_type), "EV_EVENT_TAG");
    const auto* tag = std::get_if<TaggedEvent>(&event.decoded);
    ASSERT_NE(tag, nullptr);
    EXPECT_EQ(tag->tagged_event_id, kTaggedEventAael);
    EXPECT_EQ(tag->tagged_data.size(), expected[i].text.size());
    EXPECT_EQ(tag->text.value_or(""), expected[i].text);
    ASSERT_NE(event.digest_for(kTcgAlgSha384), nullptr);
    EXPECT_EQ(hex_encode(*event.digest_for(kTcgAlgSha384)), expected[i].digest);
    auto matches = digest_matches_event_data(event);
    ASSERT_TRUE(matches.ok());
    EXPECT_TRUE(*matches);
    auto json = to_json(event, true);
    EXPECT_EQ(json["register"], "RTMR3");
    EXPECT_EQ(json["decoded"]["tag_name"], "AAEL");
    EXPECT_EQ(json["decoded"]["text"], expected[i].text);
  }
}

// Trustee's expected parse of the OVMF CCEL (docs/reference/TEST-VECTORS.md §4): per event the CC
// MR index, type name, digest, event data, whether the digest covers the data, and the decoded
// strings.
TEST(CcelLogContentTest, MatchesTrusteeExpectedParse) {
  CCFDE_LOAD_TESTDATA(bytes, "trustee/deps/eventlog/test_data/CCEL_data_ovmf");
  CCFDE_LOAD_TESTDATA(json_bytes, "trustee/deps/eventlog/test_data/CCEL_data_ovmf_out.json");
  auto expected = nlohmann::json::parse(as_chars(json_bytes));
  const auto& entries = expected.at("uefi_event_logs");
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->events.size(), entries.size());
  int matching = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& entry = entries[i];
    const TcgEvent& event = log->events[i];
    EXPECT_EQ(event.register_index, entry.at("index").get<std::uint32_t>());
    EXPECT_EQ(event_type_name(event.event_type), entry.at("type_name").get<std::string>());
    ASSERT_EQ(entry.at("digests").size(), 1u);
    EXPECT_EQ(entry.at("digests")[0].at("alg"), "SHA-384");
    EXPECT_EQ(hex_encode(event.digests.at(0).digest),
              entry.at("digests")[0].at("digest").get<std::string>());
    auto data = base64_decode(entry.at("event").get<std::string>());
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(event.data, *data);
    auto matches = digest_matches_event_data(event);
    ASSERT_TRUE(matches.ok());
    EXPECT_EQ(*matches, entry.at("digest_matches_event").get<bool>());
    matching += *matches ? 1 : 0;
    const auto& details = entry.at("details");
    if (details.contains("unicode_name")) {
      const auto* variable = std::get_if<UefiVariableEvent>(&event.decoded);
      ASSERT_NE(variable, nullptr);
      EXPECT_EQ(variable->name, details.at("unicode_name").get<std::string>());
    }
    if (details.contains("string")) {
      std::string text = details.at("string").get<std::string>();
      std::string decoded;
      if (const auto* t = std::get_if<TextEvent>(&event.decoded)) decoded = t->text;
      if (const auto* t = std::get_if<TaggedEvent>(&event.decoded)) decoded = t->text.value_or("");
      if (const auto* t = std::get_if<HandoffTablesEvent>(&event.decoded)) {
        decoded = t->description.value_or("");
      }
      if (const auto* t = std::get_if<FirmwareBlobEvent>(&event.decoded)) {
        decoded = t->description.value_or("");
      }
      EXPECT_EQ(decoded, text);
    }
  }
  EXPECT_EQ(matching, 10);  // 5 driver-config variables, 2 separators, 3 EFI actions
}

TEST(EventTypeTest, Names) {
  EXPECT_EQ(event_type_name(kEvNoAction), "EV_NO_ACTION");
  EXPECT_EQ(event_type_name(kEvEventTag), "EV_EVENT_TAG");
  EXPECT_EQ(event_type_name(kEvIpl), "EV_IPL");
  EXPECT_EQ(event_type_name(0x80000008), "EV_EFI_PLATFORM_FIRMWARE_BLOB");
  EXPECT_EQ(event_type_name(0x800000E0), "EV_EFI_VARIABLE_AUTHORITY");
  EXPECT_EQ(event_type_name(0x800000E2), "EV_EFI_SPDM_FIRMWARE_CONFIG");
  EXPECT_EQ(event_type_name(0x12), "EV_OMIT_BOOT_DEVICE_EVENTS");
  EXPECT_EQ(event_type_name(0x13), "UNKNOWN");
}

TEST(IndexMappingTest, CcMrRtmrPcr) {
  EXPECT_EQ(rtmr_index_from_cc_mr_index(0), std::nullopt);
  EXPECT_EQ(rtmr_index_from_cc_mr_index(1), 0u);
  EXPECT_EQ(rtmr_index_from_cc_mr_index(4), 3u);
  EXPECT_EQ(rtmr_index_from_cc_mr_index(5), std::nullopt);
  EXPECT_EQ(cc_mr_index_from_rtmr_index(2), 3u);
  EXPECT_EQ(cc_mr_index_from_rtmr_index(4), std::nullopt);
  EXPECT_EQ(cc_mr_index_from_pcr(0), 0u);
  EXPECT_EQ(cc_mr_index_from_pcr(1), 1u);
  EXPECT_EQ(cc_mr_index_from_pcr(7), 1u);
  for (std::uint32_t pcr = 2; pcr <= 6; ++pcr) EXPECT_EQ(cc_mr_index_from_pcr(pcr), 2u);
  for (std::uint32_t pcr = 8; pcr <= 15; ++pcr) EXPECT_EQ(cc_mr_index_from_pcr(pcr), 3u);
  EXPECT_EQ(cc_mr_index_from_pcr(16), std::nullopt);
  EXPECT_EQ(cc_mr_register_name(0), "MRTD");
  EXPECT_EQ(cc_mr_register_name(3), "RTMR2");
}

// ---- Logs built in code ----

using testing::event2;
using testing::spec_id_header;

const std::vector<std::pair<std::uint16_t, std::uint16_t>> kSha256And384 = {{kTcgAlgSha256, 32},
                                                                            {kTcgAlgSha384, 48}};

Bytes two_bank_event(std::uint32_t pcr, std::uint32_t type, std::string_view data) {
  return event2(pcr, type, {{kTcgAlgSha256, Bytes(32, 0x11)}, {kTcgAlgSha384, Bytes(48, 0x22)}},
                as_bytes(data));
}

Bytes sample_log() {
  Bytes log = spec_id_header(kSha256And384);
  testing::put_bytes(log, two_bank_event(0, kEvSCrtmVersion, std::string_view("v\0001\0", 4)));
  testing::put_bytes(log, two_bank_event(4, kEvSeparator, std::string_view("\0\0\0\0", 4)));
  testing::put_bytes(log, two_bank_event(5, kEvEfiAction, "Exit Boot Services Invocation"));
  return log;
}

TEST(BuiltLogTest, ParsesAndEndsAtEndOfData) {
  Bytes bytes = sample_log();
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(log->end, LogEnd::kEndOfData);
  EXPECT_EQ(log->end_offset, bytes.size());
  ASSERT_EQ(log->events.size(), 3u);
  EXPECT_EQ(text_of(log->events[0]), "v1");
  EXPECT_EQ(text_of(log->events[2]), "Exit Boot Services Invocation");
  EXPECT_EQ(log->events[1].digests[1].algorithm_id, kTcgAlgSha384);
}

TEST(BuiltLogTest, PaddingOfAnyLength) {
  for (std::size_t pad : {1u, 3u, 4u, 8u, 100u}) {
    Bytes bytes = sample_log();
    std::size_t end = bytes.size();
    bytes.insert(bytes.end(), pad, 0xFF);
    auto log = parse_tcg_event_log(bytes);
    ASSERT_TRUE(log.ok()) << pad << ": " << log.status().to_string();
    EXPECT_EQ(log->end, LogEnd::kPadding);
    EXPECT_EQ(log->end_offset, end);
    EXPECT_EQ(log->events.size(), 3u);
  }
}

TEST(BuiltLogTest, RejectsGarbageAfterPadding) {
  Bytes bytes = sample_log();
  std::size_t end = bytes.size();
  bytes.insert(bytes.end(), 16, 0xFF);
  bytes[end + 10] = 0x00;
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr(fmt::format("offset {}", end + 10)));
}

TEST(BuiltLogTest, NoActionWithAnyIndexAndStartupLocality) {
  Bytes bytes = spec_id_header(kSha256And384);
  Bytes locality;
  testing::put_text(locality, std::string_view("StartupLocality\0", 16));
  locality.push_back(3);
  testing::put_bytes(
      bytes, event2(0, kEvNoAction, {{kTcgAlgSha256, Bytes(32, 0)}, {kTcgAlgSha384, Bytes(48, 0)}},
                    locality));
  testing::put_bytes(bytes, two_bank_event(7, kEvNoAction, "SP800-155 Event3 and more"));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->events.size(), 2u);
  const auto* startup = std::get_if<StartupLocalityEvent>(&log->events[0].decoded);
  ASSERT_NE(startup, nullptr);
  EXPECT_EQ(startup->locality, 3);
  EXPECT_EQ(text_of(log->events[1]), "SP800-155 Event3");
}

TEST(BuiltLogTest, RejectsUnknownAlgorithmInRecord) {
  Bytes bytes = spec_id_header(kSha256And384);
  std::size_t offset = bytes.size();
  testing::put_bytes(
      bytes, event2(0, kEvSeparator, {{kTcgAlgSha256, Bytes(32, 0)}, {0x0099, Bytes(48, 0)}},
                    Bytes(4, 0)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(log.status().message(), HasSubstr("0x0099"));
  EXPECT_THAT(log.status().message(), HasSubstr(fmt::format("record 1 at offset {}", offset)));
}

TEST(BuiltLogTest, RejectsUnknownAlgorithmInHeader) {
  Bytes bytes = spec_id_header({{kTcgAlgSha256, 32}, {0x0042, 32}});
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(log.status().message(), HasSubstr("0x0042"));
}

TEST(BuiltLogTest, RejectsWrongDigestSizeInHeader) {
  Bytes bytes = spec_id_header({{kTcgAlgSha256, 48}});
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("expected digest size 32, found 48"));
}

TEST(BuiltLogTest, RejectsDigestCountInconsistentWithHeader) {
  Bytes bytes = spec_id_header(kSha256And384);
  testing::put_bytes(bytes, event2(0, kEvSeparator, {{kTcgAlgSha256, Bytes(32, 0)}}, Bytes(4, 0)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("digestCount"));
  EXPECT_THAT(log.status().message(), HasSubstr("expected 2"));
  EXPECT_THAT(log.status().message(), HasSubstr("found 1"));
}

TEST(BuiltLogTest, RejectsBankNotDeclaredOrRepeated) {
  Bytes bytes = spec_id_header(kSha256And384);
  testing::put_bytes(
      bytes, event2(0, kEvSeparator, {{kTcgAlgSha256, Bytes(32, 0)}, {kTcgAlgSha1, Bytes(20, 0)}},
                    Bytes(4, 0)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("sha1 is not a bank"));

  bytes = spec_id_header(kSha256And384);
  testing::put_bytes(
      bytes, event2(0, kEvSeparator, {{kTcgAlgSha256, Bytes(32, 0)}, {kTcgAlgSha256, Bytes(32, 0)}},
                    Bytes(4, 0)));
  log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("appears twice"));
}

TEST(BuiltLogTest, RejectsEventSizePastEnd) {
  Bytes bytes = sample_log();
  // The last record's eventSize sits just before its 29 bytes of data.
  std::size_t size_offset = bytes.size() - 29 - 4;
  bytes[size_offset] = 0xFF;
  bytes[size_offset + 1] = 0xFF;
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(log.status().message(), HasSubstr("record 3"));
  EXPECT_THAT(log.status().message(), HasSubstr("event data"));
}

TEST(BuiltLogTest, RejectsNonSpecIdHeader) {
  Bytes bytes = spec_id_header(kSha256And384);
  bytes[32 + 14] = '0';  // "Spec ID Event00"
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(log.status().message(), HasSubstr("Spec ID Event00"));

  bytes = spec_id_header(kSha256And384, 0, /*uintn_size=*/3);
  log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(log.status().message(), HasSubstr("uintnSize"));

  bytes = spec_id_header(kSha256And384, 0, 2, /*spec_major=*/1);
  log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedVersion);
}

TEST(BuiltLogTest, RejectsSpecIdSizeInconsistent) {
  Bytes bytes = spec_id_header(kSha256And384);
  // numberOfAlgorithms (at 32 + 24) claims 3 banks: the table then runs into vendorInfoSize.
  bytes[32 + 24] = 3;
  auto log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(log.status().message(), HasSubstr("Spec ID digestSizes"));
  // Larger eventSize than the content: trailing bytes inside the Spec ID event.
  bytes = spec_id_header(kSha256And384);
  bytes[28] = static_cast<std::uint8_t>(bytes[28] + 2);
  bytes.push_back(0);
  bytes.push_back(0);
  log = parse_tcg_event_log(bytes);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("2 bytes after vendorInfo"));
}

TEST(BuiltLogTest, UndecodableDataIsNotAnError) {
  Bytes bytes = spec_id_header(kSha256And384);
  testing::put_bytes(bytes, two_bank_event(7, kEvEfiVariableDriverConfig, "short"));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_TRUE(std::holds_alternative<std::monostate>(log->events[0].decoded));
  EXPECT_THAT(log->events[0].decode_error, HasSubstr("VariableName GUID"));
  EXPECT_NO_THROW((void)to_json(*log).dump());
}

// Every truncation either fails with kTruncated or, at a record boundary, yields the records
// that fit; it never crashes (run under ASan/UBSan).
void check_truncations(std::span<const std::uint8_t> bytes, std::size_t step) {
  auto full = parse_tcg_event_log(bytes);
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  std::set<std::size_t> boundaries;
  for (const auto& event : full->events) boundaries.insert(event.offset + event.size);
  boundaries.insert(full->header.size);
  for (std::size_t size = 0; size < bytes.size(); size += step) {
    auto log = parse_tcg_event_log(bytes.first(size));
    if (log.ok()) {
      bool at_boundary = boundaries.count(size) > 0 || size >= full->end_offset;
      EXPECT_TRUE(at_boundary) << "accepted a log cut at " << size;
    } else {
      EXPECT_EQ(log.status().code(), ErrorCode::kTruncated)
          << size << ": " << log.status().to_string();
    }
  }
}

TEST(TruncationTest, BuiltLogAtEveryLength) {
  check_truncations(sample_log(), 1);
}

TEST(TruncationTest, CcelLogAtManyLengths) {
  CCFDE_LOAD_TESTDATA(bytes, "trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud");
  check_truncations(bytes, 7);
}

TEST(TruncationTest, TpmLogAtManyLengths) {
  CCFDE_LOAD_TESTDATA(bytes, "go-eventlog/cos-101-amd-sev.bin");
  check_truncations(bytes, 11);
}

// Single-byte corruptions of a real log: any result is fine, as long as nothing crashes.
TEST(CorruptionTest, ByteFlipsNeverCrash) {
  CCFDE_LOAD_TESTDATA(bytes, "go-eventlog/cos-101-amd-sev.bin");
  std::size_t ok = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 61) {
    Bytes copy = bytes;
    copy[i] ^= 0xA5;
    auto log = parse_tcg_event_log(copy);
    if (log.ok()) {
      ++ok;
      if (ok % 16 == 1) (void)to_json(*log).dump();
    }
  }
  EXPECT_GT(ok, 0u);
}

}  // namespace
}  // namespace ccfde::measure

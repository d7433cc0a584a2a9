// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "ccfde/common/digest.h"
#include "ccfde/testing/testdata.h"
#include "dump_text.h"
#include "log_builder.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;

Bytes hex(std::string_view text) {
  auto bytes = hex_decode(text);
  EXPECT_TRUE(bytes.ok()) << text;
  return bytes.ok() ? *bytes : Bytes{};
}

const std::string kZero48(96, '0');

struct RtmrCase {
  const char* file;
  const char* rtmr[4];  // nullptr = zero
};

// docs/reference/TEST-VECTORS.md §4 (replay from 48 zero bytes).
const RtmrCase kRtmrCases[] = {
    {"go-tdx-guest/ccel_data.dat",
     {"3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd"
      "17f6",
      "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b1"
      "22c1",
      "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fb"
      "e7c1",
      nullptr}},
    {"evidence-api/ccel_data.bin",
     {"c15727cac1f57d0e91106da180b3eaba72116661e17ba0553773843a9b072ecfa38cc803dfb55e0f87ec236780ad"
      "b3a6",
      "61e958c6f954ce23031fb3cae87bf4da209d697bc15a4aefcdcc92070f7b2df34720b2bb57de89c9d03c7c9aa113"
      "6569",
      "58bc48d5c486672529f26bc0dffe535856ba1b98c6f156848db7ecd25821d0c02a5139bdf78b7cb49f12ef7a2a16"
      "dd7d",
      nullptr}},
    {"trustauthority-client-for-go/CCEL.data.bin",
     {"8083cd6898cc52a90231cdf9c0532bf9513c40465c6f71e56cbe32ee2c11a9dfc030297ca3ca0f62477d6d1f610d"
      "3fdb",
      "6484f0d72c03521c0434553be34e8db8228b729e799666d2b7754085c77aa9981f5a440df3047194b24f212ff116"
      "0c1e",
      "c3e7ed9d7e909b29732f676d01dc63de869b049362b522a315cb042689670be07344c347cf85d985c7b928d4934e"
      "41e1",
      nullptr}},
    {"trustee/deps/eventlog/test_data/CCEL_data_ovmf",
     {"8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb484404f2ab9cc90ab"
      "e193",
      "775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c16305f1fc210c"
      "13c6",
      "94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8b49c503bbf25"
      "f34a",
      nullptr}},
    {"trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud",
     {"b796e1c11396c198ae88794def4cb8e24fa9b35468287c298087f00d4de7433e4e31a297a4e5a03d4300fa6f3a96"
      "d47c",
      "3b0b906140fcea689c8774ac1eafcf0fef8e22ba81a047fd750ebd7df3235c2704df6106a758e31e5645e9838ff3"
      "7406",
      "35f2801338c1b5fce96518f058c37e0fe9ed247a12dcd5f50d9c18fe4b6c71311bb63fca2640c7915817b6aa412a"
      "8480",
      "5e4ecd49d3c7983d6f9ca36755b5cee0b423d7fa8c5a88aeb0681bd4698772bc37b4463dc5f722efe352a6641725"
      "7dad"}},
};

RegisterValues expected_rtmrs(const char* const (&values)[4]) {
  RegisterValues out;
  for (std::uint32_t i = 0; i < 4; ++i) {
    out[RegisterId::rtmr(i)] = hex(values[i] != nullptr ? values[i] : kZero48);
  }
  return out;
}

class RtmrReplayTest : public ::testing::TestWithParam<RtmrCase> {};

TEST_P(RtmrReplayTest, ReplaysToListedValues) {
  const RtmrCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(bytes, c.file);
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto replay = replay_rtmrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  ASSERT_EQ(replay->registers.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(hex_encode(replay->registers.at(RegisterId::rtmr(i))),
              c.rtmr[i] != nullptr ? c.rtmr[i] : kZero48)
        << "RTMR" << i;
  }
  Status match = check_registers_match(expected_rtmrs(c.rtmr), replay->registers);
  EXPECT_TRUE(match.ok()) << match.to_string();
  EXPECT_NO_THROW((void)to_json(*replay).dump());
}

INSTANTIATE_TEST_SUITE_P(TestData, RtmrReplayTest, ::testing::ValuesIn(kRtmrCases));

// The evidence-api CCEL (parsed) and its RTMR replay together with the IMA log.
struct EvaReplay {
  TcgEventLog log;
  ReplayResult replay;
};

// Parses the evidence-api CCEL and IMA ASCII log and replays both into `out`; a fatal test failure
// when a step fails.
void replay_eva_logs(const Bytes& ccel_bytes, const Bytes& ima_bytes, EvaReplay& out) {
  auto log = parse_tcg_event_log(ccel_bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto ima = parse_ima_ascii(as_chars(ima_bytes));
  ASSERT_TRUE(ima.ok()) << ima.status().to_string();
  auto replay = replay_rtmrs(*log, &*ima);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  out.log = std::move(*log);
  out.replay = std::move(*replay);
}

TEST(RtmrReplayTest, EvidenceApiWithImaMatchesQuoteRtmr2) {
  CCFDE_LOAD_TESTDATA(ccel_bytes, "evidence-api/ccel_data.bin");
  CCFDE_LOAD_TESTDATA(ima_bytes, "evidence-api/ima_log.bin");
  EvaReplay eva;
  ASSERT_NO_FATAL_FAILURE(replay_eva_logs(ccel_bytes, ima_bytes, eva));
  EXPECT_EQ(eva.replay.ima_entries, 1u);
  EXPECT_EQ(eva.replay.extends.at(RegisterId::rtmr(2)), 73u + 1u);
  // EVA quote RTMR0..3 (docs/reference/TEST-VECTORS.md §2.2).
  RegisterValues quote;
  quote[RegisterId::rtmr(0)] =
      hex("c15727cac1f57d0e91106da180b3eaba72116661e17ba0553773843a9b072ecfa38cc803dfb55e0f87ec2367"
          "80adb3a6");
  quote[RegisterId::rtmr(1)] =
      hex("61e958c6f954ce23031fb3cae87bf4da209d697bc15a4aefcdcc92070f7b2df34720b2bb57de89c9d03c7c9a"
          "a1136569");
  quote[RegisterId::rtmr(2)] =
      hex("247eed9f748b228edb65339138eb20ccf78867bc3ec68bb40faffba40ed0f87444a389001e7d1c46a2df5635"
          "3c047cf2");
  quote[RegisterId::rtmr(3)] = Bytes(48, 0);
  EXPECT_TRUE(compare_registers(quote, eva.replay.registers).empty());
  Status match = check_registers_match(quote, eva.replay.registers);
  EXPECT_TRUE(match.ok()) << match.to_string();

  // Without IMA only RTMR2 differs, and the mismatch names it with both values.
  auto firmware_only = replay_rtmrs(eva.log);
  ASSERT_TRUE(firmware_only.ok());
  auto mismatches = compare_registers(quote, firmware_only->registers);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(register_name(mismatches[0].id), "RTMR2");
  EXPECT_EQ(hex_encode(*mismatches[0].actual),
            "58bc48d5c486672529f26bc0dffe535856ba1b98c6f156848db7ecd25821d0c02a5139bdf78b7cb49f12"
            "ef7a2a16dd7d");
}

TEST(RtmrReplayTest, ImaPcr10MapsToRtmr2) {
  CCFDE_LOAD_TESTDATA(ccel_bytes, "evidence-api/ccel_data.bin");
  CCFDE_LOAD_TESTDATA(ima_bytes, "evidence-api/ima_log.bin");
  auto log = parse_tcg_event_log(ccel_bytes);
  ASSERT_TRUE(log.ok());
  auto ima = parse_ima_ascii(as_chars(ima_bytes));
  ASSERT_TRUE(ima.ok());
  ima->entries[0].register_index = 10;
  auto as_pcr = replay_rtmrs(*log, &*ima, ImaRegisterMapping::kAuto);
  ASSERT_TRUE(as_pcr.ok()) << as_pcr.status().to_string();
  EXPECT_EQ(hex_encode(as_pcr->registers.at(RegisterId::rtmr(2))).substr(0, 8), "247eed9f");
  auto strict = replay_rtmrs(*log, &*ima, ImaRegisterMapping::kRtmrIndex);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(strict.status().message(), HasSubstr("register 10"));
}

TEST(RtmrReplayTest, RejectsNonSha384Ima) {
  CCFDE_LOAD_TESTDATA(ccel_bytes, "evidence-api/ccel_data.bin");
  auto log = parse_tcg_event_log(ccel_bytes);
  ASSERT_TRUE(log.ok());
  auto ima = parse_ima_ascii(
      fmt::format("10 {} ima-ng sha1:{} /a\n", std::string(40, 'a'), std::string(40, 'b')));
  ASSERT_TRUE(ima.ok()) << ima.status().to_string();
  auto replay = replay_rtmrs(*log, &*ima);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), ErrorCode::kUnsupportedAlgorithm);
}

TEST(RtmrReplayTest, RejectsBadCcMrIndexAndMissingSha384) {
  using testing::event2;
  Bytes bytes = testing::spec_id_header({{kTcgAlgSha384, 48}}, 1);
  testing::put_bytes(bytes, event2(5, kEvSeparator, {{kTcgAlgSha384, Bytes(48, 0)}}, Bytes(4, 0)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto replay = replay_rtmrs(*log);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(replay.status().message(), HasSubstr("CC MR index 5"));

  bytes = testing::spec_id_header({{kTcgAlgSha256, 32}}, 1);
  log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok());
  replay = replay_rtmrs(*log);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), ErrorCode::kUnsupportedAlgorithm);
}

// The expected side as the CLI builds it: RTMR0..3 taken from a v4 quote (body offsets of
// docs/reference/MEASUREMENT-FORMATS.md §2.2: RTMR0 at absolute offset 376, 48 bytes each).
RegisterValues rtmrs_from_v4_quote(std::span<const std::uint8_t> quote) {
  RegisterValues out;
  for (std::uint32_t i = 0; i < 4; ++i) {
    auto value = quote.subspan(376 + 48 * std::size_t{i}, 48);
    out[RegisterId::rtmr(i)] = Bytes(value.begin(), value.end());
  }
  return out;
}

TEST(QuoteReplayTest, Cos113CcelMatchesQuote) {
  CCFDE_LOAD_TESTDATA(ccel_bytes, "go-tdx-guest/ccel_data.dat");
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  auto log = parse_tcg_event_log(ccel_bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto replay = replay_rtmrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  RegisterValues expected = rtmrs_from_v4_quote(quote);
  EXPECT_EQ(hex_encode(expected.at(RegisterId::rtmr(0))).substr(0, 8), "3fa2f61f");
  Status match = check_registers_match(expected, replay->registers);
  EXPECT_TRUE(match.ok()) << match.to_string();
}

TEST(QuoteReplayTest, EvidenceApiCcelAndImaMatchQuote) {
  CCFDE_LOAD_TESTDATA(ccel_bytes, "evidence-api/ccel_data.bin");
  CCFDE_LOAD_TESTDATA(ima_bytes, "evidence-api/ima_log.bin");
  CCFDE_LOAD_TESTDATA(quote, "evidence-api/quote.bin");
  EvaReplay eva;
  ASSERT_NO_FATAL_FAILURE(replay_eva_logs(ccel_bytes, ima_bytes, eva));
  RegisterValues expected = rtmrs_from_v4_quote(quote);
  EXPECT_EQ(hex_encode(expected.at(RegisterId::rtmr(2))).substr(0, 8), "247eed9f");
  Status match = check_registers_match(expected, eva.replay.registers);
  EXPECT_TRUE(match.ok()) << match.to_string();
  // Without the IMA entry RTMR2 differs, and the error names it with both values.
  auto firmware_only = replay_rtmrs(eva.log);
  ASSERT_TRUE(firmware_only.ok());
  Status mismatch = check_registers_match(expected, firmware_only->registers);
  EXPECT_EQ(mismatch.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(mismatch.message(), HasSubstr("RTMR2 expected 247eed9f"));
}

// ---- tdx-tools text dumps (docs/reference/TEST-VECTORS.md §6) ----

struct DumpCase {
  const char* file;
  std::size_t entries;
  std::size_t mr[3];
  const char* rtmr[4];
};

const DumpCase kDumpCases[] = {
    {"tdx-tools/measure_log_direct_boot.txt",
     19,
     {8, 10, 0},
     {"b416976c5db5780d4c94f302fc3e030bf9e5d8fdca4eb6714cb2093c67858bbe45c805db5979057246309c2e449d"
      "b28d",
      "2939f8c86719ebdcec9ab3c4bc6d8fdf9b545daa806ac9ab078263d140e9b3ca40992ba58eac485f1fc96f7f4555"
      "b9ff",
      nullptr, nullptr}},
    {"tdx-tools/measure_log_grub_boot.txt",
     76,
     {9, 11, 55},
     {"d2808f1d7597c0181a19e9e8457265f30c389e1975eba9e2ee2d1903097c1292dcdfc90a084569f6fe4de75ee947"
      "7a1b",
      "5daaca95fbaa952779e45326d25cae73ba11d716bbaa2409a179e96492df8bd62491937565c9d45528d354816d0b"
      "aedf",
      "9aa430ea97ddf427c6d603e978cb4be360e1c6c42eb293cb4f897063e5527ce79d2ca80c73576649bcc1e32bf250"
      "97c7",
      nullptr}},
};

class DumpReplayTest : public ::testing::TestWithParam<DumpCase> {};

TEST_P(DumpReplayTest, ReassembledLogReplaysToPrintedRtmrs) {
  const DumpCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(text, c.file);
  auto dump = testing::reassemble_dump(std::string(as_chars(text)));
  EXPECT_TRUE(dump.contiguous);
  EXPECT_EQ(dump.log_address, 0x7CBA7000u);
  EXPECT_EQ(dump.blocks, c.entries);
  auto log = parse_tcg_event_log(dump.log);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(log->end, LogEnd::kEndOfData);
  ASSERT_EQ(log->events.size() + 1, c.entries);
  std::size_t mr[5] = {};
  for (const auto& event : log->events) ++mr[std::min<std::uint32_t>(event.register_index, 4)];
  EXPECT_EQ(mr[1], c.mr[0]);
  EXPECT_EQ(mr[2], c.mr[1]);
  EXPECT_EQ(mr[3], c.mr[2]);
  EXPECT_EQ(mr[0] + mr[4], 0u);

  auto replay = replay_rtmrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  Status match = check_registers_match(expected_rtmrs(c.rtmr), replay->registers);
  EXPECT_TRUE(match.ok()) << match.to_string();
  // The dump's own printed registers agree too.
  ASSERT_EQ(dump.rtmrs.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(dump.rtmrs[i], replay->registers.at(RegisterId::rtmr(i))) << "RTMR" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(TestData, DumpReplayTest, ::testing::ValuesIn(kDumpCases));

// ---- TPM2 log (docs/reference/TEST-VECTORS.md §9) ----

struct PcrRow {
  std::vector<std::uint32_t> pcrs;
  const char* sha1;
  const char* sha256;
  const char* sha384;
};

const PcrRow kCos101Pcrs[] = {
    {{0},
     "c032c3b51dbb6f96b047421512fd4b4dfde496f3",
     "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf",
     "46ce251b0b5b3da7917c5eb7a72e6e88f8f830445b149937921b095c1fd628db691963861c1153aba9c7097ff1c74"
     "7f9"},
    {{1},
     "e3e9e1d9deacd95b289bbbd3a1717a57af7d211b",
     "6eb40f5b6bfafcb9914d486ce59404acd24bc13a6a3c45cda3b44c9d7053d638",
     "844d7108d3a3b5de969355e20cb4d6b7ca14d287f0dbb81883ed0d1f6372a61715c69d5c6ad02e881297ae5c06327"
     "3a1"},
    {{2, 3, 6},
     "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
     "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
     "518923b0f955d08da077c96aaba522b9decede61c599cea6c41889cfbea4ae4d50529d96fe4d1afdafb65e7f95bf2"
     "3c4"},
    {{4},
     "1ebe08ea6c45e0dfbd2aad903d2e0d3ab69fd7ad",
     "6d9f1a1d461cf77517e8d4c488c53f338a71c5a8e2b81ab7011c14f72cbc9a80",
     "2255116d3bfce3a07c4fbbc8d26101641153b76cc5fda6d7506ad77c179fb86c85ae7c50bef750b8246280adc7dc0"
     "f44"},
    {{5},
     "1c7ca47e5c09a78a747b0e0f051cc8cad6431400",
     "d1a1ab23a5c3d98fbacff3891bad42d8e9257d61e1f683f42c6c9fa949bf96c5",
     "998c8b21bed34d401d6135adbf9508f202ac6886686652b3aeac2f9a04c98c6ce3255f1f0cd090a6e1710c2f5529b"
     "df3"},
    {{7},
     "6847f752ad1795c279f289e1eecf0040cd53c1d4",
     "2bc6edaa921f953cec0ffb28dad4f87114886603d6a782036502d28e69d97a48",
     "c56a163bc5efa890d2d88dae43bcba7b5a6dde104777817fde63ab09eba05da3d6018abf8620b372d118d55d17c14"
     "7c3"},
    {{8},
     "a243d82bd1fa01ae487b7ba77dd73ebb7a17800a",
     "ebb7c847c4ade99849bcffca236d32331224a530087a7ae4cb9f7db4c2e571b5",
     "4677b70de1e5b5ee91db3e257a379b85db09048dfbebf871b84ff0606dda99e133e1009ce244989627c0601754028"
     "4e4"},
    {{9},
     "fbbb8a8f120369810e7e161504556f0080afadac",
     "b5ad662e5eb9165825ee39ad66e851a67a193e0b87b27858f25ac58afa72ac57",
     "4e69f1ea521b24a53f3b7c17955d19ef2cb9660eb7d56473de08f36c52352e63cd0a5e2de82fb2784c3e8d85eaaef"
     "652"},
    {{14},
     "1ba610b2d80967338649a8f88f45810448814bfc",
     "d0d95459205afae879514db7b85630f5d6b8272ed8c731bf92933dbc9fe99969",
     "633a5b853f6277ef2294f2ca9435144cab242f22195a019a6020710e109dac7c7f27813c7557227d4ee8f39550908"
     "1ec"},
};

TEST(PcrReplayTest, Cos101AmdSevBanks) {
  CCFDE_LOAD_TESTDATA(bytes, "go-eventlog/cos-101-amd-sev.bin");
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(log->header.register_index, 0u);
  ASSERT_EQ(log->spec_id.algorithms.size(), 3u);
  EXPECT_EQ(log->spec_id.algorithms[0].algorithm_id, kTcgAlgSha1);
  EXPECT_EQ(log->spec_id.algorithms[1].algorithm_id, kTcgAlgSha256);
  EXPECT_EQ(log->spec_id.algorithms[2].algorithm_id, kTcgAlgSha384);
  EXPECT_EQ(log->events.size(), 48u);
  EXPECT_EQ(log->end, LogEnd::kEndOfData);
  EXPECT_EQ(log->end_offset, bytes.size());

  auto replay = replay_pcrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  EXPECT_EQ(replay->registers.size(), 3u * 24u);
  RegisterValues expected;
  std::set<std::uint32_t> listed;
  for (const auto& row : kCos101Pcrs) {
    for (std::uint32_t pcr : row.pcrs) {
      listed.insert(pcr);
      expected[RegisterId::pcr(pcr, kTcgAlgSha1)] = hex(row.sha1);
      expected[RegisterId::pcr(pcr, kTcgAlgSha256)] = hex(row.sha256);
      expected[RegisterId::pcr(pcr, kTcgAlgSha384)] = hex(row.sha384);
    }
  }
  for (std::uint32_t pcr = 0; pcr < 24; ++pcr) {
    if (listed.count(pcr) > 0) continue;
    std::uint8_t fill = (pcr >= 17 && pcr <= 22) ? 0xFF : 0x00;
    expected[RegisterId::pcr(pcr, kTcgAlgSha1)] = Bytes(20, fill);
    expected[RegisterId::pcr(pcr, kTcgAlgSha256)] = Bytes(32, fill);
    expected[RegisterId::pcr(pcr, kTcgAlgSha384)] = Bytes(48, fill);
  }
  Status match = check_registers_match(expected, replay->registers);
  EXPECT_TRUE(match.ok()) << match.to_string();
}

TEST(PcrReplayTest, StartupLocalitySetsPcr0) {
  using testing::event2;
  Bytes bytes = testing::spec_id_header({{kTcgAlgSha256, 32}});
  Bytes locality;
  testing::put_text(locality, std::string_view("StartupLocality\0", 16));
  locality.push_back(3);
  testing::put_bytes(bytes, event2(0, kEvNoAction, {{kTcgAlgSha256, Bytes(32, 0)}}, locality));
  Bytes digest_value(32, 0x5A);
  testing::put_bytes(bytes, event2(0, kEvSCrtmVersion, {{kTcgAlgSha256, digest_value}}, Bytes(2)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto replay = replay_pcrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  Bytes initial(32, 0);
  initial.back() = 3;
  auto want = digest(DigestAlgorithm::kSha256, {initial, digest_value});
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(replay->registers.at(RegisterId::pcr(0, kTcgAlgSha256)), *want);
  EXPECT_EQ(replay->extends.at(RegisterId::pcr(0, kTcgAlgSha256)), 1u);
  EXPECT_EQ(replay->registers.at(RegisterId::pcr(17, kTcgAlgSha256)), Bytes(32, 0xFF));
}

TEST(PcrReplayTest, RejectsPcrAbove23) {
  using testing::event2;
  Bytes bytes = testing::spec_id_header({{kTcgAlgSha256, 32}});
  testing::put_bytes(bytes, event2(24, kEvSeparator, {{kTcgAlgSha256, Bytes(32, 0)}}, Bytes(4)));
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok());
  auto replay = replay_pcrs(*log);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(replay.status().message(), HasSubstr("PCR index 24"));
}

// ---- Cross-check with tpm2-tools ----

struct ToolEvent {
  std::uint32_t pcr = 0;
  std::string type;
  std::map<std::string, std::string> digests;  // algorithm -> hex
};

struct ToolOutput {
  std::vector<ToolEvent> events;
  std::map<std::string, std::map<std::uint32_t, std::string>> pcrs;  // bank -> pcr -> hex
};

std::string trim_quotes(std::string value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

// Reads the parts of `tpm2_eventlog` YAML this test compares (tpm2-tools 5.x layout).
ToolOutput parse_tool_yaml(const std::string& yaml) {
  ToolOutput out;
  std::istringstream lines(yaml);
  std::string line;
  bool in_pcrs = false;
  std::string bank;
  std::string algorithm;
  while (std::getline(lines, line)) {
    auto value_after = [&](std::string_view prefix) { return line.substr(prefix.size()); };
    if (line == "pcrs:") {
      in_pcrs = true;
      continue;
    }
    if (in_pcrs) {
      if (line.rfind("    ", 0) == 0) {
        auto colon = line.find(':');
        std::uint32_t pcr = static_cast<std::uint32_t>(std::stoul(line.substr(4, colon - 4)));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find("0x") + 2);
        out.pcrs[bank][pcr] = value;
      } else if (line.rfind("  ", 0) == 0 && line.back() == ':') {
        bank = line.substr(2, line.size() - 3);
      }
      continue;
    }
    if (line.rfind("- EventNum: ", 0) == 0) {
      out.events.emplace_back();
    } else if (out.events.empty()) {
      continue;
    } else if (line.rfind("  PCRIndex: ", 0) == 0) {
      out.events.back().pcr = static_cast<std::uint32_t>(std::stoul(value_after("  PCRIndex: ")));
    } else if (line.rfind("  EventType: ", 0) == 0) {
      out.events.back().type = value_after("  EventType: ");
    } else if (line.rfind("  - AlgorithmId: ", 0) == 0) {
      algorithm = value_after("  - AlgorithmId: ");
    } else if (line.rfind("    Digest: ", 0) == 0) {
      out.events.back().digests[algorithm] = trim_quotes(value_after("    Digest: "));
    } else if (line.rfind("  Digest: ", 0) == 0) {
      out.events.back().digests["sha1"] = trim_quotes(value_after("  Digest: "));
    }
  }
  return out;
}

std::optional<std::string> run_tool(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  return output;
}

TEST(Tpm2ToolsCrossCheck, EventsAndPcrsAgreeWithTpm2Eventlog) {
  const std::filesystem::path tool = "/usr/bin/tpm2_eventlog";
  if (!std::filesystem::exists(tool)) {
    GTEST_SKIP() << "tpm2_eventlog (Debian package tpm2-tools) is not installed at " << tool;
  }
  CCFDE_LOAD_TESTDATA(bytes, "go-eventlog/cos-101-amd-sev.bin");
  auto yaml = run_tool(tool.string() + " '" +
                       ::ccfde::testing::testdata_path("go-eventlog/cos-101-amd-sev.bin").string() +
                       "' 2>/dev/null");
  ASSERT_TRUE(yaml.has_value()) << "tpm2_eventlog failed";
  ToolOutput tool_output = parse_tool_yaml(*yaml);

  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(tool_output.events.size(), log->events.size() + 1);  // the tool lists the header
  EXPECT_EQ(tool_output.events[0].type, "EV_NO_ACTION");
  EXPECT_EQ(tool_output.events[0].digests["sha1"], hex_encode(log->header.digests[0].digest));
  for (std::size_t i = 0; i < log->events.size(); ++i) {
    SCOPED_TRACE(i + 1);
    const ToolEvent& expected = tool_output.events[i + 1];
    const TcgEvent& event = log->events[i];
    EXPECT_EQ(event.register_index, expected.pcr);
    EXPECT_EQ(event_type_name(event.event_type), expected.type);
    ASSERT_EQ(event.digests.size(), expected.digests.size());
    for (const auto& entry : event.digests) {
      auto name = std::string(tcg_algorithm_name(entry.algorithm_id).value_or("?"));
      ASSERT_EQ(expected.digests.count(name), 1u) << name;
      EXPECT_EQ(hex_encode(entry.digest), expected.digests.at(name)) << name;
    }
  }

  auto replay = replay_pcrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  ASSERT_EQ(tool_output.pcrs.size(), 3u);
  std::size_t compared = 0;
  for (const auto& [bank_name, values] : tool_output.pcrs) {
    std::uint16_t bank = bank_name == "sha1"     ? kTcgAlgSha1
                         : bank_name == "sha256" ? kTcgAlgSha256
                                                 : kTcgAlgSha384;
    ASSERT_EQ(tcg_algorithm_name(bank).value_or(""), bank_name);
    // The tool prints exactly the PCRs that were extended.
    std::size_t extended = 0;
    for (const auto& [id, count] : replay->extends) extended += (id.bank == bank && count > 0);
    EXPECT_EQ(values.size(), extended) << bank_name;
    for (const auto& [pcr, value] : values) {
      EXPECT_EQ(hex_encode(replay->registers.at(RegisterId::pcr(pcr, bank))), value)
          << bank_name << " PCR" << pcr;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3u * 11u);
}

// ---- compare_registers ----

TEST(CompareRegistersTest, NamesEveryMismatch) {
  RegisterValues expected;
  RegisterValues replayed;
  for (std::uint32_t i = 0; i < 4; ++i) {
    expected[RegisterId::rtmr(i)] = Bytes(48, static_cast<std::uint8_t>(i));
    replayed[RegisterId::rtmr(i)] = Bytes(48, static_cast<std::uint8_t>(i));
  }
  replayed[RegisterId::rtmr(1)][0] = 0xAA;
  replayed[RegisterId::rtmr(3)][47] = 0xBB;
  expected[RegisterId::pcr(7, kTcgAlgSha256)] = Bytes(32, 7);

  auto mismatches = compare_registers(expected, replayed);
  ASSERT_EQ(mismatches.size(), 3u);
  EXPECT_EQ(register_name(mismatches[0].id), "RTMR1");
  EXPECT_EQ(register_name(mismatches[1].id), "RTMR3");
  EXPECT_EQ(register_name(mismatches[2].id), "PCR7/sha256");
  EXPECT_EQ(mismatches[0].expected, Bytes(48, 1));
  EXPECT_EQ((*mismatches[0].actual)[0], 0xAA);
  EXPECT_FALSE(mismatches[2].actual.has_value());

  Status status = check_registers_match(expected, replayed);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(status.message(), HasSubstr("3 of 5 registers differ"));
  EXPECT_THAT(status.message(),
              HasSubstr("RTMR1 expected " + hex_encode(Bytes(48, 1)) + " replayed aa0101"));
  EXPECT_THAT(status.message(), HasSubstr("RTMR3 expected " + hex_encode(Bytes(48, 3))));
  EXPECT_THAT(status.message(), HasSubstr("PCR7/sha256 expected"));
  EXPECT_THAT(status.message(), HasSubstr("(absent)"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("RTMR0")));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("RTMR2")));

  auto json = to_json(mismatches);
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[2]["register"], "PCR7/sha256");
  EXPECT_TRUE(json[2]["actual"].is_null());

  EXPECT_TRUE(check_registers_match(replayed, replayed).ok());
  EXPECT_TRUE(compare_registers({}, replayed).empty());
}

}  // namespace
}  // namespace ccfde::measure

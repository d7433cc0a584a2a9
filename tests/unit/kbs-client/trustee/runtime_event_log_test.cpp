// SPDX-License-Identifier: Apache-2.0
// The runtime event log (AAEL) appended to the TDX cc_eventlog after the trimmed CCEL and before
// the 8 x 0xFF terminator, as guest-components sends it (docs/reference/TRUSTEE-KBS-PROTOCOL.md
// §3.9, §3.10).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/testing/sample_evidence.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::uint32_t kEvEventTag = 0x00000006;
constexpr std::uint32_t kAaelTaggedEventId = 0x4141454C;
constexpr std::uint16_t kSha384AlgorithmId = 0x000C;

void put_u32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// One AAEL record: TCG_PCR_EVENT2 on CC MR index 4 (RTMR3), EV_EVENT_TAG, one SHA-384 digest of
// the event data {u32le 0x4141454C, u32le size, text}.
Bytes aael_record(std::string_view text) {
  Bytes data;
  put_u32(data, kAaelTaggedEventId);
  put_u32(data, static_cast<std::uint32_t>(text.size()));
  data.insert(data.end(), text.begin(), text.end());
  auto hash = digest(DigestAlgorithm::kSha384, data);
  EXPECT_TRUE(hash.ok());
  Bytes record;
  put_u32(record, 4);
  put_u32(record, kEvEventTag);
  put_u32(record, 1);
  record.push_back(static_cast<std::uint8_t>(kSha384AlgorithmId & 0xFF));
  record.push_back(static_cast<std::uint8_t>(kSha384AlgorithmId >> 8));
  record.insert(record.end(), hash->begin(), hash->end());
  put_u32(record, static_cast<std::uint32_t>(data.size()));
  record.insert(record.end(), data.begin(), data.end());
  return record;
}

Bytes sample_ccel(std::size_t padding = 4096) {
  return testing::build_sample_event_log(testing::default_sample_events(), padding);
}

Bytes decode_b64(const json& value) {
  auto bytes = base64_decode(value.get<std::string>());
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : Bytes{};
}

Bytes fake_quote() {
  return Bytes(measure::kEvidenceMinTdxQuoteSize, 0x5A);
}

TEST(RuntimeEventLog, RecordsFollowTheTrimmedCcelAndPrecedeTheTerminator) {
  const Bytes ccel = sample_ccel();
  auto trimmed = trim_ccel(ccel);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().to_string();
  const std::size_t firmware_size = trimmed->size() - kCcelTerminatorSize;

  Bytes aael = aael_record("cc-fde unlock luks-0f2c");
  const Bytes second = aael_record(R"(cc-fde unlock {"uuid": "x"})");
  aael.insert(aael.end(), second.begin(), second.end());

  auto log = build_cc_eventlog(ccel, aael);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->size(), firmware_size + aael.size() + kCcelTerminatorSize);
  EXPECT_TRUE(std::equal(trimmed->begin(), trimmed->begin() + static_cast<long>(firmware_size),
                         log->begin()));
  EXPECT_TRUE(
      std::equal(aael.begin(), aael.end(), log->begin() + static_cast<long>(firmware_size)));
  EXPECT_EQ(Bytes(log->end() - 8, log->end()), Bytes(8, 0xFF));

  // The broker's view: the firmware events, then the two RTMR3 tags whose digests cover their data.
  auto parsed = measure::parse_tcg_event_log(*log);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  const std::size_t firmware_events = testing::default_sample_events().size();
  ASSERT_EQ(parsed->events.size(), firmware_events + 2);
  for (std::size_t i = firmware_events; i < parsed->events.size(); ++i) {
    EXPECT_EQ(parsed->events[i].register_index, 4u);
    EXPECT_EQ(parsed->events[i].event_type, kEvEventTag);
    auto matches = measure::digest_matches_event_data(parsed->events[i]);
    ASSERT_TRUE(matches.ok());
    EXPECT_TRUE(*matches);
  }
  // Sending it again is a fixed point of trim_ccel, like guest-components' own logs.
  auto again = trim_ccel(*log);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *log);
}

TEST(RuntimeEventLog, EmptyRuntimeLogIsTheTrimmedCcel) {
  const Bytes ccel = sample_ccel();
  auto log = build_cc_eventlog(ccel);
  auto trimmed = trim_ccel(ccel);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*log, *trimmed);
}

TEST(RuntimeEventLog, BadRuntimeRecordsAreRefusedWithContext) {
  const Bytes ccel = sample_ccel();
  Bytes cut = aael_record("cc-fde unlock");
  cut.resize(cut.size() - 3);
  auto truncated = build_cc_eventlog(ccel, cut);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr("runtime event log"));

  Bytes padded = aael_record("cc-fde unlock");
  padded.insert(padded.end(), 16, 0xFF);
  auto fill = build_cc_eventlog(ccel, padded);
  ASSERT_FALSE(fill.ok());
  EXPECT_EQ(fill.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(fill.status().message(), HasSubstr("runtime event log: 16 of its"));
}

TEST(RuntimeEventLog, TdxEvidenceCarriesItAndNoCcelMeansNoLog) {
  const Bytes ccel = sample_ccel();
  const Bytes aael = aael_record("cc-fde unlock");
  auto evidence = build_tdx_evidence(fake_quote(), std::span<const std::uint8_t>(ccel), aael);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  auto expected = build_cc_eventlog(ccel, aael);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(decode_b64((*evidence)["cc_eventlog"]), *expected);

  auto without_ccel = build_tdx_evidence(fake_quote(), std::nullopt, aael);
  ASSERT_TRUE(without_ccel.ok());
  EXPECT_TRUE((*without_ccel)["cc_eventlog"].is_null());
}

class FakeTdxSource final : public measure::EvidenceSource {
 public:
  std::string name() const override { return "fake-tdx"; }
  Result<measure::Evidence> get_evidence(const measure::ReportData&) override {
    measure::Evidence evidence;
    evidence.tee = measure::TeeKind::kTdx;
    evidence.primary = fake_quote();
    return evidence;
  }
};

TEST(RuntimeEventLog, ProviderReadsTheLogAtEveryEvidence) {
  const Bytes ccel = sample_ccel();
  std::optional<Bytes> runtime;
  auto provider = make_evidence_provider(
      measure::TeeKind::kTdx, std::make_unique<FakeTdxSource>(),
      [&]() -> Result<std::optional<Bytes>> { return std::optional<Bytes>(ccel); },
      [&]() -> Result<std::optional<Bytes>> { return runtime; });
  ASSERT_TRUE(provider.ok()) << provider.status().to_string();
  const Bytes digest(48, 7);
  auto before = (*provider)->primary_evidence(digest);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  auto trimmed = trim_ccel(ccel);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(decode_b64((*before)["cc_eventlog"]), *trimmed);

  runtime = aael_record("cc-fde unlock");
  auto after = (*provider)->primary_evidence(digest);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  auto expected = build_cc_eventlog(ccel, *runtime);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(decode_b64((*after)["cc_eventlog"]), *expected);
}

TEST(RuntimeEventLog, TheLogIsGuestComponentsOneBelowThePlatformRoot) {
  EXPECT_EQ(measure::PlatformPaths{}.runtime_event_log, "/run/attestation-agent/eventlog");
  EXPECT_EQ(measure::PlatformPaths::rooted_at("/guest").runtime_event_log,
            "/guest/run/attestation-agent/eventlog");
  EXPECT_TRUE(PlatformEvidenceOptions{}.send_event_log);
}

}  // namespace
}  // namespace ccfde::kbs_client

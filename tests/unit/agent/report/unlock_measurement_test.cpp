// The unlock measurement: AAEL record layout, append + extend against a fake measurements dir,
// and a round trip of the written log through the measurement core's parser and replay.
#include "ccfde/agent/unlock_measurement.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <iterator>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/replay.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using measure::aael_event_data;
using measure::make_aael_record;

namespace fs = std::filesystem;

const UnlockedVolume kVolume{.volume_uuid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                             .profile = "default",
                             .resource = "default/fde/root",
                             .token = 2};

Bytes sha384(std::initializer_list<std::span<const std::uint8_t>> parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_NE(ctx, nullptr);
  EXPECT_EQ(EVP_DigestInit_ex(ctx, EVP_sha384(), nullptr), 1);
  for (auto part : parts) EXPECT_EQ(EVP_DigestUpdate(ctx, part.data(), part.size()), 1);
  Bytes out(48);
  unsigned size = 0;
  EXPECT_EQ(EVP_DigestFinal_ex(ctx, out.data(), &size), 1);
  EVP_MD_CTX_free(ctx);
  EXPECT_EQ(size, 48u);
  return out;
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

// A legacy TCG_PCR_EVENT header with a Spec ID Event03 declaring one SHA-384 bank: what the
// attester puts in front of a runtime log when there is no CCEL.
Bytes spec_id_header() {
  Bytes spec;
  const char signature[16] = "Spec ID Event03";
  spec.insert(spec.end(), signature, signature + 16);
  put_u32(spec, 0);                              // platformClass
  spec.insert(spec.end(), {0, 2, 0, 2});         // minor, major, errata, uintnSize (UINT64)
  put_u32(spec, 1);                              // numberOfAlgorithms
  spec.insert(spec.end(), {0x0C, 0x00, 48, 0});  // SHA-384, 48 bytes
  spec.push_back(0);                             // vendorInfoSize
  Bytes header;
  put_u32(header, 0);  // pcrIndex
  put_u32(header, 3);  // EV_NO_ACTION
  header.insert(header.end(), 20, 0);
  put_u32(header, static_cast<std::uint32_t>(spec.size()));
  header.insert(header.end(), spec.begin(), spec.end());
  return header;
}

Bytes file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

class FakePlatform : public ::testing::Test {
 protected:
  void SetUp() override {
    measurements_ = root_.path() / "sys/devices/virtual/misc/tdx_guest/measurements";
    fs::create_directories(measurements_);
    std::ofstream(measurements_ / "rtmr3:sha384", std::ios::binary)
        .write(std::string(48, '\0').data(), 48);
  }
  fs::path log_path() const { return root_.path() / "run/attestation-agent/eventlog"; }
  fs::path rtmr3_path() const { return measurements_ / "rtmr3:sha384"; }

  testing::TempDir root_;
  fs::path measurements_;
};

TEST(UnlockEvent, TextIsDomainOperationAndCompactSortedJson) {
  auto text = unlock_event_text(kVolume);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_EQ(*text,
            "cc-fde unlock {\"profile\":\"default\",\"resource\":\"default/fde/root\",\"token\":2,"
            "\"uuid\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\"}");
}

TEST(UnlockEvent, ControlCharactersAreRefused) {
  UnlockedVolume bad = kVolume;
  bad.resource = "a\nb";
  auto text = unlock_event_text(bad);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(text.status().message().find("resource holds the control character 0x0a at offset 1"),
            std::string::npos)
      << text.status().message();
}

TEST(UnlockEvent, RecordLayoutMatchesTheAaelFormat) {
  const std::string text = "cc-fde unlock {}";
  const Bytes data = aael_event_data(text);
  ASSERT_EQ(data.size(), 8 + text.size());
  EXPECT_EQ(hex_encode(std::span(data).first(8)), "4c45414110000000");
  auto record = make_aael_record(text);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->digest, sha384({data}));
  const Bytes& bytes = record->bytes;
  ASSERT_EQ(bytes.size(), 4 + 4 + 4 + 2 + 48 + 4 + data.size());
  EXPECT_EQ(hex_encode(std::span(bytes).first(14)), "0400000006000000010000000c00");
  EXPECT_EQ(Bytes(bytes.begin() + 14, bytes.begin() + 62), record->digest);
  EXPECT_EQ(hex_encode(std::span(bytes).subspan(62, 4)), "18000000");
  EXPECT_EQ(Bytes(bytes.begin() + 66, bytes.end()), data);
}

TEST_F(FakePlatform, MeasureAppendsTheRecordAndExtendsRtmr3WithItsDigest) {
  auto first = measure_unlock(kVolume, {.root = root_.path()});
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, MeasureResult::kMeasured);
  auto text = unlock_event_text(kVolume);
  ASSERT_TRUE(text.ok());
  auto record = make_aael_record(*text);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(file_bytes(log_path()), record->bytes);
  // The fake register file received exactly the 48 digest bytes, as the kernel would.
  EXPECT_EQ(file_bytes(rtmr3_path()), record->digest);
  EXPECT_EQ(fs::status(log_path()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);
}

TEST_F(FakePlatform, TheWrittenLogParsesAndReplaysToTheExtendedRtmr3) {
  UnlockedVolume second = kVolume;
  second.volume_uuid = "11111111-2222-3333-4444-555555555555";
  second.token = 0;
  ASSERT_TRUE(measure_unlock(kVolume, {.root = root_.path()}).ok());
  ASSERT_TRUE(measure_unlock(second, {.root = root_.path()}).ok());

  Bytes log = spec_id_header();
  const Bytes appended = file_bytes(log_path());
  log.insert(log.end(), appended.begin(), appended.end());
  auto parsed = measure::parse_tcg_event_log(log);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->events.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& event = parsed->events[i];
    EXPECT_EQ(event.register_index, 4u);
    EXPECT_EQ(event.event_type, measure::kEvEventTag);
    auto matches = measure::digest_matches_event_data(event);
    ASSERT_TRUE(matches.ok());
    EXPECT_TRUE(*matches);
    const auto* tagged = std::get_if<measure::TaggedEvent>(&event.decoded);
    ASSERT_NE(tagged, nullptr) << event.decode_error;
    EXPECT_EQ(tagged->tagged_event_id, measure::kTaggedEventAael);
    ASSERT_TRUE(tagged->text.has_value());
    EXPECT_EQ(*tagged->text, *unlock_event_text(i == 0 ? kVolume : second));
  }

  // Independently: RTMR3 = SHA-384(SHA-384(0^48 || d1) || d2), d = SHA-384(event data).
  const Bytes d1 = sha384({aael_event_data(*unlock_event_text(kVolume))});
  const Bytes d2 = sha384({aael_event_data(*unlock_event_text(second))});
  const Bytes zeros(48, 0);
  const Bytes expected = sha384({sha384({zeros, d1}), d2});

  auto replayed = measure::replay_rtmrs(*parsed);
  ASSERT_TRUE(replayed.ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->registers.at(measure::RegisterId::rtmr(3)), expected);
  EXPECT_EQ(replayed->registers.at(measure::RegisterId::rtmr(0)), zeros);
  // The last extend written to the fake register is the second digest.
  EXPECT_EQ(file_bytes(rtmr3_path()), d2);
}

TEST_F(FakePlatform, AFailedExtendTruncatesTheLogBack) {
  fs::create_directories(log_path().parent_path());
  const std::string previous = "previous records";
  ASSERT_TRUE(write_file(log_path(), as_bytes(previous)).ok());
  // A directory where the register file should be: exists, but the write fails like a kernel
  // refusal would.
  fs::remove(rtmr3_path());
  fs::create_directory(rtmr3_path());
  auto result = measure_unlock(kVolume, {.root = root_.path()});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kIoError);
  EXPECT_NE(result.status().message().find("RTMR3"), std::string::npos)
      << result.status().message();
  EXPECT_EQ(file_bytes(log_path()), Bytes(previous.begin(), previous.end()));
}

TEST_F(FakePlatform, WithoutRtmr3NothingIsTouched) {
  fs::remove(rtmr3_path());
  auto result = measure_unlock(kVolume, {.root = root_.path()});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(*result, MeasureResult::kUnsupported);
  EXPECT_FALSE(fs::exists(root_.path() / "run"));
}

TEST_F(FakePlatform, AnUnwritableLogLocationIsAnIoErrorAndRtmr3IsUntouched) {
  // A regular file where the directory should be.
  std::ofstream(root_.path() / "run").put('x');
  auto result = measure_unlock(kVolume, {.root = root_.path()});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kIoError);
  EXPECT_EQ(file_bytes(rtmr3_path()), Bytes(48, 0));
}

}  // namespace
}  // namespace ccfde::agent

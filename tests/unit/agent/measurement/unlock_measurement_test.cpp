// SPDX-License-Identifier: Apache-2.0
// The unlock and phase-end measurements: the volume binding, AAEL record layout, append + extend
// against a fake measurements dir, a round trip of the written log through the measurement core's
// parser and replay, and the once-per-boot phase-end marker.
#include "ccfde/agent/unlock_measurement.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

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

// A 64-byte volume key (AES-256-XTS size): 00 01 02 ... 3f.
Bytes test_volume_key() {
  Bytes key(64);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  return key;
}

// The binding of test_volume_key() to the UUID of kVolume, computed independently with Python's
// hmac/hashlib (HKDF written out per RFC 5869: zero salt of 32 bytes, one expand block):
//   prk = hmac.new(b"\0" * 32, bytes(range(64)), hashlib.sha256).digest()
//   okm = hmac.new(prk, b"cc-fde unlock record v1" + b"\x01", hashlib.sha256).digest()
//   hmac.new(okm, b"cc-fde:volume:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", hashlib.sha256)
constexpr std::string_view kExpectedBindingHex =
    "44d74e024e05dc16c1611db9a7f9a8bce9f118a3f2753ca1bd14ca929d157003";

// Used before main(): no gtest assertion here (a bad constant shows up as a refused binding).
Bytes hex(std::string_view text) {
  auto bytes = hex_decode(text);
  return bytes.ok() ? *bytes : Bytes{};
}

const UnlockedVolume kVolume{.volume_uuid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                             .profile = "default",
                             .resource = "default/fde/root",
                             .token = 2,
                             .binding = hex(kExpectedBindingHex)};

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
    reset_rtmr3();
    fs::create_directories(run_dir());
  }
  void reset_rtmr3() const {
    std::ofstream(rtmr3_path(), std::ios::binary | std::ios::trunc)
        .write(std::string(48, '\0').data(), 48);
  }
  fs::path log_path() const { return root_.path() / "run/attestation-agent/eventlog"; }
  fs::path rtmr3_path() const { return measurements_ / "rtmr3:sha384"; }
  // The marker's /run, kept apart from the root's run/ (which holds the event log).
  fs::path run_dir() const { return root_.path() / "tmprun"; }
  fs::path marker() const { return run_dir() / "cc-fde/phase-ended"; }
  UnlockMeasurementOptions options() const { return {.root = root_.path(), .run_dir = run_dir()}; }

  testing::TempDir root_;
  fs::path measurements_;
};

TEST(VolumeBinding, KnownAnswer) {
  auto binding = volume_binding(test_volume_key(), kVolume.volume_uuid);
  ASSERT_TRUE(binding.ok()) << binding.status().to_string();
  EXPECT_EQ(hex_encode(*binding), kExpectedBindingHex);
}

TEST(VolumeBinding, DiffersWhenTheKeyOrTheUuidDiffers) {
  const Bytes key = test_volume_key();
  Bytes other_key = key;
  other_key[63] ^= 0x01;
  const std::string uuid = kVolume.volume_uuid;
  const std::string other_uuid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f1";
  auto base = volume_binding(key, uuid);
  auto again = volume_binding(key, uuid);
  auto by_key = volume_binding(other_key, uuid);
  auto by_uuid = volume_binding(key, other_uuid);
  ASSERT_TRUE(base.ok() && again.ok() && by_key.ok() && by_uuid.ok());
  EXPECT_EQ(base->size(), kVolumeBindingSize);
  EXPECT_EQ(*base, *again);
  EXPECT_NE(*base, *by_key);
  EXPECT_NE(*base, *by_uuid);
  EXPECT_NE(*by_key, *by_uuid);
  // Not a plain HMAC keyed with the volume key (the key is derived first).
  Bytes plain(32);
  std::size_t size = 0;
  const std::string label = "cc-fde:volume:" + uuid;
  ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                      reinterpret_cast<const unsigned char*>(label.data()), label.size(),
                      plain.data(), plain.size(), &size),
            nullptr);
  EXPECT_NE(*base, plain);
}

TEST(VolumeBinding, AnEmptyKeyIsRefused) {
  auto binding = volume_binding({}, kVolume.volume_uuid);
  ASSERT_FALSE(binding.ok());
  EXPECT_EQ(binding.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(binding.status().message().find("volume key is empty"), std::string::npos);
}

TEST(UnlockEvent, TextIsDomainOperationAndCompactSortedJson) {
  auto text = unlock_event_text(kVolume);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_EQ(*text, "cc-fde unlock {\"binding\":\"" + std::string(kExpectedBindingHex) +
                       "\",\"profile\":\"default\",\"resource\":\"default/fde/root\",\"token\":2,"
                       "\"uuid\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\"}");
}

TEST(UnlockEvent, ARecordWithoutA32ByteBindingIsRefused) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{31}, std::size_t{48}}) {
    UnlockedVolume bad = kVolume;
    bad.binding.assign(size, 0xab);
    auto text = unlock_event_text(bad);
    ASSERT_FALSE(text.ok()) << size;
    EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(text.status().message().find(fmt::format("binding has {} bytes, not 32", size)),
              std::string::npos)
        << text.status().message();
  }
}

TEST(UnlockEvent, InvalidUtf8IsRefusedNamingTheMember) {
  const std::pair<std::string UnlockedVolume::*, std::string> cases[] = {
      {&UnlockedVolume::volume_uuid, "uuid"},
      {&UnlockedVolume::profile, "profile"},
      {&UnlockedVolume::resource, "resource"}};
  for (const auto& [member, name] : cases) {
    for (const std::string& value : {std::string("\xff\xfe"), std::string("ab\xc3"),
                                     std::string("\xed\xa0\x80")}) {  // bad byte, cut, surrogate
      UnlockedVolume bad = kVolume;
      bad.*member = value;
      auto text = unlock_event_text(bad);
      ASSERT_FALSE(text.ok()) << name;
      EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(text.status().message(), "unlock record: " + name + " is not valid UTF-8");
    }
  }
  UnlockedVolume fine = kVolume;
  fine.profile =
      "pr\xc3\xa9"
      "f";  // U+00E9 is fine
  EXPECT_TRUE(unlock_event_text(fine).ok());
}

TEST(UnlockEvent, C1ControlCharactersAreRefused) {
  UnlockedVolume bad = kVolume;
  bad.volume_uuid = "ab\xc2\x9b[2J";  // U+009B, the one-byte CSI
  auto text = unlock_event_text(bad);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(),
            "unlock record: uuid holds the control character U+009B at offset 2");
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
  second.binding = *volume_binding(test_volume_key(), second.volume_uuid);
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

TEST_F(FakePlatform, ARecordThatCannotBeWrittenTouchesNothing) {
  UnlockedVolume bad = kVolume;
  bad.volume_uuid = "\xff";
  auto result = measure_unlock(bad, {.root = root_.path()});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(log_path()));
  EXPECT_EQ(file_bytes(rtmr3_path()), Bytes(48, 0));
}

TEST_F(FakePlatform, AnUnwritableLogLocationIsAnIoErrorAndRtmr3IsUntouched) {
  // A regular file where the directory should be.
  std::ofstream(root_.path() / "run").put('x');
  auto result = measure_unlock(kVolume, {.root = root_.path()});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kIoError);
  EXPECT_EQ(file_bytes(rtmr3_path()), Bytes(48, 0));
}

// ---- the end of the initramfs unlock phase ----

TEST_F(FakePlatform, PhaseEndRecordsTheConstantEventOnceAndLeavesTheMarker) {
  EXPECT_FALSE(phase_ended(options()));
  auto first = measure_phase_end(options());
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, MeasureResult::kMeasured);
  EXPECT_TRUE(phase_ended(options()));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(marker())));
  EXPECT_EQ(phase_end_marker(options()), marker());

  // The record: RTMR3 index 4, EV_EVENT_TAG, SHA-384 of the AAEL data of the constant text.
  const std::string text = "cc-fde phase-end initramfs-unlock";
  ASSERT_EQ(measure::kPhaseEndEventText, text);
  const Bytes data = aael_event_data(text);
  const Bytes digest = sha384({data});
  const Bytes log = file_bytes(log_path());
  ASSERT_EQ(log.size(), 66 + data.size());
  EXPECT_EQ(hex_encode(std::span(log).first(14)), "0400000006000000010000000c00");
  EXPECT_EQ(Bytes(log.begin() + 14, log.begin() + 62), digest);
  EXPECT_EQ(Bytes(log.begin() + 66, log.end()), data);
  EXPECT_EQ(file_bytes(rtmr3_path()), digest);

  // A second call, with RTMR3's file reset to see whether anything is written: nothing is.
  reset_rtmr3();
  auto second = measure_phase_end(options());
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(*second, MeasureResult::kAlreadyRecorded);
  EXPECT_EQ(file_bytes(log_path()), log);
  EXPECT_EQ(file_bytes(rtmr3_path()), Bytes(48, 0));
}

TEST_F(FakePlatform, PhaseEndAfterUnlocksReplaysAndIsRecognised) {
  ASSERT_TRUE(measure_unlock(kVolume, options()).ok());
  ASSERT_TRUE(measure_phase_end(options()).ok());

  Bytes log = spec_id_header();
  const Bytes appended = file_bytes(log_path());
  log.insert(log.end(), appended.begin(), appended.end());
  auto parsed = measure::parse_tcg_event_log(log);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->events.size(), 2u);
  EXPECT_EQ(measure::verified_aael_text(parsed->events[0]), *unlock_event_text(kVolume));
  EXPECT_EQ(measure::verified_aael_text(parsed->events[1]),
            std::string(measure::kPhaseEndEventText));
  const Bytes d1 = sha384({aael_event_data(*unlock_event_text(kVolume))});
  const Bytes d2 = sha384({aael_event_data(measure::kPhaseEndEventText)});
  auto replayed = measure::replay_rtmrs(*parsed);
  ASSERT_TRUE(replayed.ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->registers.at(measure::RegisterId::rtmr(3)),
            sha384({sha384({Bytes(48, 0), d1}), d2}));
}

TEST_F(FakePlatform, PhaseEndWithoutRtmr3IsUnsupportedButWritesTheMarker) {
  fs::remove(rtmr3_path());
  auto result = measure_phase_end(options());
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(*result, MeasureResult::kUnsupported);
  EXPECT_TRUE(phase_ended(options()));
  EXPECT_FALSE(fs::exists(log_path()));
  auto again = measure_phase_end(options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, MeasureResult::kAlreadyRecorded);
}

TEST_F(FakePlatform, AFailedPhaseEndExtendRemovesTheMarkerSoARetryRecordsIt) {
  fs::remove(rtmr3_path());
  fs::create_directory(rtmr3_path());  // exists, but the extend fails like a kernel refusal
  auto failed = measure_phase_end(options());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kIoError);
  EXPECT_FALSE(phase_ended(options()));
  EXPECT_EQ(file_bytes(log_path()), Bytes{});  // truncated back: no record without the extend

  fs::remove(rtmr3_path());
  reset_rtmr3();
  auto retried = measure_phase_end(options());
  ASSERT_TRUE(retried.ok()) << retried.status().to_string();
  EXPECT_EQ(*retried, MeasureResult::kMeasured);
  EXPECT_EQ(file_bytes(rtmr3_path()), sha384({aael_event_data(measure::kPhaseEndEventText)}));
}

TEST_F(FakePlatform, APlantedSymlinkAtTheMarkerIsNotFollowed) {
  fs::create_directories(marker().parent_path());
  const fs::path target = root_.path() / "elsewhere";
  fs::create_symlink(target, marker());
  auto result = measure_phase_end(options());
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(*result, MeasureResult::kAlreadyRecorded);
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(FakePlatform, AMarkerThatCannotBeCreatedIsAnIoErrorAndNothingIsExtended) {
  fs::remove_all(run_dir());
  std::ofstream(run_dir()).put('x');  // a file where the run directory should be
  auto result = measure_phase_end(options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kIoError);
  EXPECT_NE(result.status().message().find(marker().parent_path().string()), std::string::npos)
      << result.status().message();
  EXPECT_FALSE(fs::exists(log_path()));
  EXPECT_EQ(file_bytes(rtmr3_path()), Bytes(48, 0));
}

TEST_F(FakePlatform, Rtmr3ExtensionAvailability) {
  EXPECT_TRUE(rtmr3_extension_available(options()).ok());
  if (::geteuid() != 0) {
    fs::permissions(rtmr3_path(), fs::perms::owner_read);
    const Status read_only = rtmr3_extension_available(options());
    EXPECT_EQ(read_only.code(), ErrorCode::kUnsupported);
    EXPECT_NE(read_only.message().find("is not writable"), std::string::npos);
  }
  fs::remove(rtmr3_path());
  const Status missing = rtmr3_extension_available(options());
  EXPECT_EQ(missing.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(missing.message(),
            rtmr3_path().string() +
                " does not exist: extending RTMR3 needs Linux 6.16 or later with the TDX guest "
                "driver's TSM measurement registers; the Debian 12 kernel lacks it");
}

}  // namespace
}  // namespace ccfde::agent

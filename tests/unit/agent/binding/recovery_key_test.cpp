// SPDX-License-Identifier: Apache-2.0
// The recovery key's text form (systemd's modhex groups) and its "systemd-recovery" token.
#include "ccfde/agent/recovery_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ccfde::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string text_of(const SecretBytes& secret) {
  return std::string(reinterpret_cast<const char*>(secret.data()), secret.size());
}

TEST(RecoveryKeyText, EncodesEachByteAsTwoModhexLettersInEightGroupsOfEight) {
  std::vector<std::uint8_t> key;
  for (int value = 0; value < 256; value += 8) key.push_back(static_cast<std::uint8_t>(value));
  ASSERT_EQ(key.size(), kRecoveryKeyBytes);
  // Worked out by hand from the alphabet "cbdefghijklnrtuv": 0x00 -> "cc", 0x08 -> "cj", ...
  EXPECT_EQ(text_of(format_recovery_key(key)),
            "cccjbcbj-dcdjecej-fcfjgcgj-hchjicij-jcjjkckj-lcljncnj-rcrjtctj-ucujvcvj");
  const std::vector<std::uint8_t> ones(kRecoveryKeyBytes, 0xff);
  EXPECT_EQ(text_of(format_recovery_key(ones)),
            "vvvvvvvv-vvvvvvvv-vvvvvvvv-vvvvvvvv-vvvvvvvv-vvvvvvvv-vvvvvvvv-vvvvvvvv");
  EXPECT_EQ(kRecoveryKeyTextLength, 71u);
}

TEST(RecoveryKeyText, OtherKeySizesGiveNothing) {
  EXPECT_TRUE(format_recovery_key(std::vector<std::uint8_t>(31, 1)).empty());
  EXPECT_TRUE(format_recovery_key(std::vector<std::uint8_t>(33, 1)).empty());
}

TEST(RecoveryKeyText, OnlyTheExactFormIsRecognised) {
  const std::string good =
      "cccjbcbj-dcdjecej-fcfjgcgj-hchjicij-jcjjkckj-lcljncnj-rcrjtctj-ucujvcvj";
  EXPECT_TRUE(is_recovery_key_text(bytes_of(good)));
  std::string upper = good;
  upper[0] = 'C';
  EXPECT_FALSE(is_recovery_key_text(bytes_of(upper)));
  std::string foreign = good;
  foreign[1] = 'a';  // hex, not modhex
  EXPECT_FALSE(is_recovery_key_text(bytes_of(foreign)));
  std::string moved = good;
  std::swap(moved[8], moved[9]);
  EXPECT_FALSE(is_recovery_key_text(bytes_of(moved)));
  EXPECT_FALSE(is_recovery_key_text(bytes_of(good.substr(0, 70))));
  EXPECT_FALSE(is_recovery_key_text(bytes_of(good + "-")));
  std::string undashed;
  for (char c : good) {
    if (c != '-') undashed += c;
  }
  EXPECT_FALSE(is_recovery_key_text(bytes_of(undashed)));
}

TEST(RecoveryKeyText, GeneratedKeysAreWellFormedAndDifferent) {
  std::set<std::string> seen;
  std::set<char> letters;
  for (int i = 0; i < 64; ++i) {
    auto key = generate_recovery_key();
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_TRUE(is_recovery_key_text(key->span())) << text_of(*key);
    const std::string text = text_of(*key);
    seen.insert(text);
    for (char c : text) {
      if (c != '-') letters.insert(c);
    }
  }
  EXPECT_EQ(seen.size(), 64u);
  // 64 keys of 64 letters each: every one of the 16 letters shows up.
  EXPECT_EQ(letters.size(), 16u);
}

TEST(RecoveryToken, ReadsSystemdsOwnTokenAndOurs) {
  const RecoveryToken systemd =
      parse_recovery_token(R"({"type":"systemd-recovery","keyslots":["3"]})");
  EXPECT_THAT(systemd.keyslots, ElementsAre(3));
  EXPECT_EQ(systemd.created, "");
  EXPECT_FALSE(systemd.pending_keyslot.has_value());

  RecoveryToken ours;
  ours.created = "2026-12-07T08:00:00Z";
  ours.pending_keyslot = 4;
  const std::string json = recovery_token_json(ours);
  EXPECT_THAT(json, ::testing::HasSubstr(R"("type":"systemd-recovery")"));
  EXPECT_THAT(json, ::testing::HasSubstr(R"("keyslots":[])"));
  const RecoveryToken back = parse_recovery_token(json);
  EXPECT_THAT(back.keyslots, IsEmpty());
  EXPECT_EQ(back.created, "2026-12-07T08:00:00Z");
  EXPECT_EQ(back.pending_keyslot, 4);

  ours.pending_keyslot.reset();
  ours.keyslots = {5, 2};
  const RecoveryToken complete = parse_recovery_token(recovery_token_json(ours));
  EXPECT_THAT(complete.keyslots, ElementsAre(2, 5));
  EXPECT_FALSE(complete.pending_keyslot.has_value());
}

TEST(RecoveryToken, MembersThatDoNotParseAreLeftEmpty) {
  const RecoveryToken odd = parse_recovery_token(
      R"({"type":"systemd-recovery","keyslots":["x","40","1"],"cc-fde-created":7,)"
      R"("cc-fde-pending-keyslot":"-1"})");
  EXPECT_THAT(odd.keyslots, ElementsAre(1));
  EXPECT_EQ(odd.created, "");
  EXPECT_FALSE(odd.pending_keyslot.has_value());
  const RecoveryToken junk = parse_recovery_token("not json");
  EXPECT_THAT(junk.keyslots, IsEmpty());
}

}  // namespace
}  // namespace ccfde::agent

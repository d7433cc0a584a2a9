// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ccfde::agent {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kMinimal =
    R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default","resource":"repo/type/tag"})";

TEST(TokenTest, ParsesMinimalToken) {
  const auto token = parse_token(kMinimal);
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(token->keyslots, std::vector<int>{1});
  EXPECT_EQ(token->profile, "default");
  EXPECT_EQ(token->resource, "repo/type/tag");
  EXPECT_EQ(token->state, TokenState::kComplete);
  EXPECT_FALSE(token->pending_keyslot.has_value());
}

TEST(TokenTest, ParsesFullTokenInAnyMemberOrderAndSortsKeyslots) {
  const auto token = parse_token(
      R"({ "pending-keyslot": "3", "state": "rotating", "resource": "9f1c2a3b-1111-2222-3333-444455556666",
          "profile": "ita.prod-1", "cc-fde-version": 1, "keyslots": ["31", "0", "3"], "type": "cc-fde" })");
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(token->keyslots, (std::vector<int>{0, 3, 31}));
  EXPECT_EQ(token->state, TokenState::kRotating);
  EXPECT_EQ(token->pending_keyslot, 3);
  EXPECT_EQ(token->profile, "ita.prod-1");
}

TEST(TokenTest, SerializesCanonicallyAndRoundTrips) {
  CcFdeToken token;
  token.keyslots = {2, 1};
  token.profile = "default";
  token.resource = "default/cc-fde/disk";
  const auto json = token_to_json(token);
  ASSERT_TRUE(json.ok()) << json.status().to_string();
  EXPECT_EQ(
      *json,
      R"({"type":"cc-fde","keyslots":["1","2"],"cc-fde-version":1,"profile":"default","resource":"default/cc-fde/disk"})");
  const auto parsed = parse_token(*json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  token.keyslots = {1, 2};
  EXPECT_EQ(*parsed, token);
}

TEST(TokenTest, RoundTripsEveryState) {
  for (const auto state : {TokenState::kPending, TokenState::kRotating, TokenState::kUnbinding,
                           TokenState::kReencrypting}) {
    CcFdeToken token;
    token.keyslots = {0};
    token.profile = "p";
    token.resource = "r/t/x";
    token.state = state;
    token.pending_keyslot = 5;
    const auto json = token_to_json(token);
    ASSERT_TRUE(json.ok()) << json.status().to_string();
    EXPECT_NE(json->find(std::string("\"state\":\"") + std::string(token_state_name(state)) + "\""),
              std::string::npos);
    const auto parsed = parse_token(*json);
    ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
    EXPECT_EQ(*parsed, token);
  }
}

TEST(TokenTest, StateNames) {
  EXPECT_EQ(token_state_name(TokenState::kComplete), "complete");
  EXPECT_EQ(token_state_name(TokenState::kPending), "pending");
  EXPECT_EQ(token_state_name(TokenState::kRotating), "rotating");
  EXPECT_EQ(token_state_name(TokenState::kUnbinding), "unbinding");
  EXPECT_EQ(token_state_name(TokenState::kReencrypting), "reencrypting");
}

TEST(TokenTest, AllowsEmptyKeyslotsOnlyDuringAnOperation) {
  EXPECT_TRUE(parse_token(R"({"type":"cc-fde","keyslots":[],"cc-fde-version":1,"profile":"p",)"
                          R"("resource":"r","state":"unbinding"})")
                  .ok());
  const auto complete = parse_token(
      R"({"type":"cc-fde","keyslots":[],"cc-fde-version":1,"profile":"p","resource":"r"})");
  ASSERT_FALSE(complete.ok());
  EXPECT_EQ(complete.status().code(), ErrorCode::kInvalidToken);
  EXPECT_THAT(complete.status().message(), HasSubstr("keyslots"));
}

struct BadToken {
  const char* name;
  std::string json;
  ErrorCode code;
  const char* message_part;
};

// Builds the minimal token with one member's raw JSON value replaced (or removed when empty).
std::string with_member(std::string_view member, std::string_view value) {
  std::string type = R"("cc-fde")", keyslots = R"(["1"])", version = "1", profile = R"("default")",
              resource = R"("repo/type/tag")";
  std::string* target = member == "type"             ? &type
                        : member == "keyslots"       ? &keyslots
                        : member == "cc-fde-version" ? &version
                        : member == "profile"        ? &profile
                                                     : &resource;
  *target = std::string(value);
  std::string out = "{";
  auto add = [&](std::string_view key, const std::string& v) {
    if (v.empty()) return;
    if (out.size() > 1) out += ",";
    out += "\"" + std::string(key) + "\":" + v;
  };
  add("type", type);
  add("keyslots", keyslots);
  add("cc-fde-version", version);
  add("profile", profile);
  add("resource", resource);
  return out + "}";
}

class BadTokenTest : public ::testing::TestWithParam<BadToken> {};

TEST_P(BadTokenTest, IsRefusedWithItsCodeAndMember) {
  const auto& bad = GetParam();
  const auto token = parse_token(bad.json);
  ASSERT_FALSE(token.ok()) << bad.json;
  EXPECT_EQ(token.status().code(), bad.code) << token.status().to_string();
  EXPECT_THAT(token.status().message(), HasSubstr(bad.message_part));
}

INSTANTIATE_TEST_SUITE_P(
    Negative, BadTokenTest,
    ::testing::Values(
        BadToken{"not_json", "{\"type\":", ErrorCode::kInvalidToken, "not valid JSON"},
        BadToken{"empty", "", ErrorCode::kInvalidToken, "not valid JSON"},
        BadToken{"array", "[1]", ErrorCode::kInvalidToken, "expected a JSON object"},
        BadToken{"trailing_garbage", std::string(kMinimal) + "x", ErrorCode::kInvalidToken,
                 "not valid JSON"},
        BadToken{"other_type", with_member("type", R"("clevis")"), ErrorCode::kInvalidToken,
                 "type: not \"cc-fde\""},
        BadToken{"type_missing", with_member("type", ""), ErrorCode::kInvalidToken,
                 "type: missing"},
        BadToken{"version_2", with_member("cc-fde-version", "2"), ErrorCode::kUnsupportedVersion,
                 "cc-fde-version 2"},
        BadToken{"version_string", with_member("cc-fde-version", R"("1")"),
                 ErrorCode::kInvalidToken, "cc-fde-version: expected an integer"},
        BadToken{"version_missing", with_member("cc-fde-version", ""), ErrorCode::kInvalidToken,
                 "cc-fde-version: missing"},
        BadToken{"keyslot_33", with_member("keyslots", R"(["1","33"])"), ErrorCode::kInvalidToken,
                 "keyslots[1]: '33' is not a keyslot number 0-31"},
        BadToken{"keyslot_leading_zero", with_member("keyslots", R"(["01"])"),
                 ErrorCode::kInvalidToken, "keyslots[0]: '01'"},
        BadToken{"keyslot_plus", with_member("keyslots", R"(["+1"])"), ErrorCode::kInvalidToken,
                 "keyslots[0]: '+1'"},
        BadToken{"keyslot_number", with_member("keyslots", "[1]"), ErrorCode::kInvalidToken,
                 "keyslots[0]: expected a keyslot number as a string"},
        BadToken{"keyslot_duplicate", with_member("keyslots", R"(["2","2"])"),
                 ErrorCode::kInvalidToken, "keyslots[1]: keyslot 2 is listed twice"},
        BadToken{"keyslots_object", with_member("keyslots", R"({"a":"1"})"),
                 ErrorCode::kInvalidToken, "keyslots: expected an array"},
        BadToken{"keyslots_missing", with_member("keyslots", ""), ErrorCode::kInvalidToken,
                 "keyslots: missing"},
        BadToken{"profile_slash", with_member("profile", R"("a/b")"), ErrorCode::kInvalidToken,
                 "profile: expected 1-64 characters"},
        BadToken{"profile_long", with_member("profile", "\"" + std::string(65, 'a') + "\""),
                 ErrorCode::kInvalidToken, "profile: expected 1-64 characters"},
        BadToken{"profile_empty", with_member("profile", R"("")"), ErrorCode::kInvalidToken,
                 "profile:"},
        BadToken{"profile_number", with_member("profile", "7"), ErrorCode::kInvalidToken,
                 "profile: expected a string"},
        BadToken{"resource_space", with_member("resource", R"("a b")"), ErrorCode::kInvalidToken,
                 "resource: expected 1-256 printable"},
        BadToken{"resource_control", with_member("resource", R"("a\nb")"), ErrorCode::kInvalidToken,
                 "resource:"},
        BadToken{"resource_long", with_member("resource", "\"" + std::string(257, 'r') + "\""),
                 ErrorCode::kInvalidToken, "resource:"},
        BadToken{"resource_missing", with_member("resource", ""), ErrorCode::kInvalidToken,
                 "resource: missing"},
        BadToken{
            "unknown_member",
            R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"p","resource":"r","url":"https://evil"})",
            ErrorCode::kInvalidToken, "unknown member \"url\""},
        BadToken{
            "duplicate_member",
            R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"p","resource":"r","profile":"q"})",
            ErrorCode::kInvalidToken, "member \"profile\" appears twice"},
        BadToken{
            "bad_state",
            R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"p","resource":"r","state":"complete"})",
            ErrorCode::kInvalidToken, "state: expected"},
        BadToken{
            "pending_without_state",
            R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"p","resource":"r","pending-keyslot":"2"})",
            ErrorCode::kInvalidToken, "pending-keyslot: only allowed"},
        BadToken{
            "pending_out_of_range",
            R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"p","resource":"r","state":"pending","pending-keyslot":"32"})",
            ErrorCode::kInvalidToken, "pending-keyslot: '32'"},
        BadToken{"deep_nesting", "{\"type\":[[[[[[[[1]]]]]]]]}", ErrorCode::kInvalidToken,
                 "nested deeper"},
        BadToken{"huge", std::string(70000, ' '), ErrorCode::kInvalidToken, "larger than"}),
    [](const ::testing::TestParamInfo<BadToken>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(TokenTest, SerializerRefusesInvalidTokens) {
  CcFdeToken token;
  token.keyslots = {1, 1};
  token.profile = "p";
  token.resource = "r";
  auto json = token_to_json(token);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), ErrorCode::kInvalidToken);

  token.keyslots = {40};
  json = token_to_json(token);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("keyslots[0]"));

  token.keyslots = {1};
  token.profile = "bad profile";
  json = token_to_json(token);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("profile"));

  token.profile = "p";
  token.pending_keyslot = 2;  // without a state
  json = token_to_json(token);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("pending-keyslot"));
}

}  // namespace
}  // namespace ccfde::agent

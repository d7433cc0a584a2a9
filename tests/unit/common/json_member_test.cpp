// SPDX-License-Identifier: Apache-2.0
// The one "member X of type T, or an error" helper (json_member.h).
#include "ccfde/common/json_member.h"

#include <gtest/gtest.h>

namespace ccfde {
namespace {

TEST(JsonMember, StringMemberNamesTheObjectAndTheMember) {
  const auto object = nlohmann::json::parse(R"({"a": "x", "e": "", "n": 5})");
  auto a = json_string_member(object, "a", ErrorCode::kMalformed, "thing");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "x");
  auto missing = json_string_member(object, "b", ErrorCode::kMalformedResponse, "thing");
  EXPECT_EQ(missing.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_EQ(missing.status().message(), "thing: member \"b\" is missing");
  auto number = json_string_member(object, "n", ErrorCode::kInvalidArgument, "thing");
  EXPECT_EQ(number.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(number.status().message(), "thing: member \"n\" must be a string, found number");
  EXPECT_TRUE(json_string_member(object, "e", ErrorCode::kMalformed, "thing").ok());
  auto empty = json_string_member(object, "e", ErrorCode::kMalformed, "thing", JsonEmpty::kRefuse);
  EXPECT_EQ(empty.status().message(), "thing: member \"e\" is empty");
}

TEST(JsonMember, NonObjectsHaveNoMembers) {
  const auto array = nlohmann::json::parse(R"([1, 2])");
  EXPECT_EQ(json_find_member(array, "a"), nullptr);
  EXPECT_EQ(json_member(array, "a", ErrorCode::kMalformed, "list").status().message(),
            "list: member \"a\" is missing");
  const auto object = nlohmann::json::parse(R"({"a": null})");
  ASSERT_NE(json_find_member(object, "a"), nullptr);
  EXPECT_TRUE(json_find_member(object, "a")->is_null());
}

}  // namespace
}  // namespace ccfde

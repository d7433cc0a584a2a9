// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/resource_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;

TEST(ResourcePath, ParsesThreeSegments) {
  auto path = parse_resource_path("default/fde/disk-key");
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->repository, "default");
  EXPECT_EQ(path->type, "fde");
  EXPECT_EQ(path->tag, "disk-key");
  EXPECT_EQ(path->to_string(), "default/fde/disk-key");
}

TEST(ResourcePath, AcceptsEveryAllowedCharacter) {
  auto path = parse_resource_path("_Az09-./-t.y_pe/9tag.v1-_");
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->repository, "_Az09-.");
  EXPECT_EQ(path->type, "-t.y_pe");
  EXPECT_EQ(path->tag, "9tag.v1-_");
}

struct BadPath {
  const char* text;
  const char* expected;  // substring of the message
};

class ResourcePathRejects : public ::testing::TestWithParam<BadPath> {};

TEST_P(ResourcePathRejects, WithInvalidArgumentNamingTheProblem) {
  auto path = parse_resource_path(GetParam().text);
  ASSERT_FALSE(path.ok()) << GetParam().text;
  EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(path.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResourcePathRejects,
    ::testing::Values(BadPath{"", "found 1"}, BadPath{"a/b", "expected 3 '/'-separated segments"},
                      BadPath{"a/b", "found 2"}, BadPath{"a/b/c/d", "found 4"},
                      BadPath{"a//c", "the type segment (at offset 2) is empty"},
                      BadPath{"a/b/", "the tag segment (at offset 4) is empty"},
                      BadPath{".a/b/c", "the repository segment \".a\" starts with '.'"},
                      BadPath{"a/../c", "the type segment \"..\" starts with '.'"},
                      BadPath{"a/b/c d", "tag segment has the character \" \" at offset 5"},
                      BadPath{"a/b%2F/c", "type segment has the character \"%\" at offset 3"},
                      BadPath{"a?q=1/b/c", "repository segment has the character \"?\""},
                      BadPath{"a/b/c\n", "tag segment has the character \"\\x0a\""}));

}  // namespace
}  // namespace ccfde::kbs_client

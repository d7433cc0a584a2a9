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
  EXPECT_EQ(path->plugin, KbsPlugin::kResource);
  EXPECT_EQ(path->url_path(), "resource/default/fde/disk-key");
  EXPECT_EQ(path->uri(), "kbs:///default/fde/disk-key");
}

TEST(ResourcePath, ProvisionerPlugin) {
  auto path = parse_resource_path(KbsPlugin::kProvisioner,
                                  "default/c007d2cc-5f14-41e5-a202-8d15f6f68607/root");
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->plugin, KbsPlugin::kProvisioner);
  EXPECT_EQ(path->to_string(), "default/c007d2cc-5f14-41e5-a202-8d15f6f68607/root");
  EXPECT_EQ(path->url_path(), "provisioner/default/c007d2cc-5f14-41e5-a202-8d15f6f68607/root");
  EXPECT_EQ(path->uri(), "kbs+provisioner:///default/c007d2cc-5f14-41e5-a202-8d15f6f68607/root");
  // The plugin does not relax the path grammar.
  auto bad = parse_resource_path(KbsPlugin::kProvisioner, "default/../root");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
}

TEST(ResourcePath, PluginNames) {
  EXPECT_EQ(plugin_name(KbsPlugin::kResource), "resource");
  EXPECT_EQ(plugin_name(KbsPlugin::kProvisioner), "provisioner");
  auto provisioner = parse_plugin_name("provisioner");
  ASSERT_TRUE(provisioner.ok());
  EXPECT_EQ(*provisioner, KbsPlugin::kProvisioner);
  for (const char* bad : {"", "Resource", "sample", "resource-policy", "attest", "provisioner/"}) {
    auto plugin = parse_plugin_name(bad);
    ASSERT_FALSE(plugin.ok()) << bad;
    EXPECT_EQ(plugin.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(plugin.status().message(), HasSubstr("unknown Trustee plugin"));
  }
}

TEST(ResourcePath, UrisRoundTrip) {
  for (const char* text : {"kbs:///default/fde/disk-key",
                           "kbs+provisioner:///default/c007d2cc-5f14-41e5-a202-8d15f6f68607/root",
                           "kbs+resource:///a/b/c"}) {
    auto path = parse_resource_uri(text);
    ASSERT_TRUE(path.ok()) << text << ": " << path.status().to_string();
    auto again = parse_resource_uri(path->uri());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *path);
  }
  auto provisioner = parse_resource_uri("kbs+provisioner:///default/u/root");
  ASSERT_TRUE(provisioner.ok());
  EXPECT_EQ(*provisioner, (ResourcePath{"default", "u", "root", KbsPlugin::kProvisioner}));
  auto resource = parse_resource_uri("kbs+resource:///a/b/c");
  ASSERT_TRUE(resource.ok());
  EXPECT_EQ(resource->uri(), "kbs:///a/b/c");
}

TEST(ResourcePath, BadUris) {
  const std::pair<const char*, const char*> cases[] = {
      {"default/fde/key", "no scheme"},
      {"https:///a/b/c", "neither kbs nor kbs+<plugin>"},
      {"kbs+sample:///a/b/c", "unknown Trustee plugin \"sample\""},
      {"kbs://host/a/b/c", "expected \"///\" after the scheme"},
      {"kbs+provisioner:///a/b", "found 2"},
      {"kbs:///a/./c", "starts with '.'"},
  };
  for (const auto& [text, expected] : cases) {
    auto path = parse_resource_uri(text);
    ASSERT_FALSE(path.ok()) << text;
    EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_THAT(path.status().message(), HasSubstr(expected)) << text;
  }
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

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/crypttab.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CrypttabTest, ParsesFieldsCommentsAndBlankLines) {
  const auto entries = parse_crypttab(
      "# comment\n"
      "\n"
      "   \t\n"
      "root UUID=0b5b6e6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b none luks,discard,,x-initrd.attach\r\n"
      "\t  # indented comment\n"
      "data\t/dev/vdb   /etc/keys/data.key\n"
      "swap PARTLABEL=swap\n");
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 3u);
  const auto& root = (*entries)[0];
  EXPECT_EQ(root.name, "root");
  EXPECT_EQ(root.source, "UUID=0b5b6e6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(root.key, "none");
  EXPECT_THAT(root.options, ElementsAre("luks", "discard", "x-initrd.attach"));
  EXPECT_EQ(root.line, 4);
  EXPECT_EQ((*entries)[1].name, "data");
  EXPECT_EQ((*entries)[1].key, "/etc/keys/data.key");
  EXPECT_TRUE((*entries)[1].options.empty());
  EXPECT_EQ((*entries)[1].line, 6);
  EXPECT_EQ((*entries)[2].key, "");
  EXPECT_EQ((*entries)[2].line, 7);
}

TEST(CrypttabTest, DecodesOctalEscapes) {
  const auto entries = parse_crypttab("my\\040vol LABEL=a\\011b - keyscript=/x\\054y,tries=3\n");
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "my vol");
  EXPECT_EQ((*entries)[0].source, "LABEL=a\tb");
  EXPECT_EQ((*entries)[0].key, "-");
  // The escaped comma is decoded before the split, as Debian's cryptroot reads the field.
  EXPECT_THAT((*entries)[0].options, ElementsAre("keyscript=/x", "y", "tries=3"));
}

TEST(CrypttabTest, KeepsBackslashWithoutThreeOctalDigits) {
  const auto entries = parse_crypttab("v /dev/a\\9x \\04\n");
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  EXPECT_EQ((*entries)[0].source, "/dev/a\\9x");
  EXPECT_EQ((*entries)[0].key, "\\04");
}

TEST(CrypttabTest, OptionLookup) {
  const auto entries = parse_crypttab("v /dev/a none discard,tries=5,headless=,keyscript\n");
  ASSERT_TRUE(entries.ok());
  const auto& entry = (*entries)[0];
  EXPECT_TRUE(entry.has_option("discard"));
  EXPECT_TRUE(entry.has_option("tries"));
  EXPECT_TRUE(entry.has_option("keyscript"));
  EXPECT_FALSE(entry.has_option("try"));
  EXPECT_EQ(entry.option_value("tries"), "5");
  EXPECT_EQ(entry.option_value("headless"), "");
  EXPECT_EQ(entry.option_value("discard"), std::nullopt);
  EXPECT_EQ(entry.option_value("keyscript"), std::nullopt);
  EXPECT_EQ(entry.option_value("nofail"), std::nullopt);
}

struct BadLine {
  const char* text;
  const char* message_part;
};

class CrypttabBadLineTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(CrypttabBadLineTest, IsRefusedWithOriginAndLine) {
  const auto entries = parse_crypttab(GetParam().text, "/etc/crypttab");
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(entries.status().message(), HasSubstr(GetParam().message_part));
}

INSTANTIATE_TEST_SUITE_P(
    Negative, CrypttabBadLineTest,
    ::testing::Values(BadLine{"ok /dev/a\n# c\nlonely\n",
                              "/etc/crypttab:3: expected 2-4 fields, found 1"},
                      BadLine{"a b c d e\n", "/etc/crypttab:1: expected 2-4 fields, found 5"},
                      BadLine{"\n\nx/y /dev/a\n", "/etc/crypttab:3: invalid mapping name"},
                      BadLine{".. /dev/a\n", "/etc/crypttab:1: invalid mapping name"},
                      BadLine{"a\\057b /dev/a\n", "/etc/crypttab:1: invalid mapping name"},
                      BadLine{"v /dev/a\\000\n", "/etc/crypttab:1: invalid escape \\000"},
                      BadLine{"v /dev/a \\777\n", "/etc/crypttab:1: invalid escape \\777"}));

TEST(CrypttabTest, ReadMissingFileIsEmpty) {
  ccfde::testing::TempDir dir;
  const auto entries = read_crypttab(dir.path() / "crypttab");
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  EXPECT_TRUE(entries->empty());
}

TEST(CrypttabTest, ReadFileNamesPathInErrors) {
  ccfde::testing::TempDir dir;
  const auto path = dir.path() / "crypttab";
  std::ofstream(path) << "good /dev/a\nbad\n";
  const auto entries = read_crypttab(path);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(entries.status().message(), HasSubstr(path.string() + ":2:"));

  std::ofstream(path, std::ios::trunc) << "good /dev/a none luks\n";
  const auto good = read_crypttab(path);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  ASSERT_EQ(good->size(), 1u);
  EXPECT_EQ((*good)[0].name, "good");
}

TEST(CrypttabTest, ReadDirectoryIsIoError) {
  ccfde::testing::TempDir dir;
  const auto entries = read_crypttab(dir.path());
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), ErrorCode::kIoError);
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    fs::create_directories(dev() / "disk" / "by-uuid");
    fs::create_directories(dev() / "disk" / "by-partuuid");
    fs::create_directories(dev() / "disk" / "by-label");
    fs::create_directories(dev() / "disk" / "by-partlabel");
    std::ofstream(dev() / "vda2") << "x";
    std::ofstream(dev() / "vdb") << "x";
    fs::create_symlink("../../vda2", dev() / "disk" / "by-uuid" / "1234-abcd");
    fs::create_symlink("../../vda2", dev() / "disk" / "by-partuuid" / "p-1");
    fs::create_symlink("../../vdb", dev() / "disk" / "by-label" / "my\\x20data\\x2fx");
    fs::create_symlink("../../vdb", dev() / "disk" / "by-partlabel" / "root");
    fs::create_symlink("../../gone", dev() / "disk" / "by-uuid" / "dangling");
  }
  std::filesystem::path dev() const { return dir_.path() / "dev"; }
  ccfde::testing::TempDir dir_;
};

TEST_F(ResolveTest, ResolvesTagsThroughByDirectories) {
  const auto vda2 = std::filesystem::canonical(dev() / "vda2");
  const auto vdb = std::filesystem::canonical(dev() / "vdb");
  auto path = resolve_crypttab_source("UUID=1234-abcd", dev());
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, vda2);
  path = resolve_crypttab_source("PARTUUID=p-1", dev());
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, vda2);
  path = resolve_crypttab_source("LABEL=my data/x", dev());
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, vdb);
  path = resolve_crypttab_source("PARTLABEL=root", dev());
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, vdb);
}

TEST_F(ResolveTest, PlainPathIsReturnedAsIs) {
  const auto path = resolve_crypttab_source("/dev/does-not-matter", dev());
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, std::filesystem::path("/dev/does-not-matter"));
}

TEST_F(ResolveTest, MissingOrDanglingLinkIsNotFound) {
  for (const char* source : {"UUID=ffff", "UUID=dangling", "LABEL=../../vdb"}) {
    const auto path = resolve_crypttab_source(source, dev());
    ASSERT_FALSE(path.ok()) << source;
    EXPECT_EQ(path.status().code(), ErrorCode::kNotFound) << source;
    EXPECT_THAT(path.status().message(), HasSubstr(source));
  }
}

TEST_F(ResolveTest, EmptyValuesAreInvalid) {
  EXPECT_EQ(resolve_crypttab_source("", dev()).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(resolve_crypttab_source("UUID=", dev()).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::agent

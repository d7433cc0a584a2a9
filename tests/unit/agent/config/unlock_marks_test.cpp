// SPDX-License-Identifier: Apache-2.0
// Unlock marks in /run: written 0600 into a 0700 directory, read back for this boot only, and
// symlinks, foreign boots and malformed files refused or ignored.
#include "ccfde/agent/unlock_marks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kUuid[] = "71191928-438f-4040-b3cc-a8260c526fbd";
constexpr char kOtherUuid[] = "11111111-2222-3333-4444-555555555555";
constexpr char kBootId[] = "3a9c8f64-5b1e-4a6e-9d52-0c1f2e3d4b5a";
constexpr char kOtherBootId[] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

class UnlockMarksTest : public ::testing::Test {
 protected:
  void SetUp() override { set_boot_id(kBootId); }
  void set_boot_id(const std::string& id) const {
    std::ofstream(dir_.path() / "boot_id") << id << "\n";
  }
  UnlockMarkPaths paths() const {
    return {dir_.path() / "run" / "cc-fde" / "unlocks", dir_.path() / "boot_id"};
  }
  fs::path mark_dir() const { return paths().dir; }
  static unsigned mode_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  void put(const std::string& name, const std::string& text) const {
    fs::create_directories(mark_dir());
    fs::permissions(mark_dir(), fs::perms::owner_all);
    std::ofstream(mark_dir() / name) << text;
  }
  testing::TempDir dir_;
};

TEST_F(UnlockMarksTest, AgentAndPluginMarksAreWrittenOwnerOnlyAndReadBack) {
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kTokenPlugin, "", kOtherUuid).ok());
  EXPECT_EQ(mode_of(mark_dir()), 0700u);
  const fs::path agent_file = mark_dir() / (std::string("fde-agent@") + kUuid + "@root");
  const fs::path plugin_file = mark_dir() / (std::string("token-plugin@") + kOtherUuid);
  EXPECT_EQ(mode_of(agent_file), 0600u);
  EXPECT_EQ(mode_of(plugin_file), 0600u);
  std::ifstream in(agent_file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, std::string(R"({"mapping":"root","luks_uuid":")") + kUuid +
                      R"(","opened_by":"fde-agent","boot_id":")" + kBootId + "\"}\n");

  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_THAT(read->ignored, IsEmpty());
  ASSERT_EQ(read->marks.size(), 2u);
  EXPECT_EQ(read->marks[0].opened_by, UnlockOpener::kAgent);
  EXPECT_EQ(read->marks[0].mapping, "root");
  EXPECT_EQ(read->marks[0].luks_uuid, kUuid);
  EXPECT_EQ(read->marks[0].boot_id, kBootId);
  EXPECT_EQ(read->marks[1].opened_by, UnlockOpener::kTokenPlugin);
  EXPECT_EQ(read->marks[1].mapping, "");
  EXPECT_EQ(read->marks[1].luks_uuid, kOtherUuid);

  // Written again (fde-agent-late after the initramfs agent): replaced, no temporary file left.
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
  EXPECT_EQ(std::distance(fs::directory_iterator(mark_dir()), fs::directory_iterator()), 2);
  ASSERT_TRUE(remove_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
  EXPECT_FALSE(fs::exists(agent_file));
  EXPECT_TRUE(remove_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
}

TEST_F(UnlockMarksTest, NoDirectoryIsNoMark) {
  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_THAT(read->marks, IsEmpty());
  EXPECT_THAT(read->ignored, IsEmpty());
}

TEST_F(UnlockMarksTest, AMarkOfAnotherBootIsIgnored) {
  set_boot_id(kOtherBootId);
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
  set_boot_id(kBootId);
  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_THAT(read->marks, IsEmpty());
  ASSERT_EQ(read->ignored.size(), 1u);
  EXPECT_THAT(read->ignored[0].message(), HasSubstr(kOtherBootId));
}

TEST_F(UnlockMarksTest, MalformedMarksAreIgnoredNamingTheFile) {
  const std::string good_tail =
      std::string(R"(","opened_by":"fde-agent","boot_id":")") + kBootId + "\"}";
  put("a-not-json", "{not json");
  put("b-array", "[]");
  put("c-unknown-member",
      std::string(R"({"key":"x","mapping":"root","luks_uuid":")") + kUuid + good_tail);
  put("d-no-mapping", std::string(R"({"mapping":"","luks_uuid":")") + kUuid + good_tail);
  put("e-bad-uuid", R"({"mapping":"root","luks_uuid":"../x)" + good_tail);
  put("f-plugin-with-mapping", std::string(R"({"mapping":"root","luks_uuid":")") + kUuid +
                                   R"(","opened_by":"token-plugin","boot_id":")" + kBootId + "\"}");
  put("g-unknown-opener", std::string(R"({"mapping":"root","luks_uuid":")") + kUuid +
                              R"(","opened_by":"someone","boot_id":")" + kBootId + "\"}");
  put("h-number", std::string(R"({"mapping":"root","luks_uuid":")") + kUuid +
                      R"(","opened_by":"fde-agent","boot_id":7})");
  put("i-huge", std::string(10000, ' '));
  put("j-good", std::string(R"({"mapping":"root","luks_uuid":")") + kUuid + good_tail);
  put(".k-temporary", "{");
  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  ASSERT_EQ(read->marks.size(), 1u);
  EXPECT_EQ(read->marks[0].mapping, "root");
  ASSERT_EQ(read->ignored.size(), 9u);
  for (const Status& ignored : read->ignored) {
    EXPECT_THAT(ignored.message(), HasSubstr(mark_dir().string())) << ignored.to_string();
  }
  EXPECT_EQ(read->ignored[0].code(), ErrorCode::kMalformed);
  EXPECT_THAT(read->ignored[2].message(), HasSubstr("unknown member \"key\""));
  EXPECT_THAT(read->ignored[3].message(), HasSubstr("device-mapper name"));
  EXPECT_THAT(read->ignored[8].message(), HasSubstr("more than"));
}

TEST_F(UnlockMarksTest, ASymlinkForTheDirectoryIsRefused) {
  fs::create_directories(dir_.path() / "elsewhere");
  fs::permissions(dir_.path() / "elsewhere", fs::perms::owner_all);
  fs::create_directories(mark_dir().parent_path());
  fs::create_directory_symlink(dir_.path() / "elsewhere", mark_dir());
  const Status written = write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(written.message(), HasSubstr("symlink"));
  EXPECT_TRUE(fs::is_empty(dir_.path() / "elsewhere"));
  auto read = read_unlock_marks(paths());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(UnlockMarksTest, ASymlinkOrDirectoryForTheFileIsNeitherFollowedNorReplaced) {
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kTokenPlugin, "", kOtherUuid).ok());
  const fs::path target = dir_.path() / "target";
  std::ofstream(target) << "precious";
  const fs::path link = mark_dir() / (std::string("fde-agent@") + kUuid + "@root");
  fs::create_symlink(target, link);
  const Status written = write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fs::is_symlink(link));
  std::ifstream in(target);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()),
            "precious");
  fs::create_directory(mark_dir() / (std::string("fde-agent@") + kUuid + "@data"));
  EXPECT_FALSE(write_unlock_mark(paths(), UnlockOpener::kAgent, "data", kUuid).ok());

  // Reading: the symlink and the directory are ignored, the plugin's mark still counts.
  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  ASSERT_EQ(read->marks.size(), 1u);
  EXPECT_EQ(read->marks[0].opened_by, UnlockOpener::kTokenPlugin);
  ASSERT_EQ(read->ignored.size(), 2u);
  EXPECT_THAT(read->ignored[0].message(), HasSubstr("not a regular file"));
  EXPECT_THAT(read->ignored[1].message(), HasSubstr("symlink"));
}

TEST_F(UnlockMarksTest, AGroupWritableDirectoryOrFileIsNotTrusted) {
  ASSERT_TRUE(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
  const fs::path file = mark_dir() / (std::string("fde-agent@") + kUuid + "@root");
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write);
  auto read = read_unlock_marks(paths());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_THAT(read->marks, IsEmpty());
  ASSERT_EQ(read->ignored.size(), 1u);
  EXPECT_THAT(read->ignored[0].message(), HasSubstr("writable by group or others"));

  fs::permissions(mark_dir(), fs::perms::owner_all | fs::perms::others_write);
  auto refused = read_unlock_marks(paths());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("writable by group or others"));
  EXPECT_FALSE(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid).ok());
}

TEST_F(UnlockMarksTest, BadNamesAndAMissingBootIdWriteNothing) {
  EXPECT_EQ(write_unlock_mark(paths(), UnlockOpener::kAgent, "", kUuid).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(write_unlock_mark(paths(), UnlockOpener::kAgent, "../etc", kUuid).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(write_unlock_mark(paths(), UnlockOpener::kAgent, "root", "../../x").code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(write_unlock_mark(paths(), UnlockOpener::kTokenPlugin, "root", kUuid).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(mark_dir()));
  fs::remove(dir_.path() / "boot_id");
  const Status no_boot = write_unlock_mark(paths(), UnlockOpener::kAgent, "root", kUuid);
  EXPECT_EQ(no_boot.code(), ErrorCode::kNotFound) << no_boot.to_string();
}

TEST_F(UnlockMarksTest, TheJsonRoundTrips) {
  const UnlockMark mark{"", kUuid, UnlockOpener::kTokenPlugin, kBootId};
  auto parsed = parse_unlock_mark(unlock_mark_json(mark));
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->opened_by, UnlockOpener::kTokenPlugin);
  EXPECT_EQ(parsed->luks_uuid, kUuid);
  EXPECT_EQ(parsed->boot_id, kBootId);
  EXPECT_EQ(unlock_opener_name(UnlockOpener::kAgent), "fde-agent");
  EXPECT_EQ(unlock_opener_name(UnlockOpener::kTokenPlugin), "token-plugin");
}

}  // namespace
}  // namespace ccfde::agent

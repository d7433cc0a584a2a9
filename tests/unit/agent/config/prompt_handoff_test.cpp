// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/prompt_handoff.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUuid = "71191928-438f-4040-b3cc-a8260c526fbd";

class PromptHandoffTest : public ::testing::Test {
 protected:
  PromptHandoffPaths paths() const {
    PromptHandoffPaths p;
    p.run_dir = dir_.path() / "run";
    p.initrd_release = dir_.path() / "etc" / "initrd-release";
    return p;
  }
  void enter_initrd() const {
    fs::create_directories(dir_.path() / "etc");
    std::ofstream(paths().initrd_release) << "NAME=initrd\n";
  }
  testing::TempDir dir_;
};

TEST_F(PromptHandoffTest, RecordedVolumeIsHandedOffInTheInitrd) {
  enter_initrd();
  EXPECT_FALSE(prompt_handed_off_in_initrd(paths(), kUuid));
  ASSERT_TRUE(record_prompt_handoff(paths(), kUuid).ok());
  const fs::path marker = dir_.path() / "run" / "cc-fde" / "prompt" / kUuid;
  EXPECT_EQ(prompt_handoff_path(paths(), kUuid), marker);
  EXPECT_TRUE(fs::is_regular_file(marker));
  EXPECT_EQ(fs::file_size(marker), 0u) << "the record holds nothing";
  EXPECT_TRUE(prompt_handed_off_in_initrd(paths(), kUuid));
  EXPECT_FALSE(prompt_handed_off_in_initrd(paths(), "00000000-438f-4040-b3cc-a8260c526fbd"))
      << "only the recorded volume";
  ASSERT_TRUE(record_prompt_handoff(paths(), kUuid).ok()) << "recording twice is fine";
}

TEST_F(PromptHandoffTest, IgnoredAfterSwitchRoot) {
  ASSERT_TRUE(record_prompt_handoff(paths(), kUuid).ok());
  EXPECT_FALSE(prompt_handed_off_in_initrd(paths(), kUuid))
      << "without initrd-release every route tries again";
}

TEST_F(PromptHandoffTest, HeaderUuidIsNeverAPath) {
  enter_initrd();
  for (const char* bad : {"", "../../etc/passwd", "a/b", "x y", ".", "ggg"}) {
    EXPECT_TRUE(prompt_handoff_path(paths(), bad).empty()) << bad;
    const Status status = record_prompt_handoff(paths(), bad);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_FALSE(prompt_handed_off_in_initrd(paths(), bad)) << bad;
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "run")) << "nothing was created";
}

TEST_F(PromptHandoffTest, SymlinkIsNotARecord) {
  enter_initrd();
  fs::create_directories(dir_.path() / "run" / "cc-fde" / "prompt");
  fs::create_symlink(paths().initrd_release, prompt_handoff_path(paths(), kUuid));
  EXPECT_FALSE(prompt_handed_off_in_initrd(paths(), kUuid));
  EXPECT_EQ(record_prompt_handoff(paths(), kUuid).code(), ErrorCode::kIoError)
      << "O_NOFOLLOW: never written through a link";
}

TEST_F(PromptHandoffTest, UnwritableRunDirIsAnIoError) {
  std::ofstream(dir_.path() / "run") << "a file, not a directory";
  const Status status = record_prompt_handoff(paths(), kUuid);
  EXPECT_EQ(status.code(), ErrorCode::kIoError);
  EXPECT_NE(status.message().find("cannot create"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The first boot of a per-VM state partition on image files: the partition found by name in a
// fake sysfs, the blank / pending / established states, and completion with fake actions, each
// failing in turn (the header must stay pending with the same id, and a retry must complete it).
#include "ccfde/agent/first_boot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/agent/token.h"
#include "ccfde/common/digest.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/runtime_event.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 32 alphanumeric characters, as Trustee's provisioner makes them.
constexpr std::string_view kVmKey = "q8ZxW2mNcR4tYb7LpK0sVd3HgJ6aEf9U";

void write_text(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

class FirstBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = dir_.path() / "state.img";
    { std::ofstream create(image_); }
    fs::resize_file(image_, std::uintmax_t{20} << 20);
    volume_.partlabel = "cc-fde-state";
    volume_.name = "state";
    volume_.resource = "init-data";
    volume_.filesystem = "ext4";
  }

  FirstBootActions actions() {
    FirstBootActions actions;
    actions.record_event = [this](std::string_view id) {
      calls_.push_back("event " + std::string(id));
      return record_error_ ? *record_error_ : Status();
    };
    actions.fetch_key = [this]() -> Result<SecretBytes> {
      calls_.push_back("fetch");
      if (fetch_error_) return *fetch_error_;
      return SecretBytes::copy_of(as_bytes(key_));
    };
    actions.activate = [this](LuksVolume& luks, std::span<const std::uint8_t> key,
                              const std::string& mapping) {
      calls_.push_back("activate " + mapping);
      // The activation gets the header just written, which the key opens.
      EXPECT_TRUE(luks.verify_passphrase(key, kAnyKeyslot).ok());
      return activate_error_ ? *activate_error_ : Status();
    };
    actions.record_unlock = [this](const LuksVolume& luks, std::span<const std::uint8_t> key,
                                   const FirstBootResult& done, const std::string& mapping) {
      calls_.push_back("record " + mapping);
      // The record names the new header and the token just written, and the key opens it.
      EXPECT_EQ(luks.uuid(), done.uuid);
      EXPECT_GE(done.token, 0);
      EXPECT_TRUE(luks.verify_passphrase(key, done.keyslot).ok());
      return unlock_record_error_ ? *unlock_record_error_ : Status();
    };
    actions.make_filesystem = [this](const std::string& mapping, const std::string& filesystem) {
      calls_.push_back("mkfs " + filesystem + " " + mapping);
      return mkfs_error_ ? *mkfs_error_ : Status();
    };
    return actions;
  }

  Bytes image_bytes() {
    auto bytes = read_file(image_, std::size_t{32} << 20);
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : Bytes{};
  }

  std::string begin() {
    auto id = begin_first_boot(image_);
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    return id.ok() ? *id : std::string();
  }

  testing::TempDir dir_;
  fs::path image_;
  FirstBootVolume volume_;
  std::string key_{kVmKey};
  std::vector<std::string> calls_;
  std::optional<Status> record_error_;
  std::optional<Status> fetch_error_;
  std::optional<Status> activate_error_;
  std::optional<Status> unlock_record_error_;
  std::optional<Status> mkfs_error_;
};

TEST_F(FirstBootTest, BlankPartitionGetsAPendingHeaderWithAFreshId) {
  auto blank = inspect_first_boot_volume(image_);
  ASSERT_TRUE(blank.ok()) << blank.status().to_string();
  EXPECT_EQ(blank->state, FirstBootState::kBlank);

  const std::string id = begin();
  EXPECT_TRUE(measure::is_first_boot_id(id)) << id;
  auto pending = inspect_first_boot_volume(image_);
  ASSERT_TRUE(pending.ok()) << pending.status().to_string();
  EXPECT_EQ(pending->state, FirstBootState::kPending);
  EXPECT_EQ(pending->id, id);
  auto luks = LuksVolume::open(image_);
  ASSERT_TRUE(luks.ok());
  EXPECT_EQ(luks->subsystem(), kFirstBootSubsystem);
  EXPECT_EQ(luks->label(), id);
  auto tokens = luks->tokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->empty());

  // Not blank any more: a second begin changes nothing.
  const Bytes before = image_bytes();
  auto again = begin_first_boot(image_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(image_bytes(), before);
}

TEST_F(FirstBootTest, TwoBlankPartitionsGetDifferentIds) {
  const fs::path other = dir_.path() / "other.img";
  { std::ofstream create(other); }
  fs::resize_file(other, std::uintmax_t{20} << 20);
  auto second = begin_first_boot(other);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(begin(), *second);
}

TEST_F(FirstBootTest, DataThatIsNotLuks2IsNeverFormatted) {
  // One non-zero byte at the end of the checked area is enough.
  {
    std::fstream out(image_, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(kBlankCheckBytes - 1));
    out.put('\x01');
  }
  const Bytes before = image_bytes();
  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_FALSE(inspected.ok());
  EXPECT_EQ(inspected.status().code(), ErrorCode::kNotLuks2);
  EXPECT_THAT(inspected.status().message(), HasSubstr("neither blank"));
  auto begun = begin_first_boot(image_);
  ASSERT_FALSE(begun.ok());
  EXPECT_EQ(begun.status().code(), ErrorCode::kNotLuks2);
  EXPECT_EQ(image_bytes(), before);
}

TEST_F(FirstBootTest, ZerosBeyondTheCheckedAreaDoNotMatter) {
  {
    std::fstream out(image_, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(kBlankCheckBytes));
    out.put('\x01');
  }
  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kBlank);
}

TEST_F(FirstBootTest, CompletionFormatsBindsActivatesMakesTheFileSystemAndCommits) {
  const std::string id = begin();
  auto done = complete_first_boot(image_, id, volume_, actions());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_THAT(calls_, ElementsAre("event " + id, "fetch", "activate state", "record state",
                                  "mkfs ext4 state"));

  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kEstablished);
  auto luks = LuksVolume::open(image_);
  ASSERT_TRUE(luks.ok());
  EXPECT_EQ(luks->subsystem(), "");
  EXPECT_EQ(luks->label(), "");
  EXPECT_EQ(luks->uuid(), done->uuid);
  EXPECT_THAT(luks->active_keyslots(), ElementsAre(done->keyslot));
  EXPECT_EQ(luks->keyslot_pbkdf(done->keyslot), "pbkdf2");
  auto opened = luks->verify_passphrase(as_bytes(kVmKey), kAnyKeyslot);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, done->keyslot);
  auto tokens = luks->tokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().id, done->token);
  auto token = parse_token(tokens->front().json);
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(token->state, TokenState::kComplete);
  EXPECT_THAT(token->keyslots, ElementsAre(done->keyslot));
  EXPECT_EQ(token->profile, "default");
  EXPECT_EQ(token->resource, "init-data");
}

TEST_F(FirstBootTest, NoFileSystemForNone) {
  volume_.filesystem = "none";
  const std::string id = begin();
  ASSERT_TRUE(complete_first_boot(image_, id, volume_, actions()).ok());
  EXPECT_THAT(calls_, ElementsAre("event " + id, "fetch", "activate state", "record state"));
}

TEST_F(FirstBootTest, NothingIsFetchedWhenTheEventCannotBeRecorded) {
  const std::string id = begin();
  const Bytes before = image_bytes();
  record_error_ = Status(ErrorCode::kUnsupported, "no RTMR3 here");
  auto done = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(done.status().message(), HasSubstr("recording the first boot"));
  EXPECT_THAT(calls_, ElementsAre("event " + id));
  EXPECT_EQ(image_bytes(), before);
}

TEST_F(FirstBootTest, ARefusedOrWeakKeyChangesNothing) {
  const std::string id = begin();
  const Bytes before = image_bytes();
  fetch_error_ = Status(ErrorCode::kPolicyDenied, "first boot already completed");
  auto refused = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_EQ(image_bytes(), before);

  fetch_error_.reset();
  key_ = std::string(32, 'a');
  auto weak = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(weak.ok());
  EXPECT_EQ(weak.status().code(), ErrorCode::kKeyRejected);
  EXPECT_EQ(image_bytes(), before);
}

TEST_F(FirstBootTest, AnInterruptedCompletionStaysPendingAndARetryFinishesIt) {
  const std::string id = begin();
  activate_error_ = Status(ErrorCode::kActivationFailed, "dm-crypt missing");
  auto first = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), ErrorCode::kActivationFailed);
  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kPending);
  EXPECT_EQ(inspected->id, id);

  activate_error_.reset();
  mkfs_error_ = Status(ErrorCode::kIoError, "/usr/sbin/mkfs.ext4 exited with status 1");
  auto second = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("making ext4 on /dev/mapper/state"));
  inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kPending);
  EXPECT_EQ(inspected->id, id);

  mkfs_error_.reset();
  calls_.clear();
  auto third = complete_first_boot(image_, id, volume_, actions());
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  // The same id again: what the broker lets through for this VM.
  EXPECT_THAT(calls_, ElementsAre("event " + id, "fetch", "activate state", "record state",
                                  "mkfs ext4 state"));
  inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kEstablished);
}

TEST_F(FirstBootTest, AnUnlockThatCannotBeRecordedStopsBeforeTheFileSystem) {
  const std::string id = begin();
  unlock_record_error_ = Status(ErrorCode::kUnsupported, "RTMR3 cannot be extended");
  auto done = complete_first_boot(image_, id, volume_, actions());
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(done.status().message(), HasSubstr("recording the unlock of /dev/mapper/state"));
  EXPECT_THAT(calls_, ElementsAre("event " + id, "fetch", "activate state", "record state"));
  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, FirstBootState::kPending);
  EXPECT_EQ(inspected->id, id);
}

TEST_F(FirstBootTest, APendingHeaderLeftBeforeItsTokenCompletes) {
  // A crash after the header write and before the token: the pending header with a keyslot of
  // the key and no token.
  const std::string id = begin();
  FormatOptions pending;
  pending.label = id;
  pending.subsystem = std::string(kFirstBootSubsystem);
  ASSERT_TRUE(
      LuksVolume::format(image_, as_bytes(kVmKey), KeyslotKdf::kMinimalPbkdf2, pending).ok());
  auto done = complete_first_boot(image_, id, volume_, actions());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  auto luks = LuksVolume::open(image_);
  ASSERT_TRUE(luks.ok());
  EXPECT_EQ(luks->active_keyslots().size(), 1u);
}

TEST_F(FirstBootTest, AnotherIdOrABadLabelIsRefused) {
  const std::string id = begin();
  auto other = complete_first_boot(image_, std::string(32, '0'), volume_, actions());
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_TRUE(calls_.empty());

  auto luks = LuksVolume::open(image_);
  ASSERT_TRUE(luks.ok());
  ASSERT_TRUE(luks->set_label("not-an-id", std::string(kFirstBootSubsystem)).ok());
  auto inspected = inspect_first_boot_volume(image_);
  ASSERT_FALSE(inspected.ok());
  EXPECT_EQ(inspected.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(inspected.status().message(), HasSubstr("\"not-an-id\" is not a first-boot id"));
}

TEST(FindPartitionByLabel, FindsTheOnePartitionOfThatName) {
  testing::TempDir dir;
  const fs::path sys = dir.path() / "sys";
  write_text(sys / "class/block/vda/uevent", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
  write_text(sys / "class/block/vda1/uevent",
             "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=root\n");
  write_text(sys / "class/block/vdb1/uevent",
             "MAJOR=254\nMINOR=17\nDEVNAME=vdb1\nDEVTYPE=partition\nPARTN=1\n"
             "PARTNAME=cc-fde-state\n");
  auto found = find_partition_by_label("cc-fde-state", sys, "/dev");
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  EXPECT_EQ(*found, fs::path("/dev/vdb1"));

  auto missing = find_partition_by_label("cc-fde-data", sys, "/dev");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("cc-fde-data"));
  // A prefix is not the name.
  EXPECT_EQ(find_partition_by_label("cc-fde", sys, "/dev").status().code(), ErrorCode::kNotFound);
}

TEST(FindPartitionByLabel, TwoPartitionsOfOneNameAreAmbiguous) {
  testing::TempDir dir;
  const fs::path sys = dir.path() / "sys";
  write_text(sys / "class/block/vdb1/uevent", "DEVNAME=vdb1\nPARTNAME=cc-fde-state\n");
  write_text(sys / "class/block/vdc1/uevent", "DEVNAME=vdc1\nPARTNAME=cc-fde-state\n");
  auto found = find_partition_by_label("cc-fde-state", sys, "/dev");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(found.status().message(), HasSubstr("/dev/vdb1, /dev/vdc1"));
}

TEST(FindPartitionByLabel, ADevnameOutsideDevIsIgnored) {
  testing::TempDir dir;
  const fs::path sys = dir.path() / "sys";
  write_text(sys / "class/block/vdb1/uevent", "DEVNAME=../etc/shadow\nPARTNAME=cc-fde-state\n");
  EXPECT_EQ(find_partition_by_label("cc-fde-state", sys, "/dev").status().code(),
            ErrorCode::kNotFound);
}

TEST(MkfsProgram, KnownFileSystems) {
  EXPECT_EQ(mkfs_program("ext4"), fs::path("/usr/sbin/mkfs.ext4"));
  EXPECT_EQ(mkfs_program("xfs"), fs::path("/usr/sbin/mkfs.xfs"));
  EXPECT_EQ(mkfs_program("none"), fs::path());
  EXPECT_EQ(mkfs_program("vfat"), fs::path());
  EXPECT_THAT(mkfs_arguments("ext4", "/dev/mapper/state"),
              ElementsAre("-q", "-F", "/dev/mapper/state"));
  EXPECT_THAT(mkfs_arguments("xfs", "/dev/mapper/state"),
              ElementsAre("-q", "-f", "/dev/mapper/state"));
}

}  // namespace
}  // namespace ccfde::agent

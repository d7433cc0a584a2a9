// SPDX-License-Identifier: Apache-2.0
// "Opened outside the broker": active cc-fde mappings compared with the agent's unlock entries and
// the unlock marks of the agent and the token plugin, through a fake mapping source and through the
// sysfs source over a fake sysfs tree whose devices are LUKS2 image files.
#include "ccfde/agent/crypt_mappings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ccfde/agent/logging.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRootUuid[] = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
constexpr char kDataUuid[] = "11111111-2222-3333-4444-555555555555";

class FakeMappingSource : public CryptMappingSource {
 public:
  Result<std::vector<CryptMapping>> crypt_mappings() const override {
    if (list_error) return *list_error;
    return mappings;
  }
  Result<bool> carries_cc_fde_token(const std::filesystem::path& device) const override {
    auto found = bound.find(device.string());
    if (found == bound.end()) {
      return make_error(ErrorCode::kNotLuks2, "{}: no LUKS2 header", device.string());
    }
    return found->second;
  }

  std::vector<CryptMapping> mappings;
  std::map<std::string, bool> bound;  // device -> carries a cc-fde token
  std::optional<Status> list_error;
};

UnlockRecord record(VolumeOutcome outcome, std::string uuid, std::string mapping) {
  UnlockRecord out;
  out.outcome = outcome;
  out.volume_uuid = std::move(uuid);
  out.mapping = std::move(mapping);
  return out;
}

UnlockMark mark(UnlockOpener opener, std::string uuid, std::string mapping) {
  return {std::move(mapping), std::move(uuid), opener, "3a9c8f64-5b1e-4a6e-9d52-0c1f2e3d4b5a"};
}

class MappingOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_.mappings = {{"root", kRootUuid, "/dev/vda2"},
                        {"data", kDataUuid, "/dev/vdb"},
                        {"swap", "22222222-2222-2222-2222-222222222222", "/dev/vdc"},
                        {"odd", "33333333-3333-3333-3333-333333333333", "/dev/vdd"}};
    source_.bound = {{"/dev/vda2", true}, {"/dev/vdb", true}, {"/dev/vdc", false}};
  }
  FakeMappingSource source_;
};

TEST_F(MappingOriginTest, AMappingTheAgentUnlockedIsItsAnyOtherCcFdeMappingIsOutside) {
  const std::vector<UnlockRecord> records = {record(VolumeOutcome::kUnlocked, kRootUuid, "root")};
  auto reports = cc_fde_mappings(source_, records);
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  // swap carries no cc-fde token: not listed; odd's header cannot be read: unknown.
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].mapping.name, "root");
  EXPECT_EQ((*reports)[0].origin, MappingOrigin::kAgent);
  EXPECT_EQ((*reports)[1].mapping.name, "data");
  EXPECT_EQ((*reports)[1].origin, MappingOrigin::kOutsideBroker);
  EXPECT_EQ((*reports)[2].mapping.name, "odd");
  EXPECT_EQ((*reports)[2].origin, MappingOrigin::kUnknown);
  ASSERT_TRUE((*reports)[2].error.has_value());
  EXPECT_EQ((*reports)[2].error->code(), ErrorCode::kNotLuks2);
  EXPECT_EQ(mapping_origin_name(MappingOrigin::kOutsideBroker), "opened outside the broker");
}

TEST_F(MappingOriginTest, OnlyAnUnlockedEntryForTheSameMappingAndUuidCounts) {
  const CryptMapping& root = source_.mappings[0];
  EXPECT_TRUE(opened_by_agent(root, {record(VolumeOutcome::kUnlocked, kRootUuid, "root")}));
  // The UUID compares without case (the journal keeps what the header said).
  EXPECT_TRUE(opened_by_agent(
      root, {record(VolumeOutcome::kUnlocked, "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0", "root")}));
  EXPECT_FALSE(opened_by_agent(root, {record(VolumeOutcome::kUnlocked, kDataUuid, "root")}));
  EXPECT_FALSE(opened_by_agent(root, {record(VolumeOutcome::kUnlocked, kRootUuid, "root2")}));
  // Already active when the agent ran, a dry run, a failure: opened by someone else.
  EXPECT_FALSE(opened_by_agent(root, {record(VolumeOutcome::kSkippedActive, kRootUuid, "root")}));
  EXPECT_FALSE(opened_by_agent(root, {record(VolumeOutcome::kVerified, kRootUuid, "root")}));
  EXPECT_FALSE(opened_by_agent(root, {record(VolumeOutcome::kFailed, kRootUuid, "root")}));
  EXPECT_FALSE(opened_by_agent(root, {}));
}

TEST_F(MappingOriginTest, PhaseEndWarnsWithAStructuredEventForEachMappingOpenedOutside) {
  MemoryReporter reporter;
  const Result<std::vector<UnlockRecord>> records =
      std::vector<UnlockRecord>{record(VolumeOutcome::kUnlocked, kRootUuid, "root")};
  EXPECT_EQ(warn_opened_outside_broker(source_, records, UnlockMarks{}, reporter), 1);
  const auto events = reporter.outside_broker();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mapping, "data");
  EXPECT_EQ(events[0].volume_uuid, kDataUuid);
  EXPECT_EQ(events[0].device, "/dev/vdb");
  // The unreadable header is a warning line of its own.
  const auto logs = reporter.logs();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].first, LogLevel::kWarning);
  EXPECT_THAT(logs[0].second, HasSubstr("odd"));

  std::map<std::string, std::string> fields;
  for (const auto& [name, value] : journal_fields(events[0])) fields[name] = value;
  EXPECT_EQ(fields["MESSAGE_ID"], kMessageIdOpenedOutsideBroker);
  EXPECT_EQ(fields["PRIORITY"], "4");
  EXPECT_EQ(fields["CCFDE_OPENED_OUTSIDE_BROKER"], "1");
  EXPECT_EQ(fields["CCFDE_MAPPING"], "data");
  EXPECT_EQ(fields["CCFDE_VOLUME_UUID"], kDataUuid);
  EXPECT_EQ(fields["CCFDE_DEVICE"], "/dev/vdb");
  EXPECT_THAT(fields["MESSAGE"], HasSubstr("opened outside the broker"));
}

TEST_F(MappingOriginTest, WithNeitherTheAgentsEntriesNorItsMarksNothingIsCalledOutside) {
  MemoryReporter reporter;
  const Result<std::vector<UnlockRecord>> missing = Status(ErrorCode::kNotFound, "no journal");
  const Result<UnlockMarks> unreadable = Status(ErrorCode::kIoError, "marks unreadable");
  EXPECT_EQ(warn_opened_outside_broker(source_, missing, unreadable, reporter), 0);
  EXPECT_THAT(reporter.outside_broker(), IsEmpty());
  const auto logs = reporter.logs();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].first, LogLevel::kInfo);
  EXPECT_THAT(logs[0].second, HasSubstr("no journal"));
  EXPECT_THAT(logs[0].second, HasSubstr("marks unreadable"));

  MemoryReporter quiet;
  FakeMappingSource none;
  EXPECT_EQ(warn_opened_outside_broker(none, missing, unreadable, quiet), 0);
  EXPECT_THAT(quiet.lines(), IsEmpty());
}

// initramfs-tools: no journal in the initramfs, but the agent's marks in /run.
TEST_F(MappingOriginTest, WithoutAJournalTheMarksDecide) {
  MemoryReporter reporter;
  const Result<std::vector<UnlockRecord>> missing = Status(ErrorCode::kNotFound, "no journal");
  UnlockMarks marks;
  marks.marks = {mark(UnlockOpener::kAgent, kRootUuid, "root")};
  EXPECT_EQ(warn_opened_outside_broker(source_, missing, marks, reporter), 1);
  const auto events = reporter.outside_broker();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mapping, "data");
  // Only the unreadable header's warning: no journal is normal here.
  ASSERT_EQ(reporter.logs().size(), 1u);
  EXPECT_THAT(reporter.logs()[0].second, HasSubstr("odd"));

  // A token-plugin mark for data's UUID: nothing is outside.
  marks.marks.push_back(mark(UnlockOpener::kTokenPlugin, kDataUuid, ""));
  MemoryReporter none_outside;
  EXPECT_EQ(warn_opened_outside_broker(source_, missing, marks, none_outside), 0);
  EXPECT_THAT(none_outside.outside_broker(), IsEmpty());
}

TEST_F(MappingOriginTest, IgnoredMarksAreWarningsAndUnreadableMarksLeaveTheJournal) {
  UnlockMarks marks;
  marks.ignored = {Status(ErrorCode::kMalformed, "/run/cc-fde/unlocks/x: not a JSON object")};
  MemoryReporter reporter;
  EXPECT_EQ(warn_opened_outside_broker(source_, std::vector<UnlockRecord>{}, marks, reporter), 2);
  const auto logs = reporter.logs();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].first, LogLevel::kWarning);
  EXPECT_THAT(logs[0].second, HasSubstr("ignoring an unlock mark: malformed: /run/cc-fde"));

  const Result<UnlockMarks> unreadable =
      Status(ErrorCode::kInvalidArgument, "/run/cc-fde/unlocks is a symlink");
  MemoryReporter journal_only;
  const Result<std::vector<UnlockRecord>> records =
      std::vector<UnlockRecord>{record(VolumeOutcome::kUnlocked, kRootUuid, "root")};
  EXPECT_EQ(warn_opened_outside_broker(source_, records, unreadable, journal_only), 1);
  ASSERT_EQ(journal_only.outside_broker().size(), 1u);
  EXPECT_EQ(journal_only.outside_broker()[0].mapping, "data");
  EXPECT_THAT(journal_only.logs()[0].second, HasSubstr("is a symlink"));
}

TEST_F(MappingOriginTest, AnAgentMarkCountsWithoutAJournalEntryAPluginMarkByUuid) {
  const CryptMapping& root = source_.mappings[0];
  EXPECT_EQ(mapping_origin(root, {}, {mark(UnlockOpener::kAgent, kRootUuid, "root")}),
            MappingOrigin::kAgent);
  EXPECT_EQ(
      mapping_origin(root, {},
                     {mark(UnlockOpener::kAgent, "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0", "root")}),
      MappingOrigin::kAgent);
  EXPECT_EQ(mapping_origin(root, {}, {mark(UnlockOpener::kTokenPlugin, kRootUuid, "")}),
            MappingOrigin::kTokenPlugin);
  // The agent's own unlock wins over the plugin's key hand-over.
  EXPECT_EQ(mapping_origin(root, {record(VolumeOutcome::kUnlocked, kRootUuid, "root")},
                           {mark(UnlockOpener::kTokenPlugin, kRootUuid, "")}),
            MappingOrigin::kAgent);
  // Another UUID, another mapping name: not this mapping's.
  EXPECT_EQ(mapping_origin(root, {},
                           {mark(UnlockOpener::kAgent, kDataUuid, "root"),
                            mark(UnlockOpener::kAgent, kRootUuid, "root2"),
                            mark(UnlockOpener::kTokenPlugin, kDataUuid, "")}),
            MappingOrigin::kOutsideBroker);
  EXPECT_EQ(mapping_origin(root, {}, {}), MappingOrigin::kOutsideBroker);

  auto reports = cc_fde_mappings(source_, {},
                                 {mark(UnlockOpener::kAgent, kRootUuid, "root"),
                                  mark(UnlockOpener::kTokenPlugin, kDataUuid, "")});
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].origin, MappingOrigin::kAgent);
  EXPECT_EQ((*reports)[1].origin, MappingOrigin::kTokenPlugin);
  EXPECT_EQ(mapping_origin_name(MappingOrigin::kAgent), "opened by fde-agent");
  EXPECT_EQ(mapping_origin_name(MappingOrigin::kTokenPlugin), "opened by the token plugin");
}

// The marks as the agent writes them and read_unlock_marks reads them: another boot's is ignored.
TEST_F(MappingOriginTest, WrittenMarksOfThisBootCountAnotherBootsDoNot) {
  testing::TempDir dir;
  const UnlockMarkPaths paths{dir.path() / "unlocks", dir.path() / "boot_id"};
  std::ofstream(paths.boot_id) << "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n";
  ASSERT_TRUE(write_unlock_mark(paths, UnlockOpener::kTokenPlugin, "", kDataUuid).ok());
  std::ofstream(paths.boot_id) << "3a9c8f64-5b1e-4a6e-9d52-0c1f2e3d4b5a\n";
  ASSERT_TRUE(write_unlock_mark(paths, UnlockOpener::kAgent, "root", kRootUuid).ok());
  const auto marks = read_unlock_marks(paths);
  ASSERT_TRUE(marks.ok()) << marks.status().to_string();
  auto reports = cc_fde_mappings(source_, {}, marks->marks);
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].origin, MappingOrigin::kAgent);
  EXPECT_EQ((*reports)[1].origin, MappingOrigin::kOutsideBroker);
  ASSERT_EQ(marks->ignored.size(), 1u);
}

TEST_F(MappingOriginTest, AMappingListThatCannotBeReadIsOneInfoLine) {
  source_.list_error = Status(ErrorCode::kNotFound, "no /sys/block");
  MemoryReporter reporter;
  EXPECT_EQ(
      warn_opened_outside_broker(source_, std::vector<UnlockRecord>{}, UnlockMarks{}, reporter), 0);
  ASSERT_EQ(reporter.logs().size(), 1u);
  EXPECT_THAT(reporter.logs()[0].second, HasSubstr("no /sys/block"));
}

// ---- the sysfs source ----

class SysfsSourceTest : public ::testing::Test {
 protected:
  static void write(const std::filesystem::path& file, const std::string& text) {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

  // A dm device dm-N with dm/uuid, dm/name and the entries of slaves/.
  void dm_device(const std::string& dm, const std::string& uuid, const std::string& name,
                 const std::vector<std::string>& slaves) {
    const auto block = dir_.path() / "sys" / "block" / dm;
    write(block / "dm" / "uuid", uuid + "\n");
    write(block / "dm" / "name", name + "\n");
    std::filesystem::create_directories(block / "slaves");
    for (const auto& slave : slaves) write(block / "slaves" / slave, "");
  }

  // A LUKS2 image as dev/<name>, with a cc-fde token when `bound`. Returns its UUID.
  std::string luks_device(const std::string& name, bool bound) {
    const auto image = dir_.path() / "dev" / name;
    std::filesystem::create_directories(image.parent_path());
    { std::ofstream create(image); }
    std::filesystem::resize_file(image, 16u << 20);
    const std::string passphrase = "a passphrase";
    auto volume = LuksVolume::format(
        image, {reinterpret_cast<const std::uint8_t*>(passphrase.data()), passphrase.size()},
        KeyslotKdf::kMinimalPbkdf2);
    EXPECT_TRUE(volume.ok()) << volume.status().to_string();
    if (!volume.ok()) return "";
    if (bound) {
      auto token = volume->set_token(
          kAnyToken, R"({"type":"cc-fde","keyslots":["0"],"cc-fde-version":1,"profile":"default",)"
                     R"("resource":"default/fde/x"})");
      EXPECT_TRUE(token.ok()) << token.status().to_string();
    }
    return volume->uuid();
  }

  static std::string dm_uuid_of(const std::string& uuid, const std::string& name) {
    std::string hex;
    for (char c : uuid) {
      if (c != '-') hex += c;
    }
    return "CRYPT-LUKS2-" + hex + "-" + name;
  }

  testing::TempDir dir_;
};

TEST_F(SysfsSourceTest, ListsLuks2CryptMappingsWithTheDeviceUnderThemAndChecksTheirTokens) {
  const std::string root_uuid = luks_device("loop7", true);
  const std::string plain_uuid = luks_device("loop8", false);
  const std::string integrity_uuid = luks_device("loop9", true);
  dm_device("dm-0", dm_uuid_of(root_uuid, "root"), "root", {"loop7"});
  dm_device("dm-1", "LVM-abcdef", "vg-lv", {"loop8"});
  dm_device("dm-2", dm_uuid_of(plain_uuid, "plain"), "plain", {"loop8"});
  // Integrity: dm-crypt over libcryptsetup's "<name>_dif" dm-integrity device.
  dm_device("dm-3", "CRYPT-SUBDEV-x", "secure_dif", {"loop9"});
  dm_device("dm-4", dm_uuid_of(integrity_uuid, "secure"), "secure", {"dm-3"});

  auto source = make_sysfs_crypt_mapping_source(dir_.path() / "sys", dir_.path() / "dev");
  auto mappings = source->crypt_mappings();
  ASSERT_TRUE(mappings.ok()) << mappings.status().to_string();
  ASSERT_EQ(mappings->size(), 3u);
  EXPECT_EQ((*mappings)[0].name, "root");
  EXPECT_EQ((*mappings)[0].luks_uuid, root_uuid);
  EXPECT_EQ((*mappings)[0].device, dir_.path() / "dev" / "loop7");
  EXPECT_EQ((*mappings)[1].name, "plain");
  EXPECT_EQ((*mappings)[2].name, "secure");
  EXPECT_EQ((*mappings)[2].device, dir_.path() / "dev" / "loop9");

  EXPECT_TRUE(*source->carries_cc_fde_token((*mappings)[0].device));
  EXPECT_FALSE(*source->carries_cc_fde_token((*mappings)[1].device));

  // The agent unlocked root; secure was opened some other way; plain is no cc-fde volume.
  auto reports = cc_fde_mappings(*source, {record(VolumeOutcome::kUnlocked, root_uuid, "root")});
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  ASSERT_EQ(reports->size(), 2u);
  EXPECT_EQ((*reports)[0].mapping.name, "root");
  EXPECT_EQ((*reports)[0].origin, MappingOrigin::kAgent);
  EXPECT_EQ((*reports)[1].mapping.name, "secure");
  EXPECT_EQ((*reports)[1].origin, MappingOrigin::kOutsideBroker);
}

TEST_F(SysfsSourceTest, NoSysfsIsNotFoundAndAnEmptyOneHasNoMappings) {
  auto missing = make_sysfs_crypt_mapping_source(dir_.path() / "nothing", dir_.path() / "dev");
  auto none = missing->crypt_mappings();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
  std::filesystem::create_directories(dir_.path() / "sys" / "block" / "vda");
  auto empty = make_sysfs_crypt_mapping_source(dir_.path() / "sys", dir_.path() / "dev");
  auto mappings = empty->crypt_mappings();
  ASSERT_TRUE(mappings.ok());
  EXPECT_THAT(*mappings, IsEmpty());
  auto unknown = empty->carries_cc_fde_token("");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ccfde::agent

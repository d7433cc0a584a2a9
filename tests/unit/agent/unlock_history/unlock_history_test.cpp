// SPDX-License-Identifier: Apache-2.0
// The unlock_history part: outcome records built from the journal fields the agent writes, the
// newest per volume, and reading a journal directory.
#include "ccfde/agent/unlock_history.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "ccfde/agent/logging.h"
#include "ccfde/testing/testdata.h"

// Events are built with designated initializers naming only the members a case needs; GCC 12
// warns about every member left at its default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ccfde::agent {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> fields_of(const VolumeEvent& event) {
  std::map<std::string, std::string> map;
  for (const auto& [name, value] : journal_fields(event)) map[name] = value;
  return map;
}

TEST(UnlockRecords, RoundTripFromTheFieldsTheAgentWrites) {
  VolumeEvent event{.outcome = VolumeOutcome::kFailed,
                    .device = "/dev/vdc",
                    .volume_uuid = "u-3",
                    .mapping = "data",
                    .profile = "default",
                    .resource = "r/t/x",
                    .status = Status(ErrorCode::kUnreachable, "refused"),
                    .duration = 1234ms};
  auto record = unlock_record_from_fields(fields_of(event), 42);
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->outcome, VolumeOutcome::kFailed);
  EXPECT_EQ(record->device, "/dev/vdc");
  EXPECT_EQ(record->volume_uuid, "u-3");
  EXPECT_EQ(record->mapping, "data");
  EXPECT_EQ(record->profile, "default");
  EXPECT_EQ(record->resource, "r/t/x");
  EXPECT_EQ(record->error_code, "unreachable");
  EXPECT_EQ(record->error, "refused");
  EXPECT_EQ(record->duration_ms, 1234u);
  EXPECT_EQ(record->realtime_usec, 42u);
}

TEST(UnlockRecords, MalformedEntriesAreRejectedByName) {
  const auto good = fields_of({.outcome = VolumeOutcome::kUnlocked, .volume_uuid = "u"});
  auto without_uuid = good;
  without_uuid.erase("CCFDE_VOLUME_UUID");
  auto wrong_id = good;
  wrong_id["MESSAGE_ID"] = std::string(kMessageIdVolumeFailed);
  auto bad_outcome = good;
  bad_outcome["CCFDE_OUTCOME"] = "exploded";
  auto bad_duration = good;
  bad_duration["CCFDE_DURATION_MS"] = "12x";
  const std::pair<std::map<std::string, std::string>, std::string> cases[] = {
      {without_uuid, "CCFDE_VOLUME_UUID"},
      {wrong_id, "is not the id of outcome"},
      {bad_outcome, "unknown CCFDE_OUTCOME"},
      {bad_duration, "CCFDE_DURATION_MS"},
  };
  for (const auto& [fields, expected] : cases) {
    auto record = unlock_record_from_fields(fields, 1);
    ASSERT_FALSE(record.ok()) << expected;
    EXPECT_EQ(record.status().code(), ErrorCode::kMalformed);
    EXPECT_NE(record.status().message().find(expected), std::string::npos)
        << record.status().message();
  }
}

TEST(UnlockRecords, LatestPerVolumeKeepsTheNewestEntryOfEachUuid) {
  auto make = [](std::string uuid, VolumeOutcome outcome, std::uint64_t time) {
    UnlockRecord record;
    record.volume_uuid = std::move(uuid);
    record.outcome = outcome;
    record.realtime_usec = time;
    return record;
  };
  auto latest = latest_per_volume(
      {make("b", VolumeOutcome::kFailed, 10), make("a", VolumeOutcome::kFailed, 5),
       make("b", VolumeOutcome::kUnlocked, 20), make("a", VolumeOutcome::kVerified, 3),
       make("c", VolumeOutcome::kFailed, 7), make("c", VolumeOutcome::kSkippedActive, 7)});
  ASSERT_EQ(latest.size(), 3u);
  EXPECT_EQ(latest[0].volume_uuid, "a");
  EXPECT_EQ(latest[0].outcome, VolumeOutcome::kFailed);
  EXPECT_EQ(latest[1].volume_uuid, "b");
  EXPECT_EQ(latest[1].outcome, VolumeOutcome::kUnlocked);
  EXPECT_EQ(latest[2].outcome, VolumeOutcome::kSkippedActive) << "ties: the later entry wins";
}

TEST(UnlockRecords, ReadingAnEmptyJournalDirectoryGivesNoRecords) {
  testing::TempDir dir;
  auto records = read_unlock_records({.directory = dir.path(), .current_boot_only = false});
  ASSERT_TRUE(records.ok()) << records.status().to_string();
  EXPECT_TRUE(records->empty());
  auto with_boot = read_unlock_records({.directory = dir.path()});
  ASSERT_TRUE(with_boot.ok()) << with_boot.status().to_string();
  EXPECT_TRUE(with_boot->empty());
}

TEST(UnlockRecords, AMissingJournalDirectoryIsNotFound) {
  auto records = read_unlock_records({.directory = "/nonexistent/journal"});
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(records.status().message().find("/nonexistent/journal"), std::string::npos);
}

}  // namespace
}  // namespace ccfde::agent

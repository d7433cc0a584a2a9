// SPDX-License-Identifier: Apache-2.0
// The logging part: timeline/volume line formats, journal fields, the console backend (on a pipe
// and a fake kmsg file) and the memory backend.
#include "ccfde/agent/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "ccfde/testing/testdata.h"

// Events are built with designated initializers naming only the members a case needs; GCC 12
// warns about every member left at its default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ccfde::agent {
namespace {

using namespace std::chrono_literals;

const std::regex kTimelineRegex(
    "^(fde-agent: )?timeline: (attestation|key-fetch|activation) (begin|ok|failed)( [0-9]+ "
    "ms)?( [a-z_]+=.*)?$");

std::map<std::string, std::string> as_map(const JournalFields& fields) {
  std::map<std::string, std::string> map;
  for (const auto& [name, value] : fields) {
    EXPECT_TRUE(map.emplace(name, value).second) << "duplicate field " << name;
  }
  return map;
}

TEST(LogFormat, TimelineLinesFollowTheDocumentedGrammar) {
  StageEvent attesting{.stage = Stage::kAttesting, .profile = "default", .tee = "tdx"};
  EXPECT_EQ(timeline_line(attesting), "timeline: attestation begin profile=default tee=tdx");

  StageEvent attested{
      .stage = Stage::kAttested, .duration = 153ms, .profile = "default", .tee = "tdx"};
  EXPECT_EQ(timeline_line(attested), "timeline: attestation ok 153 ms profile=default tee=tdx");

  StageEvent fetched{
      .stage = Stage::kKeyFetched, .duration = 45ms, .profile = "default", .resources = 3};
  EXPECT_EQ(timeline_line(fetched), "timeline: key-fetch ok 45 ms profile=default resources=3");

  StageEvent activation{.stage = Stage::kActivation,
                        .duration = 12ms,
                        .device = "/dev/vda2",
                        .mapping = "root",
                        .volume_uuid = "0b1c"};
  EXPECT_EQ(timeline_line(activation),
            "timeline: activation ok 12 ms device=/dev/vda2 mapping=root uuid=0b1c");

  StageEvent failed{.stage = Stage::kKeyFetched,
                    .status = Status(ErrorCode::kDeadlineExceeded, "no answer in 30 s"),
                    .duration = 30001ms,
                    .profile = "default"};
  EXPECT_EQ(timeline_line(failed),
            "timeline: key-fetch failed 30001 ms profile=default error=deadline_exceeded "
            "cause=\"no answer in 30 s\"");

  for (const auto& event : {attesting, attested, fetched, activation, failed}) {
    EXPECT_TRUE(std::regex_match(timeline_line(event), kTimelineRegex)) << timeline_line(event);
  }
}

TEST(LogFormat, HostileValuesAreQuotedAndStayOnOneLine) {
  StageEvent event{
      .stage = Stage::kActivation, .device = "/dev/x y\n\x1b[2J\"q\\", .mapping = "root"};
  const std::string line = timeline_line(event);
  EXPECT_EQ(line,
            "timeline: activation ok 0 ms device=\"/dev/x y\\x0a\\x1b[2J\\\"q\\\\\" "
            "mapping=root");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogFormat, VolumeLines) {
  VolumeEvent unlocked{.outcome = VolumeOutcome::kUnlocked,
                       .device = "/dev/vda2",
                       .volume_uuid = "u-1",
                       .mapping = "root",
                       .profile = "default",
                       .resource = "default/fde/root",
                       .duration = 12ms};
  EXPECT_EQ(volume_line(unlocked),
            "unlocked /dev/vda2 as root (uuid u-1, profile default, resource default/fde/root) "
            "in 12 ms");
  VolumeEvent skipped{
      .outcome = VolumeOutcome::kSkippedActive, .device = "/dev/vdb", .mapping = "data"};
  EXPECT_EQ(volume_line(skipped), "skipped /dev/vdb: data is already active");
  VolumeEvent failed{.outcome = VolumeOutcome::kFailed,
                     .device = "/dev/vdc",
                     .volume_uuid = "u-3",
                     .status = Status(ErrorCode::kPolicyDenied, "resource policy denies it"),
                     .duration = 7ms};
  EXPECT_EQ(volume_line(failed),
            "failed to unlock /dev/vdc (uuid u-3) after 7 ms: policy_denied: resource policy "
            "denies it");
}

TEST(LogFormat, VolumeJournalFieldsCarryTheStableIdAndEveryMember) {
  VolumeEvent failed{.outcome = VolumeOutcome::kFailed,
                     .device = "/dev/vdc",
                     .volume_uuid = "u-3",
                     .mapping = "data",
                     .profile = "default",
                     .resource = "default/fde/data",
                     .status = Status(ErrorCode::kUnreachable, "connection refused"),
                     .duration = 7ms};
  const auto fields = as_map(journal_fields(failed));
  EXPECT_EQ(fields.at("MESSAGE_ID"), "96ae5cd250bc4922b8214d22af5a44b1");
  EXPECT_EQ(fields.at("PRIORITY"), "3");
  EXPECT_EQ(fields.at("CCFDE_OUTCOME"), "failed");
  EXPECT_EQ(fields.at("CCFDE_DEVICE"), "/dev/vdc");
  EXPECT_EQ(fields.at("CCFDE_VOLUME_UUID"), "u-3");
  EXPECT_EQ(fields.at("CCFDE_MAPPING"), "data");
  EXPECT_EQ(fields.at("CCFDE_PROFILE"), "default");
  EXPECT_EQ(fields.at("CCFDE_RESOURCE"), "default/fde/data");
  EXPECT_EQ(fields.at("CCFDE_ERROR_CODE"), "unreachable");
  EXPECT_EQ(fields.at("CCFDE_ERROR"), "connection refused");
  EXPECT_EQ(fields.at("CCFDE_DURATION_MS"), "7");
  EXPECT_EQ(fields.at("MESSAGE"), volume_line(failed));

  VolumeEvent verified{.outcome = VolumeOutcome::kVerified, .volume_uuid = "u-4"};
  const auto ok_fields = as_map(journal_fields(verified));
  EXPECT_EQ(ok_fields.at("MESSAGE_ID"), kMessageIdVolumeVerified);
  EXPECT_EQ(ok_fields.at("PRIORITY"), "6");
  EXPECT_EQ(ok_fields.count("CCFDE_ERROR_CODE"), 0u);
  EXPECT_EQ(ok_fields.count("CCFDE_MAPPING"), 0u) << "empty fields are left out";
}

TEST(LogFormat, StageJournalFields) {
  StageEvent attested{.stage = Stage::kAttested,
                      .status = Status(ErrorCode::kAttestationRefused, "TCB out of date"),
                      .duration = 99ms,
                      .profile = "p",
                      .tee = "snp"};
  const auto fields = as_map(journal_fields(attested));
  EXPECT_EQ(fields.at("MESSAGE_ID"), kMessageIdStageAttested);
  EXPECT_EQ(fields.at("CCFDE_STAGE"), "attested");
  EXPECT_EQ(fields.at("CCFDE_OUTCOME"), "failed");
  EXPECT_EQ(fields.at("CCFDE_TEE"), "snp");
  EXPECT_EQ(fields.at("CCFDE_DURATION_MS"), "99");
  EXPECT_EQ(fields.at("CCFDE_ERROR_CODE"), "attestation_refused");
  EXPECT_EQ(fields.at("PRIORITY"), "3");
  const auto begin = as_map(journal_fields(StageEvent{.stage = Stage::kAttesting}));
  EXPECT_EQ(begin.at("CCFDE_OUTCOME"), "begin");
  EXPECT_EQ(begin.count("CCFDE_DURATION_MS"), 0u);
}

TEST(LogFormat, MessageIdsAreDistinct128BitHex) {
  std::set<std::string_view> ids;
  for (auto outcome : {VolumeOutcome::kUnlocked, VolumeOutcome::kVerified,
                       VolumeOutcome::kSkippedActive, VolumeOutcome::kFailed}) {
    ids.insert(volume_outcome_message_id(outcome));
    EXPECT_EQ(volume_outcome_from_name(volume_outcome_name(outcome)), outcome);
  }
  for (auto stage : {Stage::kAttesting, Stage::kAttested, Stage::kKeyFetched, Stage::kActivation}) {
    ids.insert(stage_message_id(stage));
  }
  EXPECT_EQ(ids.size(), 8u);
  for (auto id : ids) EXPECT_TRUE(std::regex_match(std::string(id), std::regex("^[0-9a-f]{32}$")));
  EXPECT_FALSE(volume_outcome_from_name("unlocked "));
}

// Reads what a pipe received so far.
std::string drain(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ConsoleReporter, WritesPrefixedLinesAndKmsgRecordsWhenNotATerminal) {
  testing::TempDir dir;
  const auto kmsg = dir.path() / "kmsg";
  { std::ofstream create(kmsg); }
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  {
    auto reporter = make_console_reporter({.kmsg = kmsg}, fds[1]);
    reporter->stage({.stage = Stage::kAttested, .duration = 5ms, .tee = "sample"});
    reporter->volume({.outcome = VolumeOutcome::kFailed,
                      .device = "/dev/vdb",
                      .status = Status(ErrorCode::kKeyRejected, "wrong key")});
    reporter->log(LogLevel::kWarning, "two\nlines");
    reporter->log(LogLevel::kDebug, "hidden unless debug");
    reporter->progress("attesting");
    reporter->ready();
  }
  const std::string out = drain(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(out,
            "fde-agent: timeline: attestation ok 5 ms tee=sample\n"
            "fde-agent: failed to unlock /dev/vdb after 0 ms: key_rejected: wrong key\n"
            "fde-agent: two lines\n");
  EXPECT_EQ(read_text(kmsg),
            "<6>fde-agent: timeline: attestation ok 5 ms tee=sample\n"
            "<3>fde-agent: failed to unlock /dev/vdb after 0 ms: key_rejected: wrong key\n"
            "<4>fde-agent: two lines\n");
}

TEST(ConsoleReporter, DebugOptionShowsDebugAndProgressLines) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  {
    auto reporter = make_console_reporter({.debug = true, .kmsg = "/nonexistent/kmsg"}, fds[1]);
    reporter->log(LogLevel::kDebug, "detail");
    reporter->progress("unlocking 2 of 3");
  }
  EXPECT_EQ(drain(fds[0]), "fde-agent: detail\nfde-agent: unlocking 2 of 3\n");
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(MemoryReporter, RecordsEverythingFromSeveralThreads) {
  MemoryReporter reporter;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&reporter, i] {
      for (int j = 0; j < 50; ++j) {
        reporter.volume({.outcome = VolumeOutcome::kVerified,
                         .volume_uuid = std::to_string(i) + "-" + std::to_string(j)});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  reporter.progress("attesting");
  reporter.ready();
  reporter.stage({.stage = Stage::kAttesting});
  reporter.log(LogLevel::kInfo, "hello");
  EXPECT_EQ(reporter.volumes().size(), 200u);
  EXPECT_EQ(reporter.statuses(), std::vector<std::string>{"attesting"});
  EXPECT_EQ(reporter.ready_count(), 1u);
  ASSERT_EQ(reporter.stages().size(), 1u);
  ASSERT_EQ(reporter.lines().size(), 202u);
  EXPECT_EQ(reporter.lines()[200], "timeline: attestation begin");
  EXPECT_EQ(reporter.lines()[201], "hello");
}

}  // namespace
}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// How fde-agent tells the world what it is doing: sd_notify STATUS/READY, one structured journal
// entry per run stage and per volume outcome (each kind with a stable MESSAGE_ID), and, outside
// systemd, plain "fde-agent: ..." lines on stderr and /dev/kmsg. fdectl status reads the journal
// entries back (unlock_history.h).
//
// Journal fields (never a secret; values are plain text):
//   MESSAGE_ID         one of the constants below
//   PRIORITY           syslog level: 6 info for stages and successful outcomes, 3 err for failures
//   SYSLOG_IDENTIFIER  "fde-agent" (ReporterOptions::identifier)
//   CCFDE_OUTCOME      volume events: "unlocked", "verified", "skipped-already-active", "failed";
//                      stage events: "begin", "ok", "failed"
//   CCFDE_STAGE        stage events: "attesting", "attested", "key-fetched", "activation"
//   CCFDE_DEVICE, CCFDE_VOLUME_UUID, CCFDE_MAPPING, CCFDE_PROFILE, CCFDE_RESOURCE, CCFDE_TEE,
//   CCFDE_RESOURCES    (stage key-fetched: number of keys), CCFDE_DURATION_MS,
//   CCFDE_ERROR_CODE   error_code_name() of the failure, CCFDE_ERROR its message
//   CCFDE_OPENED_OUTSIDE_BROKER  "1": phase-end's warning about an active cc-fde mapping the agent
//                      did not unlock (crypt_mappings.h), with CCFDE_MAPPING, CCFDE_VOLUME_UUID,
//                      CCFDE_DEVICE; PRIORITY 4 warning
// Empty fields are left out.
//
// Timeline lines. Every stage event also produces one line, the journal MESSAGE and the console
// line (after the "fde-agent: " prefix), so a boot log can be grepped for the timing of a run:
//   timeline: attestation begin profile=default tee=tdx
//   timeline: attestation ok 153 ms profile=default tee=tdx
//   timeline: key-fetch ok 45 ms profile=default resources=3
//   timeline: activation ok 12 ms device=/dev/vda2 mapping=root uuid=0b1c...
//   timeline: key-fetch failed 30001 ms profile=default error=deadline_exceeded
// Grammar: "timeline: " LABEL " " RESULT [" " DURATION " ms"] (" " KEY "=" VALUE)*
//   LABEL    attestation (stages attesting/attested) | key-fetch | activation
//   RESULT   begin (attesting only, no duration) | ok | failed
//   VALUE    printed as is when it consists of printable ASCII without spaces or quotes, else in
//            double quotes with \" \\ and \xNN escapes
// A regular expression for tests: ^(fde-agent: )?timeline: (attestation|key-fetch|activation)
// (begin|ok|failed)( [0-9]+ ms)?( [a-z_]+=.*)?$
// Volume outcome lines read "unlocked /dev/vda2 as root (uuid U, profile P, resource R) in 12 ms",
// "verified ...", "skipped /dev/vda2: root is already active", "failed to unlock /dev/vda2 (...):
// error_code_name: message".
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::agent {

// MESSAGE_IDs (sd-id128, 32 lowercase hex digits). Stable: never change a value; `journalctl
// MESSAGE_ID=<id>` finds every entry of one kind.
inline constexpr std::string_view kMessageIdVolumeUnlocked = "50f3a9a62bc14315b11fe042e0ac9b38";
inline constexpr std::string_view kMessageIdVolumeVerified = "77982bcd3a20487dbd0e83ab014ee8a3";
inline constexpr std::string_view kMessageIdVolumeSkipped = "1032fbba41d046bda92bd4eda6e43ecb";
inline constexpr std::string_view kMessageIdVolumeFailed = "96ae5cd250bc4922b8214d22af5a44b1";
inline constexpr std::string_view kMessageIdStageAttesting = "d4c3ffe1bca44dd5930f2177b4b575ef";
inline constexpr std::string_view kMessageIdStageAttested = "a9f4ce1789c34e03b986d3e10c384a86";
inline constexpr std::string_view kMessageIdStageKeyFetched = "4a9f06ae6ab34fae94d67da8e2731139";
inline constexpr std::string_view kMessageIdStageActivation = "4d5c061f023c4ac99aae0714e527d5bb";
inline constexpr std::string_view kMessageIdOpenedOutsideBroker =
    "c8e8af0fe24e4e9ea9ba7994e12bd402";

enum class VolumeOutcome {
  kUnlocked,       // activated (or, for keyscript, the key was handed over)
  kVerified,       // --dry-run: the key opens its keyslot, nothing activated
  kSkippedActive,  // the mapping was already active
  kFailed,
};
// "unlocked", "verified", "skipped-already-active", "failed".
std::string_view volume_outcome_name(VolumeOutcome outcome) noexcept;
// The inverse of volume_outcome_name; nullopt for anything else.
std::optional<VolumeOutcome> volume_outcome_from_name(std::string_view name) noexcept;
// The MESSAGE_ID of an outcome.
std::string_view volume_outcome_message_id(VolumeOutcome outcome) noexcept;

enum class Stage {
  kAttesting,   // an attestation handshake starts
  kAttested,    // it finished (status says how)
  kKeyFetched,  // the keys of a profile were fetched (status: first failure, if all failed)
  kActivation,  // activation of a volume (or of all volumes) finished
};
// "attesting", "attested", "key-fetched", "activation".
std::string_view stage_name(Stage stage) noexcept;
std::string_view stage_message_id(Stage stage) noexcept;

struct StageEvent {
  Stage stage = Stage::kAttesting;
  Status status;                          // an error: the stage failed
  std::chrono::milliseconds duration{0};  // how long the stage took (ignored for kAttesting)
  std::string profile;
  std::string tee;         // attesting / attested
  unsigned resources = 0;  // key-fetched: number of keys requested (0: not printed)
  std::string device;      // activation of one volume
  std::string mapping;
  std::string volume_uuid;
};

struct VolumeEvent {
  VolumeOutcome outcome = VolumeOutcome::kUnlocked;
  std::string device;
  std::string volume_uuid;
  std::string mapping;  // "" for verified volumes (nothing is activated)
  std::string profile;
  std::string resource;
  Status status;  // kFailed: the cause; otherwise OK
  std::chrono::milliseconds duration{0};
};

// An active cc-fde mapping the agent did not unlock itself ("opened outside the broker").
struct OutsideBrokerEvent {
  std::string mapping;
  std::string volume_uuid;
  std::string device;
};

enum class LogLevel { kDebug, kInfo, kNotice, kWarning, kError };
// The syslog priority (7 debug ... 3 err).
int syslog_priority(LogLevel level) noexcept;

// The timeline line of a stage event (see the file comment), without the "fde-agent: " prefix.
std::string timeline_line(const StageEvent& event);
// The human-readable line of a volume event (see the file comment), without prefix.
std::string volume_line(const VolumeEvent& event);
// "mapping M of D (uuid U) is active but fde-agent did not unlock it: opened outside the broker".
std::string outside_broker_line(const OutsideBrokerEvent& event);

using JournalFields = std::vector<std::pair<std::string, std::string>>;
// The journal fields of an event (MESSAGE, MESSAGE_ID, PRIORITY and the CCFDE_* fields, in that
// order; SYSLOG_IDENTIFIER is added by the journal backend). Empty values are left out.
JournalFields journal_fields(const StageEvent& event);
JournalFields journal_fields(const VolumeEvent& event);
JournalFields journal_fields(const OutsideBrokerEvent& event);

// Where the agent's reports go. Every implementation is thread-safe (fetches and activations run
// concurrently) and never fails: a report that cannot be delivered is dropped.
class Reporter {
 public:
  virtual ~Reporter() = default;
  // A one-line progress text ("attesting", "unlocking 2 of 3"): sd_notify STATUS=; on a console
  // backend a debug line.
  virtual void progress(std::string_view status) = 0;
  // The unlock run is done (whatever its outcome): sd_notify READY=1; nothing on a console.
  virtual void ready() = 0;
  virtual void stage(const StageEvent& event) = 0;
  virtual void volume(const VolumeEvent& event) = 0;
  // A free-form message. kDebug messages are dropped unless debug output is enabled.
  virtual void log(LogLevel level, std::string_view message) = 0;
  // A warning about a mapping opened outside the broker (its journal entry carries
  // CCFDE_OPENED_OUTSIDE_BROKER=1; on a console, a warning line).
  virtual void opened_outside_broker(const OutsideBrokerEvent& event) = 0;
};

struct ReporterOptions {
  std::string identifier = "fde-agent";  // SYSLOG_IDENTIFIER and console prefix
  bool debug = false;                    // emit LogLevel::kDebug messages (rd.cc-fde.debug)
  // Journal backend: also write timeline lines, volume outcomes, warnings and errors to /dev/kmsg
  // (when writable), so the serial console of a VM shows the run's timing and any failure's cause
  // even though journald does not forward to it by default.
  bool timeline_to_kmsg = true;
  std::filesystem::path kmsg = "/dev/kmsg";
};

// Whether this process runs under systemd: NOTIFY_SOCKET or JOURNAL_STREAM is set, or
// /run/systemd/journal/socket exists.
bool running_under_systemd();

// The journal + sd_notify backend (sd_journal_sendv, sd_notify).
std::unique_ptr<Reporter> make_journal_reporter(const ReporterOptions& options = {});
// The console backend: "<identifier>: <line>" on `stderr_fd`; when `stderr_fd` is not a terminal
// and options.kmsg can be opened for writing, also "<N><identifier>: <line>" records there (N the
// syslog priority). Takes no ownership of `stderr_fd`.
std::unique_ptr<Reporter> make_console_reporter(const ReporterOptions& options = {},
                                                int stderr_fd = 2);
// The journal backend when running_under_systemd(), else the console backend on fd 2.
std::unique_ptr<Reporter> make_reporter(const ReporterOptions& options = {});

// A Reporter that keeps everything in memory, for tests of the code that reports.
class MemoryReporter final : public Reporter {
 public:
  void progress(std::string_view status) override;
  void ready() override;
  void stage(const StageEvent& event) override;
  void volume(const VolumeEvent& event) override;
  void log(LogLevel level, std::string_view message) override;
  void opened_outside_broker(const OutsideBrokerEvent& event) override;

  // Snapshots (copies, so they may be read while other threads report).
  std::vector<std::string> statuses() const;
  unsigned ready_count() const;
  std::vector<StageEvent> stages() const;
  std::vector<VolumeEvent> volumes() const;
  std::vector<std::pair<LogLevel, std::string>> logs() const;
  std::vector<OutsideBrokerEvent> outside_broker() const;
  // Every line a console backend would print, in order, without prefix.
  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> statuses_;
  unsigned ready_count_ = 0;
  std::vector<StageEvent> stages_;
  std::vector<VolumeEvent> volumes_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
  std::vector<OutsideBrokerEvent> outside_broker_;
  std::vector<std::string> lines_;
};

}  // namespace ccfde::agent

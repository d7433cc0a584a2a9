// SPDX-License-Identifier: Apache-2.0
// Pure formatting of report events: timeline lines, volume lines and journal fields.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "ccfde/agent/logging.h"
#include "internal.h"

namespace ccfde::agent {
namespace {

bool is_plain(std::string_view value) {
  return !value.empty() && std::ranges::none_of(value, [](char c) {
    return c <= ' ' || c > '~' || c == '"' || c == '\\';
  });
}

// A value for a key=value pair: as is when plain, else quoted with escapes.
std::string quote_value(std::string_view value) {
  if (is_plain(value)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte > 0x7e) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void append_pair(std::string& line, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  line += ' ';
  line += key;
  line += '=';
  line += quote_value(value);
}

std::string_view stage_label(Stage stage) {
  switch (stage) {
    case Stage::kAttesting:
    case Stage::kAttested: return "attestation";
    case Stage::kKeyFetched: return "key-fetch";
    case Stage::kActivation: return "activation";
  }
  return "unknown";
}

// Console and kmsg consumers read one record per line.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

void add_field(JournalFields& fields, std::string_view name, std::string_view value) {
  if (!value.empty()) fields.emplace_back(std::string(name), one_line(value));
}

}  // namespace

std::string_view volume_outcome_name(VolumeOutcome outcome) noexcept {
  switch (outcome) {
    case VolumeOutcome::kUnlocked: return "unlocked";
    case VolumeOutcome::kVerified: return "verified";
    case VolumeOutcome::kSkippedActive: return "skipped-already-active";
    case VolumeOutcome::kFailed: return "failed";
  }
  return "unknown";
}

std::optional<VolumeOutcome> volume_outcome_from_name(std::string_view name) noexcept {
  for (auto outcome : {VolumeOutcome::kUnlocked, VolumeOutcome::kVerified,
                       VolumeOutcome::kSkippedActive, VolumeOutcome::kFailed}) {
    if (volume_outcome_name(outcome) == name) return outcome;
  }
  return std::nullopt;
}

std::string_view volume_outcome_message_id(VolumeOutcome outcome) noexcept {
  switch (outcome) {
    case VolumeOutcome::kUnlocked: return kMessageIdVolumeUnlocked;
    case VolumeOutcome::kVerified: return kMessageIdVolumeVerified;
    case VolumeOutcome::kSkippedActive: return kMessageIdVolumeSkipped;
    case VolumeOutcome::kFailed: return kMessageIdVolumeFailed;
  }
  return kMessageIdVolumeFailed;
}

std::string_view stage_name(Stage stage) noexcept {
  switch (stage) {
    case Stage::kAttesting: return "attesting";
    case Stage::kAttested: return "attested";
    case Stage::kKeyFetched: return "key-fetched";
    case Stage::kActivation: return "activation";
  }
  return "unknown";
}

std::string_view stage_message_id(Stage stage) noexcept {
  switch (stage) {
    case Stage::kAttesting: return kMessageIdStageAttesting;
    case Stage::kAttested: return kMessageIdStageAttested;
    case Stage::kKeyFetched: return kMessageIdStageKeyFetched;
    case Stage::kActivation: return kMessageIdStageActivation;
  }
  return kMessageIdStageActivation;
}

int syslog_priority(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug: return 7;
    case LogLevel::kInfo: return 6;
    case LogLevel::kNotice: return 5;
    case LogLevel::kWarning: return 4;
    case LogLevel::kError: return 3;
  }
  return 6;
}

namespace {

std::string_view stage_result(const StageEvent& event) {
  if (!event.status.ok()) return "failed";
  return event.stage == Stage::kAttesting ? "begin" : "ok";
}

LogLevel stage_level(const StageEvent& event) {
  return event.status.ok() ? LogLevel::kInfo : LogLevel::kError;
}

LogLevel volume_level(const VolumeEvent& event) {
  return event.outcome == VolumeOutcome::kFailed ? LogLevel::kError : LogLevel::kInfo;
}

std::string volume_details(const VolumeEvent& event) {
  std::string details;
  auto add = [&details](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    details += details.empty() ? "" : ", ";
    details += name;
    details += ' ';
    details += quote_value(value);
  };
  add("uuid", event.volume_uuid);
  add("profile", event.profile);
  add("resource", event.resource);
  return details.empty() ? details : " (" + details + ")";
}

}  // namespace

std::string timeline_line(const StageEvent& event) {
  std::string line = fmt::format("timeline: {} {}", stage_label(event.stage), stage_result(event));
  if (event.stage != Stage::kAttesting) line += fmt::format(" {} ms", event.duration.count());
  append_pair(line, "profile", event.profile);
  append_pair(line, "tee", event.tee);
  if (event.resources != 0) append_pair(line, "resources", std::to_string(event.resources));
  append_pair(line, "device", event.device);
  append_pair(line, "mapping", event.mapping);
  append_pair(line, "uuid", event.volume_uuid);
  if (!event.status.ok()) {
    append_pair(line, "error", error_code_name(event.status.code()));
    append_pair(line, "cause", event.status.message());
  }
  return line;
}

std::string volume_line(const VolumeEvent& event) {
  const std::string device = quote_value(event.device.empty() ? "?" : event.device);
  const std::string details = volume_details(event);
  switch (event.outcome) {
    case VolumeOutcome::kUnlocked:
      return fmt::format("unlocked {} as {}{} in {} ms", device, quote_value(event.mapping),
                         details, event.duration.count());
    case VolumeOutcome::kVerified:
      return fmt::format("verified {}{}: the key opens its keyslot, nothing activated, in {} ms",
                         device, details, event.duration.count());
    case VolumeOutcome::kSkippedActive:
      return fmt::format("skipped {}{}: {} is already active", device, details,
                         quote_value(event.mapping));
    case VolumeOutcome::kFailed:
      return fmt::format("failed to unlock {}{} after {} ms: {}", device, details,
                         event.duration.count(), one_line(event.status.to_string()));
  }
  return "unknown volume event";
}

namespace {

// CCFDE_ERROR_CODE and CCFDE_ERROR of a failed event; nothing for an OK one.
void add_error_fields(JournalFields& fields, const Status& status) {
  if (status.ok()) return;
  add_field(fields, "CCFDE_ERROR_CODE", error_code_name(status.code()));
  add_field(fields, "CCFDE_ERROR", status.message());
}

}  // namespace

JournalFields journal_fields(const StageEvent& event) {
  JournalFields fields;
  add_field(fields, "MESSAGE", timeline_line(event));
  add_field(fields, "MESSAGE_ID", stage_message_id(event.stage));
  add_field(fields, "PRIORITY", std::to_string(syslog_priority(stage_level(event))));
  add_field(fields, "CCFDE_STAGE", stage_name(event.stage));
  add_field(fields, "CCFDE_OUTCOME", stage_result(event));
  add_field(fields, "CCFDE_PROFILE", event.profile);
  add_field(fields, "CCFDE_TEE", event.tee);
  if (event.resources != 0) add_field(fields, "CCFDE_RESOURCES", std::to_string(event.resources));
  add_field(fields, "CCFDE_DEVICE", event.device);
  add_field(fields, "CCFDE_MAPPING", event.mapping);
  add_field(fields, "CCFDE_VOLUME_UUID", event.volume_uuid);
  if (event.stage != Stage::kAttesting) {
    add_field(fields, "CCFDE_DURATION_MS", std::to_string(event.duration.count()));
  }
  add_error_fields(fields, event.status);
  return fields;
}

JournalFields journal_fields(const VolumeEvent& event) {
  JournalFields fields;
  add_field(fields, "MESSAGE", volume_line(event));
  add_field(fields, "MESSAGE_ID", volume_outcome_message_id(event.outcome));
  add_field(fields, "PRIORITY", std::to_string(syslog_priority(volume_level(event))));
  add_field(fields, "CCFDE_OUTCOME", volume_outcome_name(event.outcome));
  add_field(fields, "CCFDE_DEVICE", event.device);
  add_field(fields, "CCFDE_VOLUME_UUID", event.volume_uuid);
  add_field(fields, "CCFDE_MAPPING", event.mapping);
  add_field(fields, "CCFDE_PROFILE", event.profile);
  add_field(fields, "CCFDE_RESOURCE", event.resource);
  add_field(fields, "CCFDE_DURATION_MS", std::to_string(event.duration.count()));
  add_error_fields(fields, event.status);
  return fields;
}

std::string outside_broker_line(const OutsideBrokerEvent& event) {
  return fmt::format(
      "mapping {} of {} (uuid {}) is active but fde-agent did not unlock it: opened outside the "
      "broker",
      quote_value(event.mapping), quote_value(event.device.empty() ? "?" : event.device),
      quote_value(event.volume_uuid));
}

JournalFields journal_fields(const OutsideBrokerEvent& event) {
  JournalFields fields;
  add_field(fields, "MESSAGE", outside_broker_line(event));
  add_field(fields, "MESSAGE_ID", kMessageIdOpenedOutsideBroker);
  add_field(fields, "PRIORITY", std::to_string(syslog_priority(LogLevel::kWarning)));
  add_field(fields, "CCFDE_OPENED_OUTSIDE_BROKER", "1");
  add_field(fields, "CCFDE_MAPPING", event.mapping);
  add_field(fields, "CCFDE_VOLUME_UUID", event.volume_uuid);
  add_field(fields, "CCFDE_DEVICE", event.device);
  return fields;
}

LogLevel report_level(const StageEvent& event) {
  return stage_level(event);
}
LogLevel report_level(const VolumeEvent& event) {
  return volume_level(event);
}

}  // namespace ccfde::agent

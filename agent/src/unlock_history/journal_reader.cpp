// SPDX-License-Identifier: Apache-2.0
// Reading the agent's volume outcome entries back from the journal (fdectl status).
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "ccfde/agent/unlock_history.h"

namespace ccfde::agent {
namespace {

struct JournalCloser {
  void operator()(sd_journal* journal) const noexcept { sd_journal_close(journal); }
};
using JournalHandle = std::unique_ptr<sd_journal, JournalCloser>;

const std::string* find(const std::map<std::string, std::string>& fields, const char* name) {
  auto it = fields.find(name);
  return it == fields.end() ? nullptr : &it->second;
}

std::string get_or_empty(const std::map<std::string, std::string>& fields, const char* name) {
  const std::string* value = find(fields, name);
  return value == nullptr ? std::string() : *value;
}

Status journal_error(const char* call, int r) {
  return make_errno_error(ErrorCode::kIoError, -r, "{} failed", call);
}

// The entry's fields; values larger than the data threshold are cut by sd_journal (fine: none of
// ours are that large).
std::map<std::string, std::string> entry_fields(sd_journal* journal) {
  std::map<std::string, std::string> fields;
  const void* data = nullptr;
  size_t length = 0;
  sd_journal_restart_data(journal);
  while (sd_journal_enumerate_data(journal, &data, &length) > 0) {
    std::string_view item(static_cast<const char*>(data), length);
    const auto equals = item.find('=');
    if (equals == std::string_view::npos) continue;
    fields.emplace(std::string(item.substr(0, equals)), std::string(item.substr(equals + 1)));
  }
  return fields;
}

}  // namespace

Result<UnlockRecord> unlock_record_from_fields(const std::map<std::string, std::string>& fields,
                                               std::uint64_t realtime_usec) {
  const std::string* message_id = find(fields, "MESSAGE_ID");
  const std::string* outcome_name = find(fields, "CCFDE_OUTCOME");
  if (outcome_name == nullptr) {
    return make_error(ErrorCode::kMalformed, "journal entry without CCFDE_OUTCOME");
  }
  const auto outcome = volume_outcome_from_name(*outcome_name);
  if (!outcome) {
    return make_error(ErrorCode::kMalformed, "journal entry: unknown CCFDE_OUTCOME '{}'",
                      *outcome_name);
  }
  if (message_id == nullptr || *message_id != volume_outcome_message_id(*outcome)) {
    return make_error(ErrorCode::kMalformed,
                      "journal entry: MESSAGE_ID '{}' is not the id of outcome '{}'",
                      message_id == nullptr ? "" : *message_id, *outcome_name);
  }
  UnlockRecord record;
  record.outcome = *outcome;
  record.volume_uuid = get_or_empty(fields, "CCFDE_VOLUME_UUID");
  if (record.volume_uuid.empty()) {
    return make_error(ErrorCode::kMalformed, "journal entry without CCFDE_VOLUME_UUID");
  }
  record.device = get_or_empty(fields, "CCFDE_DEVICE");
  record.mapping = get_or_empty(fields, "CCFDE_MAPPING");
  record.profile = get_or_empty(fields, "CCFDE_PROFILE");
  record.resource = get_or_empty(fields, "CCFDE_RESOURCE");
  record.error_code = get_or_empty(fields, "CCFDE_ERROR_CODE");
  record.error = get_or_empty(fields, "CCFDE_ERROR");
  record.message = get_or_empty(fields, "MESSAGE");
  record.realtime_usec = realtime_usec;
  if (const std::string* duration = find(fields, "CCFDE_DURATION_MS")) {
    std::uint64_t value = 0;
    const auto [end, error] =
        std::from_chars(duration->data(), duration->data() + duration->size(), value);
    if (error != std::errc() || end != duration->data() + duration->size()) {
      return make_error(ErrorCode::kMalformed,
                        "journal entry: CCFDE_DURATION_MS '{}' is not a "
                        "number",
                        *duration);
    }
    record.duration_ms = value;
  }
  return record;
}

std::vector<UnlockRecord> latest_per_volume(std::vector<UnlockRecord> records) {
  std::map<std::string, UnlockRecord> latest;
  for (auto& record : records) {
    auto it = latest.find(record.volume_uuid);
    if (it == latest.end()) {
      latest.emplace(record.volume_uuid, std::move(record));
    } else if (record.realtime_usec >= it->second.realtime_usec) {
      it->second = std::move(record);
    }
  }
  std::vector<UnlockRecord> out;
  out.reserve(latest.size());
  for (auto& [uuid, record] : latest) out.push_back(std::move(record));
  return out;
}

Result<std::vector<UnlockRecord>> read_unlock_records(const JournalQuery& query) {
  sd_journal* raw = nullptr;
  std::error_code fs_error;
  if (query.directory.empty()) {
    if (!std::filesystem::exists("/var/log/journal", fs_error) &&
        !std::filesystem::exists("/run/log/journal", fs_error)) {
      return make_error(ErrorCode::kNotFound,
                        "no journal on this system (neither /var/log/journal nor "
                        "/run/log/journal exists)");
    }
    const int r = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
    if (r < 0) return journal_error("sd_journal_open", r);
  } else {
    if (!std::filesystem::is_directory(query.directory, fs_error)) {
      return make_error(ErrorCode::kNotFound, "{}: no such journal directory",
                        query.directory.string());
    }
    const int r = sd_journal_open_directory(&raw, query.directory.c_str(), 0);
    if (r < 0) return journal_error("sd_journal_open_directory", r);
  }
  JournalHandle journal(raw);

  for (auto outcome : {VolumeOutcome::kUnlocked, VolumeOutcome::kVerified,
                       VolumeOutcome::kSkippedActive, VolumeOutcome::kFailed}) {
    const std::string match = "MESSAGE_ID=" + std::string(volume_outcome_message_id(outcome));
    const int r = sd_journal_add_match(journal.get(), match.data(), match.size());
    if (r < 0) return journal_error("sd_journal_add_match", r);
  }
  if (query.current_boot_only) {
    sd_id128_t boot_id;
    int r = sd_id128_get_boot(&boot_id);
    if (r < 0) return journal_error("sd_id128_get_boot", r);
    char text[SD_ID128_STRING_MAX];
    const std::string match = std::string("_BOOT_ID=") + sd_id128_to_string(boot_id, text);
    r = sd_journal_add_match(journal.get(), match.data(), match.size());
    if (r < 0) return journal_error("sd_journal_add_match", r);
  }

  std::vector<UnlockRecord> records;
  int r = 0;
  while ((r = sd_journal_next(journal.get())) > 0) {
    std::uint64_t realtime = 0;
    if (sd_journal_get_realtime_usec(journal.get(), &realtime) < 0) realtime = 0;
    auto record = unlock_record_from_fields(entry_fields(journal.get()), realtime);
    if (record.ok()) records.push_back(std::move(record).value());
  }
  if (r < 0) return journal_error("sd_journal_next", r);
  return records;
}

}  // namespace ccfde::agent

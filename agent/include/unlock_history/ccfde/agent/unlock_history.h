// SPDX-License-Identifier: Apache-2.0
// What the system remembers about cc-fde's unlocks, for `fdectl status`: the volume outcome entries
// fde-agent wrote to the journal (logging.h), read back, and the state of the cc-fde units asked
// from systemd over D-Bus.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/agent/logging.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

// One volume outcome entry read back from the journal.
struct UnlockRecord {
  VolumeOutcome outcome = VolumeOutcome::kFailed;
  std::string device;
  std::string volume_uuid;
  std::string mapping;
  std::string profile;
  std::string resource;
  std::string error_code;  // error_code_name, "" on success
  std::string error;
  std::optional<std::uint64_t> duration_ms;
  std::uint64_t realtime_usec = 0;  // __REALTIME_TIMESTAMP
  std::string message;
};

// Builds a record from one entry's fields (name -> value). Errors: kMalformed when MESSAGE_ID is
// not a volume outcome id, CCFDE_OUTCOME is missing/unknown or disagrees with the MESSAGE_ID, or
// CCFDE_VOLUME_UUID is missing, or CCFDE_DURATION_MS is not a number.
Result<UnlockRecord> unlock_record_from_fields(const std::map<std::string, std::string>& fields,
                                               std::uint64_t realtime_usec);

// The newest record per volume UUID (by realtime_usec; among equal times the later one in
// `records`), sorted by UUID.
std::vector<UnlockRecord> latest_per_volume(std::vector<UnlockRecord> records);

struct JournalQuery {
  std::filesystem::path directory;  // "" = the system journal (sd_journal_open, SD_JOURNAL_SYSTEM)
  bool current_boot_only = true;    // match _BOOT_ID of the running system
};

// Every volume outcome entry the agent wrote (matching the four volume MESSAGE_IDs), oldest first;
// entries that do not parse are skipped. Errors: kNotFound (no journal: the directory, or
// /var/log/journal and /run/log/journal, are absent), kIoError (sd_journal calls failed, naming the
// call and errno).
Result<std::vector<UnlockRecord>> read_unlock_records(const JournalQuery& query = {});

// The state of one systemd unit, as ListUnitsByPatterns reports it.
struct UnitState {
  std::string name;
  std::string description;
  std::string load_state;
  std::string active_state;
  std::string sub_state;
};

// fde-agent.service and every cc-fde*.service systemd knows, asked over the system bus (5 s
// timeout). fde-agent.service is always in the list: when systemd does not list it, it is reported
// as "not-loaded". Errors: kUnsupported (no system bus, or systemd did not answer),
// kMalformedResponse (the reply is not ListUnitsByPatterns' a(ssssssouso)).
Result<std::vector<UnitState>> read_cc_fde_units();

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// fdectl status: what cc-fde did on this boot. Each cc-fde volume with the outcome of its last
// unlock, read back from the journal entries fde-agent wrote (report.h), the state of the
// cc-fde units (fde-agent.service, cc-fde*.service) asked from systemd over D-Bus, and each active
// cc-fde mapping with whether fde-agent or the token plugin opened it (their unlock marks in /run,
// the agent's journal entries) or it was "opened outside the broker" (crypt_mappings.h).
#pragma once

namespace ccfde::fdectl {

struct StatusOptions {
  bool json = false;
};

// Prints the status on stdout (text, or one JSON object with --json:
//   {"volumes": [{"uuid", "outcome", "device", "mapping", "profile", "resource", "error_code",
//                 "error", "duration_ms", "time", "time_usec"}...] | null,
//    "volumes_error": null | "why the journal could not be read",
//    "mappings": [{"name", "uuid", "device",
//                  "origin": "agent"|"token-plugin"|"outside-broker"|"unknown",
//                  "opened_outside_broker": bool, "error": null | "why unknown"}...] | null,
//    "mappings_error": null | "why the mappings could not be listed",
//    "unlock_marks_error": null | "why /run/cc-fde/unlocks could not be read",
//    "unlock_marks_ignored": ["a file there that is not a valid mark of this boot, and why"...],
//    "units": [{"name", "description", "load_state", "active_state", "sub_state"}...] | null,
//    "units_error": null | "why systemd could not be asked"}).
// A mapping opened outside the broker is reported, not failed: it is how an operator's rescue
// (`cryptsetup open` with a recovery key) looks too.
// A source that is unavailable (no journal, no system bus: a container, an initrd without D-Bus)
// is reported as such and is not an error. Exit status: 0 nothing failed as far as can be seen;
// 1 some volume's last unlock failed or a cc-fde unit is in the "failed" state; 2 the output
// could not be written.
int run_status(const StatusOptions& options);

}  // namespace ccfde::fdectl

// SPDX-License-Identifier: Apache-2.0
// Loading event logs for `eventlog` and `replay`: from a file, or from the platform.
#pragma once

#include <optional>
#include <string>

#include "ccfde/measure/ima_log.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::cc_measure {

struct LoadedEventLog {
  std::string origin;  // the file or platform path it came from
  measure::TcgEventLog log;
  // A CCEL (firmware log of RTMRs, header pcrIndex 1) or a TPM2 log (PCRs, header pcrIndex 0).
  bool is_tpm_log = false;
};

// `file`, or when empty the platform's CCEL data, else its TPM2 log. Errors name the origin.
Result<LoadedEventLog> load_event_log(const std::string& file, const measure::PlatformPaths& paths);

// An IMA list from `file` (ascii when it is text, else binary with SHA-1 template hashes).
Result<measure::ImaLog> load_ima_log(const std::string& file);

}  // namespace ccfde::cc_measure

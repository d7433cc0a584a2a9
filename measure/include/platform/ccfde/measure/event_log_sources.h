// SPDX-License-Identifier: Apache-2.0
// Raw event-log bytes from the guest (docs/reference/MEASUREMENT-FORMATS.md §1.6). Only reading:
// the eventlog/ parsers interpret them.
#pragma once

#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/platform.h"

namespace ccfde::measure {

enum class EventLogKind {
  kCcelTable,  // ACPI CCEL table (56 bytes)
  kCcelData,   // CCEL log area (LAML bytes, 0xFF padded)
  kTpm2,       // TPM2 binary_bios_measurements
  kImaAscii,   // IMA ascii_runtime_measurements
  kImaBinary,  // IMA binary_runtime_measurements
};

// "ccel_table", "ccel_data", "tpm2_event_log", "ima_ascii", "ima_binary".
std::string_view event_log_kind_name(EventLogKind kind) noexcept;

// The path `paths` configures for `kind`.
const std::filesystem::path& event_log_path(const PlatformPaths& paths, EventLogKind kind) noexcept;

// The whole file for `kind`. kNotFound (message names the kind and the path) when absent,
// kIoError on read errors (e.g. EACCES: these files are root-only), kInvalidArgument when the file
// exceeds 256 MiB.
Result<Bytes> read_event_log(const PlatformPaths& paths, EventLogKind kind);

}  // namespace ccfde::measure

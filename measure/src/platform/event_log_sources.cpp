// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/event_log_sources.h"

#include "ccfde/common/file_io.h"

namespace ccfde::measure {
namespace {

constexpr std::size_t kEventLogMax = std::size_t{256} << 20;

}  // namespace

std::string_view event_log_kind_name(EventLogKind kind) noexcept {
  switch (kind) {
    case EventLogKind::kCcelTable: return "ccel_table";
    case EventLogKind::kCcelData: return "ccel_data";
    case EventLogKind::kTpm2: return "tpm2_event_log";
    case EventLogKind::kImaAscii: return "ima_ascii";
    case EventLogKind::kImaBinary: return "ima_binary";
  }
  return "unknown";
}

const std::filesystem::path& event_log_path(const PlatformPaths& paths,
                                            EventLogKind kind) noexcept {
  switch (kind) {
    case EventLogKind::kCcelTable: return paths.ccel_table;
    case EventLogKind::kCcelData: return paths.ccel_data;
    case EventLogKind::kTpm2: return paths.tpm2_event_log;
    case EventLogKind::kImaAscii: return paths.ima_ascii_list;
    case EventLogKind::kImaBinary: return paths.ima_binary_list;
  }
  return paths.ccel_data;
}

Result<Bytes> read_event_log(const PlatformPaths& paths, EventLogKind kind) {
  auto bytes = read_file(event_log_path(paths, kind), kEventLogMax);
  if (!bytes.ok()) return bytes.status().with_context(event_log_kind_name(kind));
  return bytes;
}

}  // namespace ccfde::measure

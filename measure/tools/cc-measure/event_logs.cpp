// SPDX-License-Identifier: Apache-2.0
#include "event_logs.h"

#include <algorithm>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/event_log_sources.h"

namespace ccfde::cc_measure {
namespace {

// Firmware event logs are at most a few MiB (the CCEL area is 64 KiB to 1 MiB).
constexpr std::size_t kMaxEventLogSize = std::size_t{64} << 20;

Result<LoadedEventLog> parse_loaded(const Bytes& bytes, std::string origin) {
  auto log = measure::parse_tcg_event_log(bytes);
  if (!log.ok()) return log.status().with_context(origin);
  LoadedEventLog loaded{std::move(origin), std::move(log).value(), false};
  // The Spec ID header sits in PCR 0 in TPM logs and in CC MR 1 (RTMR0) in the CCEL.
  loaded.is_tpm_log = loaded.log.header.register_index == 0;
  return loaded;
}

}  // namespace

Result<LoadedEventLog> load_event_log(const std::string& file,
                                      const measure::PlatformPaths& paths) {
  if (!file.empty()) {
    CCFDE_ASSIGN_OR_RETURN(auto bytes, read_file(file, kMaxEventLogSize));
    return parse_loaded(bytes, file);
  }
  auto ccel = measure::read_event_log(paths, measure::EventLogKind::kCcelData);
  if (ccel.ok()) return parse_loaded(*ccel, paths.ccel_data.string());
  auto tpm = measure::read_event_log(paths, measure::EventLogKind::kTpm2);
  if (tpm.ok()) return parse_loaded(*tpm, paths.tpm2_event_log.string());
  return make_error(ErrorCode::kNotFound,
                    "no platform event log: neither the CCEL ({}) nor a TPM2 log ({}) is readable "
                    "(pass a FILE)",
                    paths.ccel_data.string(), paths.tpm2_event_log.string());
}

Result<measure::ImaLog> load_ima_log(const std::string& file) {
  CCFDE_ASSIGN_OR_RETURN(auto bytes, read_file(file, kMaxEventLogSize));
  const bool is_text = std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t byte) {
    return byte == '\n' || byte == '\t' || (byte >= 0x20 && byte < 0x7f);
  });
  auto log = is_text ? measure::parse_ima_ascii(as_chars(bytes))
                     : measure::parse_ima_binary(bytes, DigestAlgorithm::kSha1);
  if (!log.ok()) return log.status().with_context(file);
  return log;
}

}  // namespace ccfde::cc_measure

// SPDX-License-Identifier: Apache-2.0
// Which cc-fde mappings the agent opened itself (crypt_mappings.h).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "ccfde/agent/crypt_mappings.h"

namespace ccfde::agent {
namespace {

bool same_uuid(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string_view mapping_origin_name(MappingOrigin origin) noexcept {
  switch (origin) {
    case MappingOrigin::kAgent: return "opened by fde-agent";
    case MappingOrigin::kOutsideBroker: return "opened outside the broker";
    case MappingOrigin::kUnknown: break;
  }
  return "unknown";
}

bool opened_by_agent(const CryptMapping& mapping, const std::vector<UnlockRecord>& records) {
  return std::any_of(records.begin(), records.end(), [&](const UnlockRecord& record) {
    return record.outcome == VolumeOutcome::kUnlocked && record.mapping == mapping.name &&
           same_uuid(record.volume_uuid, mapping.luks_uuid);
  });
}

Result<std::vector<MappingReport>> cc_fde_mappings(const CryptMappingSource& source,
                                                   const std::vector<UnlockRecord>& records) {
  CCFDE_ASSIGN_OR_RETURN(auto mappings, source.crypt_mappings());
  std::vector<MappingReport> reports;
  for (CryptMapping& mapping : mappings) {
    MappingReport report;
    auto bound = source.carries_cc_fde_token(mapping.device);
    if (!bound.ok()) {
      report.origin = MappingOrigin::kUnknown;
      report.error = bound.status();
    } else if (!*bound) {
      continue;
    } else {
      report.origin =
          opened_by_agent(mapping, records) ? MappingOrigin::kAgent : MappingOrigin::kOutsideBroker;
    }
    report.mapping = std::move(mapping);
    reports.push_back(std::move(report));
  }
  return reports;
}

int warn_opened_outside_broker(const CryptMappingSource& source,
                               const Result<std::vector<UnlockRecord>>& records,
                               Reporter& reporter) {
  static const std::vector<UnlockRecord> kNone;
  auto reports = cc_fde_mappings(source, records.ok() ? *records : kNone);
  if (!reports.ok()) {
    reporter.log(LogLevel::kInfo,
                 fmt::format("not checking for mappings opened outside the broker: {}",
                             reports.status().to_string()));
    return 0;
  }
  if (reports->empty()) return 0;
  if (!records.ok()) {
    reporter.log(LogLevel::kInfo,
                 fmt::format("not checking whether fde-agent opened the {} active cc-fde "
                             "mapping(s): its unlock entries cannot be read ({})",
                             reports->size(), records.status().to_string()));
    return 0;
  }
  int outside = 0;
  for (const MappingReport& report : *reports) {
    const CryptMapping& mapping = report.mapping;
    switch (report.origin) {
      case MappingOrigin::kAgent: break;
      case MappingOrigin::kOutsideBroker:
        reporter.opened_outside_broker({mapping.name, mapping.luks_uuid, mapping.device.string()});
        ++outside;
        break;
      case MappingOrigin::kUnknown:
        reporter.log(LogLevel::kWarning,
                     fmt::format("cannot tell whether mapping {} (uuid {}) is a cc-fde volume: {}",
                                 mapping.name, mapping.luks_uuid,
                                 report.error ? report.error->to_string() : "unknown"));
        break;
    }
  }
  return outside;
}

}  // namespace ccfde::agent

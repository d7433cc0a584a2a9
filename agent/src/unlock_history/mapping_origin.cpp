// SPDX-License-Identifier: Apache-2.0
// Which cc-fde mappings the agent or the token plugin opened (crypt_mappings.h).
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
    case MappingOrigin::kTokenPlugin: return "opened by the token plugin";
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

MappingOrigin mapping_origin(const CryptMapping& mapping, const std::vector<UnlockRecord>& records,
                             const std::vector<UnlockMark>& marks) {
  const auto by = [&](UnlockOpener opener) {
    return std::any_of(marks.begin(), marks.end(), [&](const UnlockMark& mark) {
      return mark.opened_by == opener && same_uuid(mark.luks_uuid, mapping.luks_uuid) &&
             (opener == UnlockOpener::kTokenPlugin || mark.mapping == mapping.name);
    });
  };
  if (by(UnlockOpener::kAgent) || opened_by_agent(mapping, records)) return MappingOrigin::kAgent;
  if (by(UnlockOpener::kTokenPlugin)) return MappingOrigin::kTokenPlugin;
  return MappingOrigin::kOutsideBroker;
}

Result<std::vector<MappingReport>> cc_fde_mappings(const CryptMappingSource& source,
                                                   const std::vector<UnlockRecord>& records,
                                                   const std::vector<UnlockMark>& marks) {
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
      report.origin = mapping_origin(mapping, records, marks);
    }
    report.mapping = std::move(mapping);
    reports.push_back(std::move(report));
  }
  return reports;
}

int warn_opened_outside_broker(const CryptMappingSource& source,
                               const Result<std::vector<UnlockRecord>>& records,
                               const Result<UnlockMarks>& marks, Reporter& reporter) {
  static const std::vector<UnlockRecord> kNoRecords;
  static const std::vector<UnlockMark> kNoMarks;
  auto reports = cc_fde_mappings(source, records.ok() ? *records : kNoRecords,
                                 marks.ok() ? marks->marks : kNoMarks);
  if (!reports.ok()) {
    reporter.log(LogLevel::kInfo,
                 fmt::format("not checking for mappings opened outside the broker: {}",
                             reports.status().to_string()));
    return 0;
  }
  if (reports->empty()) return 0;
  if (!records.ok() && !marks.ok()) {
    reporter.log(
        LogLevel::kInfo,
        fmt::format("not checking whether fde-agent opened the {} active cc-fde "
                    "mapping(s): neither its unlock marks ({}) nor its journal entries "
                    "({}) can be read",
                    reports->size(), marks.status().to_string(), records.status().to_string()));
    return 0;
  }
  if (!marks.ok()) {
    reporter.log(LogLevel::kInfo, fmt::format("unlock marks not used: {}; comparing with the "
                                              "journal entries of fde-agent only",
                                              marks.status().to_string()));
  } else {
    for (const Status& ignored : marks->ignored) {
      reporter.log(LogLevel::kWarning, "ignoring an unlock mark: " + ignored.to_string());
    }
  }
  int outside = 0;
  for (const MappingReport& report : *reports) {
    const CryptMapping& mapping = report.mapping;
    switch (report.origin) {
      case MappingOrigin::kAgent:
      case MappingOrigin::kTokenPlugin: break;
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

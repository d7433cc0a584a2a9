// SPDX-License-Identifier: Apache-2.0
// fdectl status: last unlock outcomes from the journal, the cc-fde units' states (unlock_history.h)
// and the active cc-fde mappings with who opened them (crypt_mappings.h).
#include "status.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/agent/crypt_mappings.h"
#include "ccfde/agent/unlock_history.h"
#include "ccfde/agent/unlock_marks.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::fdectl {
namespace {

std::string format_time(std::uint64_t realtime_usec, bool utc_iso) {
  const auto seconds = static_cast<std::time_t>(realtime_usec / 1'000'000);
  std::tm tm{};
  if ((utc_iso ? gmtime_r(&seconds, &tm) : localtime_r(&seconds, &tm)) == nullptr) return "";
  char text[64];
  const char* format = utc_iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S";
  if (std::strftime(text, sizeof text, format, &tm) == 0) return "";
  return text;
}

nlohmann::json to_json(const agent::UnlockRecord& record) {
  nlohmann::json out = {
      {"uuid", record.volume_uuid},       {"outcome", agent::volume_outcome_name(record.outcome)},
      {"device", record.device},          {"mapping", record.mapping},
      {"profile", record.profile},        {"resource", record.resource},
      {"error_code", record.error_code},  {"error", record.error},
      {"duration_ms", nullptr},           {"time", format_time(record.realtime_usec, true)},
      {"time_usec", record.realtime_usec}};
  if (record.duration_ms) out["duration_ms"] = *record.duration_ms;
  return out;
}

nlohmann::json to_json(const agent::UnitState& unit) {
  return {{"name", unit.name},
          {"description", unit.description},
          {"load_state", unit.load_state},
          {"active_state", unit.active_state},
          {"sub_state", unit.sub_state}};
}

std::string_view origin_key(agent::MappingOrigin origin) {
  switch (origin) {
    case agent::MappingOrigin::kAgent: return "agent";
    case agent::MappingOrigin::kTokenPlugin: return "token-plugin";
    case agent::MappingOrigin::kOutsideBroker: return "outside-broker";
    case agent::MappingOrigin::kUnknown: break;
  }
  return "unknown";
}

nlohmann::json to_json(const agent::MappingReport& report) {
  return {{"name", escape_nonprintable(report.mapping.name)},
          {"uuid", report.mapping.luks_uuid},
          {"device", escape_nonprintable(report.mapping.device.string())},
          {"origin", origin_key(report.origin)},
          {"opened_outside_broker", report.origin == agent::MappingOrigin::kOutsideBroker},
          {"error", report.error ? nlohmann::json(escape_nonprintable(report.error->to_string()))
                                 : nlohmann::json(nullptr)}};
}

// Journal text can hold anything the writer put there; the terminal gets printable text only.
std::string shown(std::string_view text) {
  return text.empty() ? "-" : escape_nonprintable(text);
}

void print_mappings(const Result<std::vector<agent::MappingReport>>& mappings,
                    const Result<agent::UnlockMarks>& marks) {
  std::printf(
      "Mappings (active cc-fde volumes; this boot's unlocks from the unlock marks in /run and the "
      "journal):\n");
  if (!marks.ok()) {
    std::printf("  unlock marks unavailable: %s\n", shown(marks.status().to_string()).c_str());
  } else {
    for (const Status& ignored : marks->ignored) {
      std::printf("  ignored unlock mark: %s\n", shown(ignored.to_string()).c_str());
    }
  }
  if (!mappings.ok()) {
    std::printf("  unavailable: %s\n", mappings.status().to_string().c_str());
    return;
  }
  if (mappings->empty()) std::printf("  no active cc-fde mapping\n");
  for (const auto& report : *mappings) {
    const std::string origin =
        report.origin == agent::MappingOrigin::kOutsideBroker
            ? "OPENED OUTSIDE THE BROKER (neither fde-agent nor the token plugin unlocked it this "
              "boot)"
            : std::string(agent::mapping_origin_name(report.origin));
    std::printf("  %s  %s  device %s: %s\n", shown(report.mapping.name).c_str(),
                shown(report.mapping.luks_uuid).c_str(),
                shown(report.mapping.device.string()).c_str(), origin.c_str());
    if (report.error) std::printf("    error: %s\n", shown(report.error->to_string()).c_str());
  }
}

void print_text(const Result<std::vector<agent::UnlockRecord>>& volumes,
                const Result<std::vector<agent::UnitState>>& units) {
  std::printf("Volumes (last unlock outcome this boot, from the journal):\n");
  if (!volumes.ok()) {
    std::printf("  unavailable: %s\n", volumes.status().to_string().c_str());
  } else if (volumes->empty()) {
    std::printf("  no fde-agent unlock entries in this boot's journal\n");
  } else {
    for (const auto& record : *volumes) {
      std::printf("  %s  %s\n", shown(record.volume_uuid).c_str(),
                  std::string(agent::volume_outcome_name(record.outcome)).c_str());
      std::printf("    device %s, mapping %s, profile %s, resource %s\n",
                  shown(record.device).c_str(), shown(record.mapping).c_str(),
                  shown(record.profile).c_str(), shown(record.resource).c_str());
      std::string when = format_time(record.realtime_usec, false);
      if (record.duration_ms) when += fmt::format(", took {} ms", *record.duration_ms);
      std::printf("    at %s\n", when.c_str());
      if (!record.error_code.empty() || !record.error.empty()) {
        std::printf("    error: %s: %s\n", shown(record.error_code).c_str(),
                    shown(record.error).c_str());
      }
    }
  }
  std::printf("Units:\n");
  if (!units.ok()) {
    std::printf("  unavailable: %s\n", units.status().to_string().c_str());
  } else {
    for (const auto& unit : *units) {
      std::printf("  %-28s %s (%s)%s\n", shown(unit.name).c_str(), shown(unit.active_state).c_str(),
                  shown(unit.sub_state).c_str(),
                  unit.load_state == "loaded" ? "" : (" " + shown(unit.load_state)).c_str());
    }
  }
}

}  // namespace

int run_status(const StatusOptions& options) {
  try {
    const Result<std::vector<agent::UnlockRecord>> records = agent::read_unlock_records();
    Result<std::vector<agent::UnlockRecord>> volumes = records;
    if (volumes.ok()) volumes = agent::latest_per_volume(std::move(volumes).value());
    const Result<std::vector<agent::UnitState>> units = agent::read_cc_fde_units();
    const Result<agent::UnlockMarks> marks = agent::read_unlock_marks();
    const auto source = agent::make_sysfs_crypt_mapping_source();
    Result<std::vector<agent::MappingReport>> mappings = agent::cc_fde_mappings(
        *source, records.ok() ? *records : std::vector<agent::UnlockRecord>{},
        marks.ok() ? marks->marks : std::vector<agent::UnlockMark>{});
    if (mappings.ok() && !records.ok() && !marks.ok()) {
      // Nothing to compare with: whether the agent opened them is unknown.
      for (auto& report : *mappings) {
        if (report.origin != agent::MappingOrigin::kOutsideBroker) continue;
        report.origin = agent::MappingOrigin::kUnknown;
        report.error = marks.status().with_context(fmt::format(
            "the agent's journal entries: {}; its unlock marks", records.status().to_string()));
      }
    }

    bool failed = false;
    if (volumes.ok()) {
      for (const auto& record : *volumes) {
        failed = failed || record.outcome == agent::VolumeOutcome::kFailed;
      }
    }
    if (units.ok()) {
      for (const auto& unit : *units) failed = failed || unit.active_state == "failed";
    }

    if (options.json) {
      nlohmann::json out = {{"volumes", nullptr},
                            {"volumes_error", nullptr},
                            {"mappings", nullptr},
                            {"mappings_error", nullptr},
                            {"unlock_marks_error", nullptr},
                            {"unlock_marks_ignored", nlohmann::json::array()},
                            {"units", nullptr},
                            {"units_error", nullptr}};
      if (volumes.ok()) {
        out["volumes"] = nlohmann::json::array();
        for (const auto& record : *volumes) out["volumes"].push_back(to_json(record));
      } else {
        out["volumes_error"] = volumes.status().to_string();
      }
      if (mappings.ok()) {
        out["mappings"] = nlohmann::json::array();
        for (const auto& report : *mappings) out["mappings"].push_back(to_json(report));
      } else {
        out["mappings_error"] = mappings.status().to_string();
      }
      if (marks.ok()) {
        for (const Status& ignored : marks->ignored) {
          out["unlock_marks_ignored"].push_back(escape_nonprintable(ignored.to_string()));
        }
      } else {
        out["unlock_marks_error"] = escape_nonprintable(marks.status().to_string());
      }
      if (units.ok()) {
        out["units"] = nlohmann::json::array();
        for (const auto& unit : *units) out["units"].push_back(to_json(unit));
      } else {
        out["units_error"] = units.status().to_string();
      }
      const std::string text =
          out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      std::fputs(text.c_str(), stdout);
    } else {
      print_text(volumes, units);
      print_mappings(mappings, marks);
    }
    if (std::fflush(stdout) != 0) return 2;
    return failed ? 1 : 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fdectl: status: internal error: %s\n", error.what());
    return 2;
  }
}

}  // namespace ccfde::fdectl

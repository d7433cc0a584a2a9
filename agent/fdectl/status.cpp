// SPDX-License-Identifier: Apache-2.0
// fdectl status: last unlock outcomes from the journal and the cc-fde units' states
// (unlock_history.h).
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

#include "ccfde/agent/unlock_history.h"
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

// Journal text can hold anything the writer put there; the terminal gets printable text only.
std::string shown(std::string_view text) {
  return text.empty() ? "-" : escape_nonprintable(text);
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
    Result<std::vector<agent::UnlockRecord>> volumes = agent::read_unlock_records();
    if (volumes.ok()) volumes = agent::latest_per_volume(std::move(volumes).value());
    const Result<std::vector<agent::UnitState>> units = agent::read_cc_fde_units();

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
                            {"units", nullptr},
                            {"units_error", nullptr}};
      if (volumes.ok()) {
        out["volumes"] = nlohmann::json::array();
        for (const auto& record : *volumes) out["volumes"].push_back(to_json(record));
      } else {
        out["volumes_error"] = volumes.status().to_string();
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
    }
    if (std::fflush(stdout) != 0) return 2;
    return failed ? 1 : 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fdectl: status: internal error: %s\n", error.what());
    return 2;
  }
}

}  // namespace ccfde::fdectl

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/devkbs/first_boot.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::devkbs {

Result<FirstBootRecord> parse_first_boot_record(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return make_error(ErrorCode::kMalformed, "not JSON");
  if (!json.is_object()) {
    return make_error(ErrorCode::kMalformed,
                      "expected {{\"id\": <first-boot id, optional>, \"established\": <bool>}}");
  }
  FirstBootRecord record;
  bool has_established = false;
  for (const auto& [key, value] : json.items()) {
    if (key == "established") {
      if (!value.is_boolean()) {
        return make_error(ErrorCode::kMalformed, "\"established\" must be a boolean");
      }
      record.established = value.get<bool>();
      has_established = true;
    } else if (key == "id") {
      if (!value.is_string() || !measure::is_first_boot_id(value.get_ref<const std::string&>())) {
        return make_error(ErrorCode::kMalformed,
                          "\"id\" must be a string of {} lowercase hex digits",
                          measure::kFirstBootIdSize);
      }
      record.id = value.get<std::string>();
    } else {
      return make_error(ErrorCode::kMalformed, "unknown member \"{}\"", escape_nonprintable(key));
    }
  }
  if (!has_established) return make_error(ErrorCode::kMalformed, "\"established\" is missing");
  return record;
}

std::string first_boot_record_text(const FirstBootRecord& record) {
  nlohmann::json json = {{"established", record.established}};
  if (record.id) json["id"] = *record.id;
  return json.dump() + "\n";
}

Result<FirstBootRecord> admit_first_boot(const std::optional<FirstBootRecord>& current,
                                         const AttestedClaims& claims,
                                         std::string_view resource_path) {
  FirstBootRecord next = current.value_or(FirstBootRecord{});
  if (claims.first_boot_id && claims.conflicting_first_boot_id) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: provisioner resource {}: the runtime log holds two "
                      "first-boot events with different ids ({} and {})",
                      resource_path, *claims.first_boot_id, *claims.conflicting_first_boot_id);
  }
  if (!claims.first_boot_id) {
    next.established = true;
    return next;
  }
  const std::string& id = *claims.first_boot_id;
  if (next.established) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: provisioner resource {}: first boot {} is refused: "
                      "the VM already completed its first boot and unlocked its volume normally; a "
                      "blank volume at a later boot is not a first boot",
                      resource_path, id);
  }
  if (next.id && *next.id != id) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: provisioner resource {}: first boot {} was already "
                      "started for this VM; a new first-boot id {} is refused",
                      resource_path, *next.id, id);
  }
  next.id = id;
  return next;
}

}  // namespace ccfde::devkbs

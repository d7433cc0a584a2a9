// SPDX-License-Identifier: Apache-2.0
#include "ccfde/devkbs/policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::devkbs {
namespace {

constexpr std::string_view kInitramfsWindow = "initramfs";
constexpr std::string_view kAfterInitramfsWindow = "after_initramfs";

// Reference values each TEE knows, with their sizes.
std::optional<std::size_t> reference_value_size(measure::TeeKind tee, std::string_view name) {
  if (tee == measure::TeeKind::kTdx) {
    if (name == "mr_td" || name == "mr_config_id" || name == "rtmr0" || name == "rtmr1" ||
        name == "rtmr2" || name == "rtmr3") {
      return 48;
    }
  } else if (tee == measure::TeeKind::kSnp) {
    if (name == "measurement") return 48;
    if (name == "host_data") return 32;
  }
  return std::nullopt;
}

Result<ResourcePolicyEntry> parse_entry(const std::string& path, const nlohmann::json& json) {
  if (!json.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "policy for \"{}\": expected an object", path);
  }
  ResourcePolicyEntry entry;
  for (const auto& [key, value] : json.items()) {
    if (key == "tees") {
      if (!value.is_array()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"tees\" must be an array of strings", path);
      }
      for (const auto& tee : value) {
        const auto kind =
            tee.is_string() ? measure::parse_attesting_tee(tee.get<std::string>()) : std::nullopt;
        if (!kind) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": unknown TEE {} (expected tdx, snp or sample)", path,
                            tee.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
        entry.tees.push_back(*kind);
      }
    } else if (key == "allow_debug") {
      if (!value.is_boolean()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"allow_debug\" must be a boolean", path);
      }
      entry.allow_debug = value.get<bool>();
    } else if (key == "release_window") {
      const std::string window = value.is_string() ? value.get<std::string>() : std::string();
      if (window == kInitramfsWindow) {
        entry.release_window = ReleaseWindow::kInitramfs;
      } else if (window == kAfterInitramfsWindow) {
        entry.release_window = ReleaseWindow::kAfterInitramfs;
      } else {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": unknown release_window {} (expected \"{}\" or "
                          "\"{}\")",
                          path,
                          value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                          kInitramfsWindow, kAfterInitramfsWindow);
      }
    } else if (key == "init_data") {
      if (!value.is_object()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"init_data\" must be an object of strings", path);
      }
      for (const auto& [name, required] : value.items()) {
        if (!required.is_string()) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": init_data.{} must be a string", path, name);
        }
        entry.init_data[name] = required.get<std::string>();
      }
    } else if (const auto tee = measure::parse_tee_kind(key);
               tee == measure::TeeKind::kTdx || tee == measure::TeeKind::kSnp) {
      if (!value.is_object()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"{}\" must be an object", path, key);
      }
      auto& values = entry.reference_values[*tee];
      for (const auto& [name, hex] : value.items()) {
        const auto size = reference_value_size(*tee, name);
        if (!size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": unknown {} reference value \"{}\"", path, key,
                            name);
        }
        const bool listed = hex.is_array();
        if (!hex.is_string() && !(listed && !hex.empty())) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": {}.{} must be a hex string or a non-empty array "
                            "of them",
                            path, key, name);
        }
        std::vector<Bytes> accepted;
        for (const auto& element : listed ? hex : nlohmann::json::array({hex})) {
          auto bytes = element.is_string() ? hex_decode(element.get<std::string>())
                                           : Result<Bytes>(make_error(ErrorCode::kMalformed, ""));
          if (!bytes.ok() || bytes->size() != *size) {
            return make_error(ErrorCode::kInvalidArgument,
                              "policy for \"{}\": {}.{}{} must be {} bytes of hex", path, key, name,
                              listed ? fmt::format("[{}]", accepted.size()) : std::string(), *size);
          }
          accepted.push_back(std::move(*bytes));
        }
        values[name] = std::move(accepted);
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument, "policy for \"{}\": unknown member \"{}\"",
                        path, key);
    }
  }
  return entry;
}

// The "initramfs" window: the replayed log must not show the phase-end event (TDX), or the
// request must come from the first session of its launch (SEV-SNP).
Status check_initramfs_window(const std::string& resource_path, const AttestedClaims& claims,
                              SnpLaunchWindows* launches, std::string_view session_id) {
  const auto deny = [&](std::string_view reason) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: resource {} is released only during the "
                      "initramfs unlock phase, and {}",
                      resource_path, reason);
  };
  if (claims.tee == measure::TeeKind::kTdx) {
    if (!claims.event_log_replayed) {
      return deny(
          "the tdx evidence cannot show that the initramfs unlock phase is still open: the "
          "evidence has no runtime event log");
    }
    if (claims.phase_end_event) {
      return deny(fmt::format("the runtime event log shows '{}' (RTMR3 event {})",
                              measure::kPhaseEndEventText, *claims.phase_end_event));
    }
    return Status::ok_status();
  }
  if (claims.tee == measure::TeeKind::kSnp) {
    if (claims.snp_report_id.empty()) {
      return deny("the snp evidence carries no REPORT_ID to tell its launch apart");
    }
    if (claims.snp_migrate_ma) {
      return deny(
          "the SNP guest policy allows a migration agent (POLICY.MIGRATE_MA), so the launch's "
          "REPORT_ID can change and cannot bound the window");
    }
    if (launches == nullptr) {
      return deny("this broker keeps no per-launch record for SEV-SNP");
    }
    return launches->claim(claims.snp_report_id, session_id, resource_path);
  }
  return deny(fmt::format("{} evidence has no event log to show that the phase is still open",
                          measure::tee_kind_name(claims.tee)));
}

// The "after_initramfs" window: the replayed TDX log must show the phase-end event.
Status check_after_initramfs_window(const std::string& resource_path,
                                    const AttestedClaims& claims) {
  const auto deny = [&](std::string_view reason) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: resource {} is released only after the initramfs "
                      "unlock phase, and {}",
                      resource_path, reason);
  };
  if (claims.tee == measure::TeeKind::kTdx) {
    if (!claims.event_log_replayed) {
      return deny(fmt::format("the evidence has no runtime event log to show '{}'",
                              measure::kPhaseEndEventText));
    }
    if (!claims.phase_end_event) {
      return deny(fmt::format("the replayed runtime event log has no '{}' event",
                              measure::kPhaseEndEventText));
    }
    return Status::ok_status();
  }
  if (claims.tee == measure::TeeKind::kSnp) {
    return deny(
        fmt::format("SEV-SNP evidence has no runtime-extendable register that could show '{}'",
                    measure::kPhaseEndEventText));
  }
  return deny(fmt::format("{} evidence has no event log to show '{}'",
                          measure::tee_kind_name(claims.tee), measure::kPhaseEndEventText));
}

}  // namespace

void add_replayed_log_claims(std::span<const measure::TcgEvent> events, AttestedClaims& claims) {
  claims.event_log_replayed = true;
  for (const auto& event : events) {
    const auto text = measure::verified_aael_text(event);
    if (!text) continue;
    if (*text == measure::kPhaseEndEventText && !claims.phase_end_event) {
      claims.phase_end_event = event.index;
    }
    auto id = measure::first_boot_id_of(*text);
    if (!id) continue;
    if (!claims.first_boot_id) {
      claims.first_boot_id = std::move(id);
    } else if (*id != *claims.first_boot_id && !claims.conflicting_first_boot_id) {
      claims.conflicting_first_boot_id = std::move(id);
    }
  }
}

SnpLaunchWindows::SnpLaunchWindows(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)) {}

Status SnpLaunchWindows::claim(std::span<const std::uint8_t> report_id, std::string_view session_id,
                               std::string_view resource_path) {
  if (report_id.empty() || session_id.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "SNP launch window: a REPORT_ID and a session id are required");
  }
  Bytes key(report_id.begin(), report_id.end());
  const auto found = sessions_.find(key);
  if (found != sessions_.end()) {
    if (found->second == session_id) return Status::ok_status();
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: resource {} is released only during the "
                      "initramfs unlock phase, and an initramfs resource was already released to "
                      "launch REPORT_ID {} in an earlier session; a later request of the same "
                      "launch comes after the initramfs",
                      resource_path, hex_encode(key));
  }
  if (sessions_.size() >= capacity_) {
    sessions_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  sessions_.emplace(std::move(key), std::string(session_id));
  return Status::ok_status();
}

std::optional<std::string> SnpLaunchWindows::session_of(
    std::span<const std::uint8_t> report_id) const {
  const auto found = sessions_.find(Bytes(report_id.begin(), report_id.end()));
  if (found == sessions_.end()) return std::nullopt;
  return found->second;
}

Result<ResourcePolicy> parse_resource_policy(const nlohmann::json& document) {
  if (!document.is_object() || !document.contains("resources") ||
      !document["resources"].is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource policy: expected {{\"resources\": {{<path>: {{...}}}}}}");
  }
  for (const auto& [key, value] : document.items()) {
    if (key != "resources") {
      return make_error(ErrorCode::kInvalidArgument, "resource policy: unknown member \"{}\"", key);
    }
  }
  ResourcePolicy policy;
  for (const auto& [path, entry_json] : document["resources"].items()) {
    CCFDE_ASSIGN_OR_RETURN(auto entry, parse_entry(path, entry_json));
    policy.resources[path] = std::move(entry);
  }
  return policy;
}

nlohmann::json to_json(const ResourcePolicy& policy) {
  nlohmann::json resources = nlohmann::json::object();
  for (const auto& [path, entry] : policy.resources) {
    nlohmann::json tees = nlohmann::json::array();
    for (measure::TeeKind tee : entry.tees) tees.push_back(measure::tee_kind_name(tee));
    nlohmann::json json = {{"tees", std::move(tees)}, {"allow_debug", entry.allow_debug}};
    for (const auto& [tee, values] : entry.reference_values) {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& [name, accepted] : values) {
        if (accepted.size() == 1) {
          object[name] = hex_encode(accepted.front());
          continue;
        }
        nlohmann::json list = nlohmann::json::array();
        for (const Bytes& bytes : accepted) list.push_back(hex_encode(bytes));
        object[name] = std::move(list);
      }
      json[std::string(measure::tee_kind_name(tee))] = std::move(object);
    }
    if (!entry.init_data.empty()) json["init_data"] = entry.init_data;
    if (entry.release_window == ReleaseWindow::kInitramfs) {
      json["release_window"] = kInitramfsWindow;
    } else if (entry.release_window == ReleaseWindow::kAfterInitramfs) {
      json["release_window"] = kAfterInitramfsWindow;
    }
    resources[path] = std::move(json);
  }
  return {{"resources", std::move(resources)}};
}

Status evaluate_resource_policy(const ResourcePolicy& policy, const std::string& resource_path,
                                const AttestedClaims& claims, SnpLaunchWindows* launches,
                                std::string_view session_id) {
  auto found = policy.resources.find(resource_path);
  if (found == policy.resources.end()) found = policy.resources.find("*");
  if (found == policy.resources.end()) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: no policy entry for resource {}", resource_path);
  }
  const ResourcePolicyEntry& entry = found->second;
  const std::string_view tee = measure::tee_kind_name(claims.tee);
  if (std::find(entry.tees.begin(), entry.tees.end(), claims.tee) == entry.tees.end()) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: TEE {} may not fetch resource {}", tee,
                      resource_path);
  }
  if (claims.debug && !entry.allow_debug) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: the {} guest runs in debug mode", tee);
  }
  const auto values = entry.reference_values.find(claims.tee);
  if (values != entry.reference_values.end()) {
    // Every register that differs is named: a changed initrd moves RTMR2 and, through the boot
    // header QEMU patches, RTMR1 too, and the operator needs to see both.
    std::string differing;
    for (const auto& [name, accepted] : values->second) {
      const auto attested = claims.values.find(name);
      if (attested != claims.values.end() &&
          std::find(accepted.begin(), accepted.end(), attested->second) != accepted.end()) {
        continue;
      }
      std::string required = hex_encode(accepted.front());
      for (std::size_t i = 1; i < accepted.size(); ++i)
        required += " or " + hex_encode(accepted[i]);
      differing += fmt::format(
          "{}{} {} is {}, the policy requires {}", differing.empty() ? "" : "; ", tee, name,
          attested == claims.values.end() ? std::string("absent") : hex_encode(attested->second),
          required);
    }
    if (!differing.empty()) {
      return make_error(ErrorCode::kPolicyDenied, "Access denied by policy: {}", differing);
    }
  }
  for (const auto& [name, required] : entry.init_data) {
    if (!claims.init_data) {
      return make_error(ErrorCode::kPolicyDenied,
                        "Access denied by policy: resource {} requires init-data claim {}, and "
                        "the guest sent no init-data",
                        resource_path, name);
    }
    const auto presented = claims.init_data->find(name);
    if (presented == claims.init_data->end() || presented->second != required) {
      return make_error(ErrorCode::kPolicyDenied,
                        "Access denied by policy: init-data claim {} is {}, the policy requires "
                        "\"{}\"",
                        name,
                        presented == claims.init_data->end()
                            ? std::string("absent")
                            : "\"" + escape_nonprintable(presented->second) + "\"",
                        escape_nonprintable(required));
    }
  }
  switch (entry.release_window) {
    case ReleaseWindow::kAny: return Status::ok_status();
    case ReleaseWindow::kInitramfs:
      return check_initramfs_window(resource_path, claims, launches, session_id);
    case ReleaseWindow::kAfterInitramfs: return check_after_initramfs_window(resource_path, claims);
  }
  return make_error(ErrorCode::kInternal, "unknown release window");
}

}  // namespace ccfde::devkbs

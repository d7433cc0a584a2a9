#include "ccfde/devkbs/policy.h"

#include <fmt/format.h>

#include <algorithm>

namespace ccfde::devkbs {
namespace {

// Reference values each TEE knows, with their sizes.
std::optional<std::size_t> reference_value_size(std::string_view tee, std::string_view name) {
  if (tee == "tdx") {
    if (name == "mr_td" || name == "rtmr0" || name == "rtmr1" || name == "rtmr2" ||
        name == "rtmr3") {
      return 48;
    }
  } else if (tee == "snp") {
    if (name == "measurement") return 48;
    if (name == "host_data") return 32;
  }
  return std::nullopt;
}

bool is_known_tee(std::string_view tee) {
  return tee == "tdx" || tee == "snp" || tee == "sample";
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
        if (!tee.is_string() || !is_known_tee(tee.get<std::string>())) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": unknown TEE {} (expected tdx, snp or sample)", path,
                            tee.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
        entry.tees.push_back(tee.get<std::string>());
      }
    } else if (key == "allow_debug") {
      if (!value.is_boolean()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"allow_debug\" must be a boolean", path);
      }
      entry.allow_debug = value.get<bool>();
    } else if (key == "tdx" || key == "snp") {
      if (!value.is_object()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "policy for \"{}\": \"{}\" must be an object", path, key);
      }
      auto& values = entry.reference_values[key];
      for (const auto& [name, hex] : value.items()) {
        const auto size = reference_value_size(key, name);
        if (!size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": unknown {} reference value \"{}\"", path, key,
                            name);
        }
        if (!hex.is_string()) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": {}.{} must be a hex string", path, key, name);
        }
        auto bytes = hex_decode(hex.get<std::string>());
        if (!bytes.ok() || bytes->size() != *size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "policy for \"{}\": {}.{} must be {} bytes of hex", path, key, name,
                            *size);
        }
        values[name] = std::move(*bytes);
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument, "policy for \"{}\": unknown member \"{}\"",
                        path, key);
    }
  }
  return entry;
}

}  // namespace

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
    nlohmann::json json = {{"tees", entry.tees}, {"allow_debug", entry.allow_debug}};
    for (const auto& [tee, values] : entry.reference_values) {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& [name, bytes] : values) object[name] = hex_encode(bytes);
      json[tee] = std::move(object);
    }
    resources[path] = std::move(json);
  }
  return {{"resources", std::move(resources)}};
}

Status evaluate_resource_policy(const ResourcePolicy& policy, const std::string& resource_path,
                                const AttestedClaims& claims) {
  auto found = policy.resources.find(resource_path);
  if (found == policy.resources.end()) found = policy.resources.find("*");
  if (found == policy.resources.end()) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: no policy entry for resource {}", resource_path);
  }
  const ResourcePolicyEntry& entry = found->second;
  if (std::find(entry.tees.begin(), entry.tees.end(), claims.tee) == entry.tees.end()) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: TEE {} may not fetch resource {}", claims.tee,
                      resource_path);
  }
  if (claims.debug && !entry.allow_debug) {
    return make_error(ErrorCode::kPolicyDenied,
                      "Access denied by policy: the {} guest runs in debug mode", claims.tee);
  }
  const auto values = entry.reference_values.find(claims.tee);
  if (values == entry.reference_values.end()) return Status::ok_status();
  for (const auto& [name, expected] : values->second) {
    const auto attested = claims.values.find(name);
    if (attested == claims.values.end() || attested->second != expected) {
      return make_error(
          ErrorCode::kPolicyDenied, "Access denied by policy: {} {} is {}, the policy requires {}",
          claims.tee, name,
          attested == claims.values.end() ? std::string("absent") : hex_encode(attested->second),
          hex_encode(expected));
    }
  }
  return Status::ok_status();
}

}  // namespace ccfde::devkbs

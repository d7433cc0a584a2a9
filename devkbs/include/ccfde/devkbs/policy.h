// The resource policy of devkbs: a small JSON document instead of Trustee's Rego. Per resource
// path, the TEE types allowed to fetch it, the reference values their evidence must carry and
// whether debug guests may have it (never by default):
//
//   {"resources": {
//      "default/fde/disk-key": {"tees": ["tdx", "snp"], "allow_debug": false,
//                               "tdx": {"mr_td": "<hex>", "rtmr0": "<hex>", ..., "rtmr3": "<hex>"},
//                               "snp": {"measurement": "<hex>", "host_data": "<hex>"}},
//      "*": {"tees": ["sample"]}}}
//
// "*" applies to every path without an entry of its own; a path with neither is denied. Every
// reference value given must equal the attested one (hex, any case); absent ones are not checked.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::devkbs {

// What an attestation established about a guest, for the policy.
struct AttestedClaims {
  std::string tee;                      // "tdx", "snp", "sample"
  bool debug = false;                   // TDATTRIBUTES.DEBUG / SNP POLICY.DEBUG
  std::map<std::string, Bytes> values;  // "mr_td", "rtmr0".."rtmr3" / "measurement", "host_data"
};

struct ResourcePolicyEntry {
  std::vector<std::string> tees;
  bool allow_debug = false;
  // Per TEE ("tdx", "snp"): reference value name -> required bytes.
  std::map<std::string, std::map<std::string, Bytes>> reference_values;
};

struct ResourcePolicy {
  std::map<std::string, ResourcePolicyEntry> resources;  // path (or "*") -> entry
};

// Parses the document above. kInvalidArgument naming the member that is missing, of the wrong
// type, an unknown TEE, an unknown reference-value name for its TEE, or a value that is not hex of
// the register's size (48 bytes; SNP host_data 32 bytes).
Result<ResourcePolicy> parse_resource_policy(const nlohmann::json& document);

// The document form of `policy` (parse_resource_policy(to_json(p)) gives p back).
nlohmann::json to_json(const ResourcePolicy& policy);

// Decides whether a guest with `claims` may fetch `resource_path`. OK, or kPolicyDenied naming the
// reason: no entry for the path, TEE not allowed, debug guest, or the first reference value that
// differs (with expected and attested values; reference values are public measurements).
Status evaluate_resource_policy(const ResourcePolicy& policy, const std::string& resource_path,
                                const AttestedClaims& claims);

}  // namespace ccfde::devkbs

// SPDX-License-Identifier: Apache-2.0
// Reading members of parsed JSON without exceptions: the one "member X of type T, or an error"
// for every component. Messages name the object (`what`) and the member, and the caller chooses
// the error code (kMalformedResponse for broker replies, kMalformed for evidence, ...).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde {

// Whether an empty string is an acceptable member value.
enum class JsonEmpty { kAllow, kRefuse };

// The member `name` of `object`, or nullptr when `object` is not an object or has no such member.
// Never throws.
const nlohmann::json* json_find_member(const nlohmann::json& object, std::string_view name);

// The member `name` of `object`. Errors, with `code`: "<what>: member \"<name>\" is missing"
// (also when `object` is not an object). Never throws.
Result<const nlohmann::json*> json_member(const nlohmann::json& object, std::string_view name,
                                          ErrorCode code, std::string_view what);

// The member `name` of `object` as a string. Errors, with `code`: "<what>: member \"<name>\" is
// missing", "<what>: member \"<name>\" must be a string, found <type>" and, with
// JsonEmpty::kRefuse, "<what>: member \"<name>\" is empty". Never throws.
Result<std::string> json_string_member(const nlohmann::json& object, std::string_view name,
                                       ErrorCode code, std::string_view what,
                                       JsonEmpty empty = JsonEmpty::kAllow);

}  // namespace ccfde

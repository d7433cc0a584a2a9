// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/json_member.h"

namespace ccfde {

const nlohmann::json* json_find_member(const nlohmann::json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

Result<const nlohmann::json*> json_member(const nlohmann::json& object, std::string_view name,
                                          ErrorCode code, std::string_view what) {
  const nlohmann::json* value = json_find_member(object, name);
  if (value == nullptr) return make_error(code, "{}: member \"{}\" is missing", what, name);
  return value;
}

Result<std::string> json_string_member(const nlohmann::json& object, std::string_view name,
                                       ErrorCode code, std::string_view what, JsonEmpty empty) {
  CCFDE_ASSIGN_OR_RETURN(const nlohmann::json* value, json_member(object, name, code, what));
  if (!value->is_string()) {
    return make_error(code, "{}: member \"{}\" must be a string, found {}", what, name,
                      value->type_name());
  }
  std::string text = value->get<std::string>();
  if (empty == JsonEmpty::kRefuse && text.empty()) {
    return make_error(code, "{}: member \"{}\" is empty", what, name);
  }
  return text;
}

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/token.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace ccfde::agent {
namespace {

using nlohmann::json;

// Token JSON lives in the LUKS2 JSON area (at most a few KiB in practice); anything larger or
// deeper is not a cc-fde token and is refused before nlohmann builds it.
constexpr std::size_t kMaxTokenJsonBytes = std::size_t{64} * 1024;
constexpr int kMaxTokenJsonDepth = 4;
constexpr std::size_t kMaxProfileLength = 64;
constexpr std::size_t kMaxResourceLength = 256;

constexpr std::string_view kMemberType = "type";
constexpr std::string_view kMemberKeyslots = "keyslots";
constexpr std::string_view kMemberVersion = "cc-fde-version";
constexpr std::string_view kMemberProfile = "profile";
constexpr std::string_view kMemberResource = "resource";
constexpr std::string_view kMemberState = "state";
constexpr std::string_view kMemberPendingKeyslot = "pending-keyslot";

Status invalid(std::string_view member, std::string_view what) {
  return make_error(ErrorCode::kInvalidToken, "cc-fde token: {}: {}", member, what);
}

// A keyslot number in LUKS2's canonical string form: "0".."31", no sign, no leading zero.
Result<int> parse_keyslot_string(std::string_view member, const json& value) {
  if (!value.is_string()) return invalid(member, "expected a keyslot number as a string");
  const auto& text = value.get_ref<const std::string&>();
  int number = -1;
  const bool canonical =
      !text.empty() && text.size() <= 2 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      !(text.size() > 1 && text[0] == '0');
  if (canonical) {
    std::from_chars(text.data(), text.data() + text.size(), number);
  }
  if (!canonical || number < 0 || number >= kLuks2MaxKeyslots) {
    // The text is untrusted: show it only when it is short printable ASCII.
    const bool showable = text.size() <= 16 && std::all_of(text.begin(), text.end(), [](char c) {
                            return c >= 0x20 && c < 0x7f && c != '\'';
                          });
    return invalid(member,
                   fmt::format("'{}' is not a keyslot number 0-{}",
                               showable ? text : std::string("..."), kLuks2MaxKeyslots - 1));
  }
  return number;
}

bool valid_profile(std::string_view profile) {
  return !profile.empty() && profile.size() <= kMaxProfileLength &&
         std::all_of(profile.begin(), profile.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
         });
}

bool valid_resource(std::string_view resource) {
  return !resource.empty() && resource.size() <= kMaxResourceLength &&
         std::all_of(resource.begin(), resource.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<TokenState> state_from_name(std::string_view name) {
  if (name == "pending") return TokenState::kPending;
  if (name == "rotating") return TokenState::kRotating;
  if (name == "unbinding") return TokenState::kUnbinding;
  if (name == "reencrypting") return TokenState::kReencrypting;
  return std::nullopt;
}

Status validate_keyslot_number(std::string_view member, int keyslot) {
  if (keyslot < 0 || keyslot >= kLuks2MaxKeyslots) {
    return invalid(member,
                   fmt::format("{} is not a keyslot number 0-{}", keyslot, kLuks2MaxKeyslots - 1));
  }
  return Status();
}

// The checks shared by the parser (after conversion) and the serializer.
Status validate_fields(const CcFdeToken& token) {
  if (token.keyslots.empty() && token.state == TokenState::kComplete) {
    return invalid(kMemberKeyslots, "empty (a complete token must name at least one keyslot)");
  }
  for (std::size_t i = 0; i < token.keyslots.size(); ++i) {
    CCFDE_RETURN_IF_ERROR(
        validate_keyslot_number(fmt::format("{}[{}]", kMemberKeyslots, i), token.keyslots[i]));
  }
  std::vector<int> sorted = token.keyslots;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return invalid(kMemberKeyslots, "a keyslot is listed twice");
  }
  if (!valid_profile(token.profile)) {
    return invalid(kMemberProfile, "expected 1-64 characters of [A-Za-z0-9_.-]");
  }
  if (!valid_resource(token.resource)) {
    return invalid(kMemberResource, "expected 1-256 printable ASCII characters without spaces");
  }
  if (token.pending_keyslot) {
    if (token.state == TokenState::kComplete) {
      return invalid(kMemberPendingKeyslot, "only allowed together with \"state\"");
    }
    CCFDE_RETURN_IF_ERROR(validate_keyslot_number(kMemberPendingKeyslot, *token.pending_keyslot));
  }
  return Status();
}

// Parses `text` into `out`, refusing duplicate keys (nlohmann would silently keep the last one,
// so two "keyslots" members could show one value to us and another to a different reader) and
// nesting beyond kMaxTokenJsonDepth (the schema is flat).
Status parse_json_strict(std::string_view text, json& out) {
  std::vector<std::set<std::string>> seen_keys;
  std::string duplicate;
  bool too_deep = false;
  json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth >= kMaxTokenJsonDepth) too_deep = true;
        seen_keys.emplace_back();
        return !too_deep;
      case json::parse_event_t::array_start:
        if (depth >= kMaxTokenJsonDepth) too_deep = true;
        return !too_deep;
      case json::parse_event_t::key:
        if (!seen_keys.empty() && parsed.is_string()) {
          const auto& key = parsed.get_ref<const std::string&>();
          if (!seen_keys.back().insert(key).second && duplicate.empty()) duplicate = key;
        }
        return true;
      case json::parse_event_t::object_end:
        if (!seen_keys.empty()) seen_keys.pop_back();
        return true;
      default: return true;
    }
  };
  try {
    out = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: not valid JSON: {}", e.what());
  }
  if (too_deep) {
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: JSON nested deeper than {} levels",
                      kMaxTokenJsonDepth);
  }
  if (!duplicate.empty()) {
    const bool showable =
        duplicate.size() <= 64 && std::all_of(duplicate.begin(), duplicate.end(),
                                              [](char c) { return c >= 0x20 && c < 0x7f; });
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: member \"{}\" appears twice",
                      showable ? duplicate : std::string("..."));
  }
  return Status();
}

}  // namespace

std::string_view token_state_name(TokenState state) noexcept {
  switch (state) {
    case TokenState::kComplete: return "complete";
    case TokenState::kPending: return "pending";
    case TokenState::kRotating: return "rotating";
    case TokenState::kUnbinding: return "unbinding";
    case TokenState::kReencrypting: return "reencrypting";
  }
  return "unknown";
}

Result<CcFdeToken> parse_token(std::string_view text) {
  if (text.size() > kMaxTokenJsonBytes) {
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: JSON larger than {} bytes",
                      kMaxTokenJsonBytes);
  }
  json doc;
  CCFDE_RETURN_IF_ERROR(parse_json_strict(text, doc));
  if (!doc.is_object()) {
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: expected a JSON object");
  }

  // "type" and "cc-fde-version" first: a token of another type or a newer schema gets that
  // error rather than a complaint about members this version does not know.
  const auto type = doc.find(kMemberType);
  if (type == doc.end()) return invalid(kMemberType, "missing");
  if (!type->is_string()) return invalid(kMemberType, "expected a string");
  if (type->get_ref<const std::string&>() != kTokenType) {
    return invalid(kMemberType, "not \"cc-fde\"");
  }
  const auto version = doc.find(kMemberVersion);
  if (version == doc.end()) return invalid(kMemberVersion, "missing");
  if (!version->is_number_integer()) return invalid(kMemberVersion, "expected an integer");
  if (version->get<std::int64_t>() != kTokenSchemaVersion) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "cc-fde token: cc-fde-version {} is not supported (this agent knows {})",
                      version->get<std::int64_t>(), kTokenSchemaVersion);
  }

  for (const auto& [key, value] : doc.items()) {
    if (key != kMemberType && key != kMemberKeyslots && key != kMemberVersion &&
        key != kMemberProfile && key != kMemberResource && key != kMemberState &&
        key != kMemberPendingKeyslot) {
      const bool showable = key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
                              return c >= 0x20 && c < 0x7f;
                            });
      return make_error(ErrorCode::kInvalidToken, "cc-fde token: unknown member \"{}\"",
                        showable ? key : std::string("..."));
    }
  }

  CcFdeToken token;
  const auto keyslots = doc.find(kMemberKeyslots);
  if (keyslots == doc.end()) return invalid(kMemberKeyslots, "missing");
  if (!keyslots->is_array()) return invalid(kMemberKeyslots, "expected an array of strings");
  if (keyslots->size() > static_cast<std::size_t>(kLuks2MaxKeyslots)) {
    return invalid(kMemberKeyslots, "more entries than LUKS2 has keyslots");
  }
  for (std::size_t i = 0; i < keyslots->size(); ++i) {
    const std::string member = fmt::format("{}[{}]", kMemberKeyslots, i);
    CCFDE_ASSIGN_OR_RETURN(const int keyslot, parse_keyslot_string(member, (*keyslots)[i]));
    if (std::find(token.keyslots.begin(), token.keyslots.end(), keyslot) != token.keyslots.end()) {
      return invalid(member, fmt::format("keyslot {} is listed twice", keyslot));
    }
    token.keyslots.push_back(keyslot);
  }
  std::sort(token.keyslots.begin(), token.keyslots.end());

  const auto profile = doc.find(kMemberProfile);
  if (profile == doc.end()) return invalid(kMemberProfile, "missing");
  if (!profile->is_string()) return invalid(kMemberProfile, "expected a string");
  token.profile = profile->get<std::string>();

  const auto resource = doc.find(kMemberResource);
  if (resource == doc.end()) return invalid(kMemberResource, "missing");
  if (!resource->is_string()) return invalid(kMemberResource, "expected a string");
  token.resource = resource->get<std::string>();

  if (const auto state = doc.find(kMemberState); state != doc.end()) {
    if (!state->is_string()) return invalid(kMemberState, "expected a string");
    const auto parsed = state_from_name(state->get_ref<const std::string&>());
    if (!parsed)
      return invalid(kMemberState, "expected \"pending\", \"rotating\" or \"unbinding\"");
    token.state = *parsed;
  }
  if (const auto pending = doc.find(kMemberPendingKeyslot); pending != doc.end()) {
    CCFDE_ASSIGN_OR_RETURN(token.pending_keyslot,
                           parse_keyslot_string(kMemberPendingKeyslot, *pending));
  }

  CCFDE_RETURN_IF_ERROR(validate_fields(token));
  return token;
}

Result<std::string> token_to_json(const CcFdeToken& token) {
  CCFDE_RETURN_IF_ERROR(validate_fields(token));
  std::vector<int> keyslots = token.keyslots;
  std::sort(keyslots.begin(), keyslots.end());

  nlohmann::ordered_json doc;
  doc[std::string(kMemberType)] = kTokenType;
  auto& slots = doc[std::string(kMemberKeyslots)] = nlohmann::ordered_json::array();
  for (const int keyslot : keyslots) slots.push_back(std::to_string(keyslot));
  doc[std::string(kMemberVersion)] = kTokenSchemaVersion;
  doc[std::string(kMemberProfile)] = token.profile;
  doc[std::string(kMemberResource)] = token.resource;
  if (token.state != TokenState::kComplete) {
    doc[std::string(kMemberState)] = token_state_name(token.state);
  }
  if (token.pending_keyslot) {
    doc[std::string(kMemberPendingKeyslot)] = std::to_string(*token.pending_keyslot);
  }
  try {
    return doc.dump();
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidToken, "cc-fde token: cannot serialize: {}", e.what());
  }
}

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The recovery key's text form and its "systemd-recovery" token (recovery_key.h).
#include "ccfde/agent/recovery_key.h"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "steps.h"

namespace ccfde::agent {
namespace {

// A keyslot number as LUKS2 writes it ("3"), or nullopt.
std::optional<int> keyslot_number(const nlohmann::json& value) {
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  int number = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || number < 0 ||
      number >= kLuks2MaxKeyslots) {
    return std::nullopt;
  }
  return number;
}

}  // namespace

SecretBytes format_recovery_key(std::span<const std::uint8_t> key) {
  if (key.size() != kRecoveryKeyBytes) return SecretBytes();
  SecretBytes text(kRecoveryKeyTextLength);
  std::size_t at = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i > 0 && i % (kRecoveryKeyGroupLength / 2) == 0) text.data()[at++] = '-';
    text.data()[at++] = static_cast<std::uint8_t>(kModhexAlphabet[key[i] >> 4]);
    text.data()[at++] = static_cast<std::uint8_t>(kModhexAlphabet[key[i] & 0x0f]);
  }
  return text;
}

bool is_recovery_key_text(std::span<const std::uint8_t> text) noexcept {
  if (text.size() != kRecoveryKeyTextLength) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i % (kRecoveryKeyGroupLength + 1) == kRecoveryKeyGroupLength;
    if (dash_position) {
      if (text[i] != '-') return false;
    } else if (kModhexAlphabet.find(static_cast<char>(text[i])) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

Result<SecretBytes> generate_recovery_key() {
  SecretBytes raw(kRecoveryKeyBytes);
  if (RAND_priv_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return make_error(ErrorCode::kCryptoError,
                      "the random generator failed to produce a recovery key");
  }
  return format_recovery_key(raw.span());
}

RecoveryToken parse_recovery_token(std::string_view json) {
  RecoveryToken token;
  token.keyslots = binding::generic_keyslots(json);
  const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return token;
  if (auto created = parsed.find("cc-fde-created");
      created != parsed.end() && created->is_string()) {
    token.created = created->get<std::string>();
  }
  if (auto pending = parsed.find("cc-fde-pending-keyslot"); pending != parsed.end()) {
    token.pending_keyslot = keyslot_number(*pending);
  }
  return token;
}

std::string recovery_token_json(const RecoveryToken& token) {
  nlohmann::json keyslots = nlohmann::json::array();
  std::vector<int> sorted = token.keyslots;
  std::sort(sorted.begin(), sorted.end());
  for (int slot : sorted) keyslots.push_back(std::to_string(slot));
  nlohmann::json out = {{"type", std::string(kRecoveryTokenType)}, {"keyslots", keyslots}};
  if (!token.created.empty()) out["cc-fde-created"] = token.created;
  if (token.pending_keyslot) {
    out["cc-fde-pending-keyslot"] = std::to_string(*token.pending_keyslot);
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ccfde::agent

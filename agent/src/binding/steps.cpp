// SPDX-License-Identifier: Apache-2.0
#include "steps.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>
#include <system_error>

#include "ccfde/agent/config_checks.h"
#include "ccfde/agent/recovery_key.h"
#include "ccfde/common/encoding.h"

namespace ccfde::agent::binding {

Result<std::vector<ListedToken>> read_tokens(const LuksVolume& volume) {
  CCFDE_ASSIGN_OR_RETURN(auto entries, volume.tokens());
  std::vector<ListedToken> listed;
  listed.reserve(entries.size());
  for (const TokenEntry& entry : entries) {
    ListedToken token;
    token.id = entry.id;
    token.type = entry.type;
    token.keyslots = generic_keyslots(entry.json);
    if (entry.type == kTokenType) {
      auto parsed = parse_token(entry.json);
      if (parsed.ok()) {
        token.cc_fde = std::move(parsed).value();
      } else {
        token.error = parsed.status();
      }
    } else if (entry.type == kRecoveryTokenType) {
      token.recovery = parse_recovery_token(entry.json);
    }
    listed.push_back(std::move(token));
  }
  return listed;
}

std::vector<int> generic_keyslots(std::string_view token_json) {
  std::vector<int> keyslots;
  auto json = nlohmann::json::parse(token_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return keyslots;
  auto member = json.find("keyslots");
  if (member == json.end() || !member->is_array()) return keyslots;
  for (const auto& item : *member) {
    if (!item.is_string()) continue;
    const auto& text = item.get_ref<const std::string&>();
    int value = -1;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size() && value >= 0 &&
        value < kLuks2MaxKeyslots) {
      keyslots.push_back(value);
    }
  }
  std::sort(keyslots.begin(), keyslots.end());
  keyslots.erase(std::unique(keyslots.begin(), keyslots.end()), keyslots.end());
  return keyslots;
}

bool referenced_by_other_token(const std::vector<ListedToken>& tokens, int keyslot,
                               int own_token_id) {
  return std::any_of(tokens.begin(), tokens.end(), [&](const ListedToken& token) {
    if (token.id == own_token_id) return false;
    return lists_keyslot(token.keyslots, keyslot);
  });
}

Result<int> first_free_keyslot(const LuksVolume& volume) {
  const std::vector<int> active = volume.active_keyslots();
  for (int slot = 0; slot < kLuks2MaxKeyslots; ++slot) {
    if (!lists_keyslot(active, slot)) return slot;
  }
  return make_error(ErrorCode::kInvalidArgument, "{}: all {} keyslots are in use",
                    volume.device().string(), kLuks2MaxKeyslots);
}

Result<SelectedToken> select_token(const std::vector<ListedToken>& tokens, std::optional<int> id) {
  const ListedToken* chosen = nullptr;
  if (id) {
    for (const ListedToken& token : tokens) {
      if (token.id == *id) chosen = &token;
    }
    if (chosen == nullptr) return make_error(ErrorCode::kNoToken, "there is no token {}", *id);
    if (chosen->type != kTokenType) {
      return make_error(ErrorCode::kNoToken, "token {} is a '{}' token, not a cc-fde token", *id,
                        chosen->type);
    }
  } else {
    std::vector<int> ids;
    for (const ListedToken& token : tokens) {
      if (token.type != kTokenType) continue;
      ids.push_back(token.id);
      chosen = &token;
    }
    if (ids.empty()) return make_error(ErrorCode::kNoToken, "the volume has no cc-fde token");
    if (ids.size() > 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the volume has several cc-fde tokens ({}): choose one with --token",
                        join_keyslots(ids));
    }
  }
  if (chosen->error) return chosen->error->with_context(fmt::format("token {}", chosen->id));
  return SelectedToken{chosen->id, *chosen->cc_fde};
}

Status unfinished_operation_error(const LuksVolume& volume, const SelectedToken& selected) {
  const std::string device = volume.device().string();
  const CcFdeToken& token = selected.token;
  std::string command;
  switch (token.state) {
    case TokenState::kPending:
      command = fmt::format(
          "`fdectl enroll {} --profile {} --resource {} ...` (the same command again) to finish "
          "it, or `fdectl unbind {} --token {}` to abandon it",
          device, token.profile, token.resource, device, selected.id);
      break;
    case TokenState::kRotating:
      command = fmt::format("`fdectl rotate {} --token {}` to finish it", device, selected.id);
      break;
    case TokenState::kUnbinding:
      command = fmt::format("`fdectl unbind {} --token {}` to finish it", device, selected.id);
      break;
    case TokenState::kReencrypting:
      command = fmt::format("`fdectl reencrypt {} --token {}` to finish it", device, selected.id);
      break;
    case TokenState::kComplete: return Status();
  }
  return make_error(
      ErrorCode::kUnfinishedOperation,
      "token {} ({} of profile {}) records an interrupted operation (state {}): run {}",
      selected.id, token.resource, token.profile, token_state_name(token.state), command);
}

Result<SecretBytes> generate_key() {
  SecretBytes key(kGeneratedKeyBytes);
  if (RAND_priv_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    return make_error(ErrorCode::kCryptoError, "the random generator failed to produce a key");
  }
  return key;
}

}  // namespace ccfde::agent::binding

namespace ccfde::agent {

std::string one_line_printable(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\t': escaped += "\\x09"; break;
      case '\n': escaped += "\\x0a"; break;
      case '\r': escaped += "\\x0d"; break;
      default: escaped += c;
    }
  }
  return escape_nonprintable(escaped);
}

}  // namespace ccfde::agent

namespace ccfde::agent::binding {

Result<std::string> checked_uuid(const LuksVolume& volume) {
  const std::string uuid = volume.uuid();
  auto normalized = config_checks::normalize_uuid(uuid);
  if (!normalized) {
    return make_error(ErrorCode::kMalformed,
                      "{}: the header's UUID \"{}\" is not a UUID (8-4-4-4-12 hex digits); "
                      "refusing to change this header (`cryptsetup luksUUID` can set a new one)",
                      volume.device().string(), one_line_printable(uuid));
  }
  return std::move(*normalized);
}

namespace {

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return std::string(text, length);
}

}  // namespace

Result<std::filesystem::path> backup_header(const LuksVolume& volume,
                                            const std::filesystem::path& dir,
                                            std::string_view operation) {
  CCFDE_ASSIGN_OR_RETURN(const std::string uuid, checked_uuid(volume));
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    std::filesystem::create_directories(dir, error);
    if (error) {
      return Status(ErrorCode::kIoError,
                    fmt::format("cannot create the header backup directory {}: {}", dir.string(),
                                error.message()));
    }
    // Header backups hold keyslot material: readable by root only.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
  }
  const std::string stem = fmt::format("{}-{}-{}", uuid, utc_timestamp(), operation);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::filesystem::path file =
        dir / (attempt == 0 ? stem + ".img" : fmt::format("{}.{}.img", stem, attempt));
    if (std::filesystem::exists(std::filesystem::symlink_status(file, error))) continue;
    Status written = volume.backup_header(file);
    if (!written.ok()) return written.with_context("header backup");
    return file;
  }
  return make_error(ErrorCode::kIoError, "cannot find a free header backup name for {} in {}", stem,
                    dir.string());
}

Result<int> write_token(LuksVolume& volume, int id, const CcFdeToken& token) {
  CCFDE_ASSIGN_OR_RETURN(std::string json, token_to_json(token));
  return volume.set_token(id, json);
}

Result<std::optional<int>> keyslot_opened_by(const LuksVolume& volume,
                                             std::span<const std::uint8_t> key,
                                             const std::vector<int>& keyslots) {
  const std::vector<int> active = volume.active_keyslots();
  for (int slot : keyslots) {
    if (!lists_keyslot(active, slot)) continue;
    auto opened = volume.verify_passphrase(key, slot);
    if (opened.ok()) return std::optional<int>(*opened);
    if (opened.status().code() != ErrorCode::kKeyRejected) return opened.status();
  }
  return std::optional<int>();
}

bool lists_keyslot(const std::vector<int>& keyslots, int keyslot) {
  return std::find(keyslots.begin(), keyslots.end(), keyslot) != keyslots.end();
}

Result<SecretBytes> fetch_token_key(const BindingContext& context, const BrokerProfile& profile,
                                    const CcFdeToken& token) {
  auto key = context.keys.fetch(profile, token.resource);
  if (!key.ok()) return key.status().with_context(fmt::format("fetching {}", token.resource));
  return key;
}

Result<int> token_keyslot_opened_by(const LuksVolume& volume, std::span<const std::uint8_t> key,
                                    const SelectedToken& selected) {
  CCFDE_ASSIGN_OR_RETURN(auto opened, keyslot_opened_by(volume, key, selected.token.keyslots));
  if (!opened) {
    return make_error(ErrorCode::kKeyRejected,
                      "the broker's key for {} opens none of token {}'s keyslots ({}); nothing "
                      "changed",
                      selected.token.resource, selected.id, join_keyslots(selected.token.keyslots));
  }
  return *opened;
}

std::string join_keyslots(const std::vector<int>& keyslots) {
  return fmt::format("{}", fmt::join(keyslots, ", "));
}

}  // namespace ccfde::agent::binding

// SPDX-License-Identifier: Apache-2.0
// Adding an operator's recovery key (recovery_key.h has the steps and why).
#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "ccfde/agent/recovery_key.h"
#include "fault.h"
#include "steps.h"

namespace ccfde::agent {
namespace {

using binding::fault_point;
using binding::notify;

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, length);
}

struct Authorisation {
  SecretBytes key;
  int keyslot = -1;  // the keyslot `key` opens
};

// The existing secret that authorises the new keyslot (RecoveryKeyOptions).
Result<Authorisation> authorise(const LuksVolume& volume, const std::vector<ListedToken>& tokens,
                                const RecoveryKeyOptions& options, const BindingContext& context) {
  Authorisation authorisation;
  if (options.unlock_secret != nullptr) {
    auto opened = volume.verify_passphrase(options.unlock_secret->span());
    if (!opened.ok()) {
      return opened.status().with_context(
          fmt::format("the unlock secret does not open {}", volume.device().string()));
    }
    authorisation.key = SecretBytes::copy_of(options.unlock_secret->span());
    authorisation.keyslot = *opened;
    return authorisation;
  }
  auto selected = binding::select_token(tokens, options.token_id);
  if (!selected.ok()) {
    return selected.status().with_context(
        "a recovery key is authorised by the broker key of the volume's cc-fde token, or by "
        "--unlock-with");
  }
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile,
                         context.config.profile(selected->token.profile));
  if (selected->token.state != TokenState::kComplete) {
    return binding::unfinished_operation_error(volume, *selected);
  }
  CCFDE_ASSIGN_OR_RETURN(authorisation.key,
                         binding::fetch_token_key(context, *profile, selected->token));
  CCFDE_ASSIGN_OR_RETURN(authorisation.keyslot, binding::token_keyslot_opened_by(
                                                    volume, authorisation.key.span(), *selected));
  return authorisation;
}

struct PendingRecovery {
  int token_id = -1;
  std::optional<int> keyslot;  // the never-shown keyslot, when it exists
};

// The "systemd-recovery" tokens an interrupted add left (a cc-fde-pending-keyslot member), with
// their keyslot if it exists. Refuses to plan destroying a keyslot another token lists or that
// the authorising secret opens.
Result<std::vector<PendingRecovery>> interrupted_adds(const LuksVolume& volume,
                                                      const std::vector<ListedToken>& tokens,
                                                      int authorising_keyslot) {
  std::vector<PendingRecovery> pending;
  const std::vector<int> active = volume.active_keyslots();
  for (const ListedToken& token : tokens) {
    if (token.type != kRecoveryTokenType || !token.recovery) continue;
    if (!token.recovery->pending_keyslot) continue;
    PendingRecovery entry{token.id, std::nullopt};
    const int slot = *token.recovery->pending_keyslot;
    if (binding::lists_keyslot(active, slot)) {
      if (slot == authorising_keyslot || binding::lists_keyslot(token.keyslots, slot) ||
          binding::referenced_by_other_token(tokens, slot, token.id)) {
        return make_error(ErrorCode::kUnfinishedOperation,
                          "recovery token {} records an interrupted add whose keyslot {} is in "
                          "use otherwise; remove that token (`cryptsetup token remove "
                          "--token-id {} {}`) first",
                          token.id, slot, token.id, volume.device().string());
      }
      entry.keyslot = slot;
    }
    pending.push_back(entry);
  }
  return pending;
}

// Removes what an interrupted add left: its never-shown keyslot first, then its token.
Status clean_interrupted(LuksVolume& volume, const std::vector<PendingRecovery>& pending,
                         const BindingContext& context) {
  for (const PendingRecovery& entry : pending) {
    if (entry.keyslot) {
      CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(*entry.keyslot));
      notify(context,
             "completing an interrupted recovery-key add: destroyed keyslot {}, whose key was "
             "never shown",
             *entry.keyslot);
    }
    CCFDE_RETURN_IF_ERROR(volume.remove_token(entry.token_id));
  }
  return Status();
}

}  // namespace

Result<RecoveryKeyResult> add_recovery_key(const std::filesystem::path& device,
                                           const RecoveryKeyOptions& options,
                                           const BindingContext& context) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(Authorisation authorisation, authorise(volume, tokens, options, context));
  CCFDE_ASSIGN_OR_RETURN(auto pending, interrupted_adds(volume, tokens, authorisation.keyslot));
  const bool frees_a_keyslot =
      std::any_of(pending.begin(), pending.end(),
                  [](const PendingRecovery& entry) { return entry.keyslot.has_value(); });
  if (!frees_a_keyslot) CCFDE_RETURN_IF_ERROR(binding::first_free_keyslot(volume));

  RecoveryKeyResult result;
  result.uuid = volume.uuid();
  result.completed_interrupted = !pending.empty();
  CCFDE_ASSIGN_OR_RETURN(result.key, generate_recovery_key());
  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, context.backup_dir, "recovery-key"));
  fault_point("recovery.after-backup");
  CCFDE_RETURN_IF_ERROR(clean_interrupted(volume, pending, context));

  CCFDE_ASSIGN_OR_RETURN(const int slot, binding::first_free_keyslot(volume));
  RecoveryToken token;
  token.created = utc_now();
  token.pending_keyslot = slot;
  CCFDE_ASSIGN_OR_RETURN(result.token_id, volume.set_token(kAnyToken, recovery_token_json(token)));
  fault_point("recovery.after-token-pending");

  auto added =
      volume.add_keyslot(authorisation.key.span(), result.key.span(), KeyslotKdf::kArgon2id, slot);
  if (!added.ok()) {
    (void)volume.remove_token(result.token_id);
    return added.status().with_context(fmt::format("adding recovery keyslot {}", slot));
  }
  fault_point("recovery.after-add-keyslot");
  auto verified = volume.verify_passphrase(result.key.span(), *added);
  if (!verified.ok()) {
    (void)volume.destroy_keyslot(*added);
    (void)volume.remove_token(result.token_id);
    return verified.status().with_context(
        fmt::format("the recovery key does not open its new keyslot {}", *added));
  }
  token.pending_keyslot.reset();
  token.keyslots = {*added};
  CCFDE_ASSIGN_OR_RETURN(result.token_id,
                         volume.set_token(result.token_id, recovery_token_json(token)));
  result.keyslot = *added;
  result.created = token.created;
  return result;
}

}  // namespace ccfde::agent

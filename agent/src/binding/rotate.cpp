// SPDX-License-Identifier: Apache-2.0
// rotate: a new broker key and keyslot first, the old keyslot removed last (binding.h).
#include <algorithm>

#include "fault.h"
#include "steps.h"

namespace ccfde::agent {
namespace {

using binding::fault_point;
using binding::notify;

// Resolves a rotating token: the broker's current key decides which keyslot survives.
// Returns the kept keyslot; `selected` becomes the complete token.
Result<int> resolve_rotating(LuksVolume& volume, const std::vector<ListedToken>& tokens,
                             binding::SelectedToken& selected, const BrokerProfile& profile,
                             const BindingContext& context, RotateResult& result) {
  const std::vector<int> active = volume.active_keyslots();
  std::vector<int> candidates;
  for (int slot : selected.token.keyslots) {
    if (binding::lists_keyslot(active, slot)) candidates.push_back(slot);
  }
  const std::optional<int> pending = selected.token.pending_keyslot;
  if (pending && binding::lists_keyslot(active, *pending) &&
      !binding::lists_keyslot(candidates, *pending) &&
      !binding::referenced_by_other_token(tokens, *pending, selected.id)) {
    candidates.push_back(*pending);
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes key,
                         binding::fetch_token_key(context, profile, selected.token));
  CCFDE_ASSIGN_OR_RETURN(auto kept, binding::keyslot_opened_by(volume, key.span(), candidates));
  if (!kept) {
    return make_error(ErrorCode::kKeyRejected,
                      "token {} records an interrupted rotation, but the broker's key for {} opens "
                      "none of its keyslots ({}); nothing changed",
                      selected.id, selected.token.resource, binding::join_keyslots(candidates));
  }
  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, context.backup_dir, "rotate"));
  for (int slot : candidates) {
    if (slot == *kept || binding::referenced_by_other_token(tokens, slot, selected.id)) continue;
    CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(slot));
    notify(context,
           "completing an interrupted rotation: destroyed keyslot {} (the broker's key "
           "opens keyslot {})",
           slot, *kept);
  }
  selected.token.state = TokenState::kComplete;
  selected.token.pending_keyslot.reset();
  selected.token.keyslots = {*kept};
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, selected.token));
  return *kept;
}

// Undoes the new keyslot after a failed upload; best effort (the token stays rotating on failure,
// which a re-run resolves).
void roll_back(LuksVolume& volume, const binding::SelectedToken& selected,
               const std::vector<int>& old_slots, int new_slot) {
  if (!volume.destroy_keyslot(new_slot).ok()) return;
  CcFdeToken token = selected.token;
  token.state = TokenState::kComplete;
  token.pending_keyslot.reset();
  token.keyslots = old_slots;
  (void)binding::write_token(volume, selected.id, token);
}

}  // namespace

Result<RotateResult> rotate(const std::filesystem::path& device, std::optional<int> token_id,
                            const BindingContext& context) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(auto selected, binding::select_token(tokens, token_id));
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile,
                         context.config.profile(selected.token.profile));
  RotateResult result;
  result.uuid = volume.uuid();
  result.token_id = selected.id;
  switch (selected.token.state) {
    case TokenState::kPending:
    case TokenState::kUnbinding:
    case TokenState::kReencrypting: return binding::unfinished_operation_error(volume, selected);
    case TokenState::kRotating: {
      const std::vector<int> old_slots = selected.token.keyslots;
      const std::optional<int> pending = selected.token.pending_keyslot;
      CCFDE_ASSIGN_OR_RETURN(const int kept,
                             resolve_rotating(volume, tokens, selected, *profile, context, result));
      result.completed_interrupted = true;
      if (pending && kept == *pending) {
        // The broker already holds the new key: the interrupted rotation is now complete.
        result.new_keyslot = kept;
        for (int slot : old_slots) {
          if (slot != kept) result.old_keyslot = slot;
        }
        return result;
      }
      notify(context, "the interrupted rotation had not reached the broker; rotating again");
      break;
    }
    case TokenState::kComplete: break;
  }

  CCFDE_ASSIGN_OR_RETURN(SecretBytes current,
                         binding::fetch_token_key(context, *profile, selected.token));
  CCFDE_ASSIGN_OR_RETURN(result.old_keyslot,
                         binding::token_keyslot_opened_by(volume, current.span(), selected));
  CCFDE_ASSIGN_OR_RETURN(SecretBytes fresh, binding::generate_key());
  CCFDE_ASSIGN_OR_RETURN(const int new_slot, binding::first_free_keyslot(volume));
  {
    CCFDE_ASSIGN_OR_RETURN(auto backup,
                           binding::backup_header(volume, context.backup_dir, "rotate"));
    if (result.backup.empty()) result.backup = std::move(backup);
  }
  fault_point("rotate.after-backup");

  const std::vector<int> old_slots = selected.token.keyslots;
  CcFdeToken token = selected.token;
  token.state = TokenState::kRotating;
  token.pending_keyslot = new_slot;
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, token));
  fault_point("rotate.after-token-rotating");

  auto added =
      volume.add_keyslot(current.span(), fresh.span(), KeyslotKdf::kMinimalPbkdf2, new_slot);
  if (!added.ok()) {
    CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, selected.token));
    return added.status().with_context(fmt::format("adding keyslot {}", new_slot));
  }
  fault_point("rotate.after-add-keyslot");
  token.keyslots.push_back(*added);
  std::sort(token.keyslots.begin(), token.keyslots.end());
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, token));
  fault_point("rotate.after-token-both");

  Status uploaded = context.keys.upload(*profile, token.resource, fresh.span());
  if (!uploaded.ok()) {
    roll_back(volume, selected, old_slots, *added);
    return uploaded.with_context(
        fmt::format("uploading the new key as {} (the new keyslot was removed again; the old key "
                    "still works)",
                    token.resource));
  }
  notify(context, "uploaded the new key as {}", token.resource);
  fault_point("rotate.after-upload");

  CCFDE_ASSIGN_OR_RETURN(SecretBytes fetched, binding::fetch_token_key(context, *profile, token));
  if (!fetched.equals(fresh.span())) {
    return make_error(
        ErrorCode::kKeyRejected,
        "after the upload the broker returns a different key for {}; token {} left in "
        "state rotating with keyslots {}: check the broker, then re-run `fdectl "
        "rotate`",
        token.resource, selected.id, binding::join_keyslots(token.keyslots));
  }
  auto verified = volume.verify_passphrase(fetched.span(), *added);
  if (!verified.ok()) {
    return verified.status().with_context(
        fmt::format("the new key does not open keyslot {}; token {} left in state rotating", *added,
                    selected.id));
  }

  for (int slot : old_slots) {
    if (binding::referenced_by_other_token(tokens, slot, selected.id)) continue;
    CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(slot));
  }
  fault_point("rotate.after-destroy-old");
  token.state = TokenState::kComplete;
  token.pending_keyslot.reset();
  token.keyslots = {*added};
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, token));
  result.new_keyslot = *added;
  return result;
}

}  // namespace ccfde::agent

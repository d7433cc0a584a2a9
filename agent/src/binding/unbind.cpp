// SPDX-License-Identifier: Apache-2.0
// unbind: remove a cc-fde token and its keyslots, never the last way in (binding.h).
#include <algorithm>

#include "fault.h"
#include "steps.h"

namespace ccfde::agent {

using binding::fault_point;

Result<UnbindResult> unbind(const std::filesystem::path& device, std::optional<int> token_id,
                            const BindingContext& context) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(auto selected, binding::select_token(tokens, token_id));
  CCFDE_RETURN_IF_ERROR(context.config.profile(selected.token.profile));
  if (selected.token.state == TokenState::kRotating ||
      selected.token.state == TokenState::kReencrypting) {
    return binding::unfinished_operation_error(volume, selected);
  }
  UnbindResult result;
  result.uuid = volume.uuid();
  result.token_id = selected.id;
  result.completed_interrupted = selected.token.state == TokenState::kUnbinding;

  // The token's keyslots, and the keyslot an interrupted enroll was creating; keyslots another
  // token also lists stay (they are that token's way in too).
  const std::vector<int> active = volume.active_keyslots();
  std::vector<int> owned = selected.token.keyslots;
  if (selected.token.pending_keyslot) owned.push_back(*selected.token.pending_keyslot);
  std::vector<int> doomed;
  for (int slot : owned) {
    if (std::find(active.begin(), active.end(), slot) == active.end()) continue;
    if (binding::referenced_by_other_token(tokens, slot, selected.id)) continue;
    if (std::find(doomed.begin(), doomed.end(), slot) == doomed.end()) doomed.push_back(slot);
  }
  std::sort(doomed.begin(), doomed.end());
  const bool other_remains = std::any_of(active.begin(), active.end(), [&](int slot) {
    return std::find(doomed.begin(), doomed.end(), slot) == doomed.end();
  });
  if (!other_remains) {
    return make_error(ErrorCode::kLastCredential,
                      "removing token {} and its keyslots ({}) would leave no way to open {}; add "
                      "a passphrase first (cryptsetup luksAddKey); nothing changed",
                      selected.id, binding::join_keyslots(doomed), device.string());
  }

  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, context.backup_dir, "unbind"));
  fault_point("unbind.after-backup");
  if (selected.token.state != TokenState::kUnbinding) {
    CcFdeToken token = selected.token;
    token.state = TokenState::kUnbinding;
    CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, token));
  } else {
    binding::notify(context, "completing an interrupted unbind of token {}", selected.id);
  }
  fault_point("unbind.after-token-unbinding");
  for (int slot : doomed) {
    CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(slot));
    result.removed_keyslots.push_back(slot);
    fault_point("unbind.after-destroy-keyslot");
  }
  CCFDE_RETURN_IF_ERROR(volume.remove_token(selected.id));
  return result;
}

}  // namespace ccfde::agent

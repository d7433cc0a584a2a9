// SPDX-License-Identifier: Apache-2.0
// reencrypt: a new volume key for every sector, the old key's keyslots destroyed (binding.h).
#include <algorithm>

#include "fault.h"
#include "steps.h"

namespace ccfde::agent {
namespace {

using binding::fault_point;
using binding::notify;

// What must hold before anything changes: one cc-fde token, no integrity protection, no other
// operation in flight, the volume closed or open only through its own mapping.
Status check_preconditions(const LuksVolume& volume, const std::vector<ListedToken>& tokens,
                           const binding::SelectedToken& selected) {
  const std::string device = volume.device().string();
  std::vector<int> others;
  for (const ListedToken& token : tokens) {
    if (token.type == kTokenType && token.id != selected.id) others.push_back(token.id);
  }
  if (!others.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} has other cc-fde tokens ({}): a volume-key change destroys their "
                      "keyslots; unbind them first",
                      device, binding::join_keyslots(others));
  }
  switch (selected.token.state) {
    case TokenState::kPending:
    case TokenState::kRotating:
    case TokenState::kUnbinding: return binding::unfinished_operation_error(volume, selected);
    case TokenState::kComplete:
      if (volume.reencryption_in_progress()) {
        return make_error(ErrorCode::kUnfinishedOperation,
                          "{}: the header records a reencryption that fdectl did not start: "
                          "finish it with `cryptsetup reencrypt --resume-only` first",
                          device);
      }
      break;
    case TokenState::kReencrypting:
      if (!selected.token.pending_keyslot) {
        return make_error(ErrorCode::kInvalidToken,
                          "token {} is reencrypting but names no pending-keyslot", selected.id);
      }
      break;
  }
  // An integrity-protected volume, or one held otherwise than through its own mapping.
  return volume.reencryption_mapping().status();
}

// Starts a volume-key change: backup, token "reencrypting", the new key's unbound keyslot.
// Returns the new keyslot.
Result<int> begin(LuksVolume& volume, binding::SelectedToken& selected,
                  std::span<const std::uint8_t> key, const ReencryptOptions& options,
                  const BindingContext& context, ReencryptResult& result) {
  CCFDE_RETURN_IF_ERROR(binding::token_keyslot_opened_by(volume, key, selected).status());
  std::vector<int> others;
  for (int slot : volume.active_keyslots()) {
    if (!binding::lists_keyslot(selected.token.keyslots, slot)) others.push_back(slot);
  }
  if (!others.empty() && !options.drop_other_keyslots) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: keyslots {} are not token {}'s: they only open the old volume key and "
                      "would be destroyed with it; confirm with --drop-other-keyslots (and give "
                      "the new key a recovery passphrase with --recovery-passphrase); nothing "
                      "changed",
                      volume.device().string(), binding::join_keyslots(others), selected.id);
  }
  CCFDE_ASSIGN_OR_RETURN(const int new_slot, binding::first_free_keyslot(volume));
  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, context.backup_dir, "reencrypt"));
  fault_point("reencrypt.after-backup");

  selected.token.state = TokenState::kReencrypting;
  selected.token.pending_keyslot = new_slot;
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, selected.token));
  fault_point("reencrypt.after-token-reencrypting");
  CCFDE_RETURN_IF_ERROR(
      volume.add_unbound_keyslot(key, KeyslotKdf::kMinimalPbkdf2, new_slot).status());
  fault_point("reencrypt.after-add-keyslot");
  return new_slot;
}

// Whether a header backup that this change's start wrote into the (operator's, trusted) backup
// directory holds another volume key than `current`: the evidence that the data pass did run. The
// header itself cannot prove it: the host could write a "reencrypting" token naming the current
// keyslot, and a re-run would then report a change that never happened.
bool backup_shows_another_key(const LuksVolume& volume, std::span<const std::uint8_t> key,
                              const SecretBytes& current, const BindingContext& context) {
  const std::string prefix = volume.uuid() + "-";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(context.backup_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.find("-reencrypt") == std::string::npos ||
        !entry.is_regular_file(error)) {
      continue;
    }
    auto backup = LuksVolume::open(entry.path());
    if (!backup.ok()) continue;
    auto old_key = backup->volume_key(key, kAnyKeyslot);
    if (old_key.ok() && !old_key->equals(current.span())) return true;
  }
  return false;
}

// Picks up an interrupted change. Returns whether the data pass is still to run.
Result<bool> pick_up(LuksVolume& volume, const binding::SelectedToken& selected,
                     std::span<const std::uint8_t> key, const BindingContext& context) {
  const int new_slot = *selected.token.pending_keyslot;
  if (volume.reencryption_in_progress()) {
    notify(context, "resuming the interrupted re-encryption of {}", volume.device().string());
    return true;
  }
  if (!binding::lists_keyslot(volume.active_keyslots(), new_slot)) {
    // Killed before the new keyslot was written: the old key still holds everything.
    CCFDE_RETURN_IF_ERROR(
        binding::token_keyslot_opened_by(volume, key, selected)
            .status()
            .with_context(
                fmt::format("token {} records an interrupted volume-key change", selected.id)));
    CCFDE_RETURN_IF_ERROR(
        volume.add_unbound_keyslot(key, KeyslotKdf::kMinimalPbkdf2, new_slot).status());
    return true;
  }
  // An unbound keyslot opens no segment, so the key is checked by unwrapping the volume key.
  auto new_key = volume.volume_key(key, new_slot);
  if (!new_key.ok()) {
    return new_key.status().with_context(
        fmt::format("the interrupted volume-key change's keyslot {}", new_slot));
  }
  // Unbound: killed before the data pass began.
  if (volume.keyslot_unbound(new_slot)) return true;
  // Bound: the data pass finished, if the backup of the change's start shows the old key.
  if (!backup_shows_another_key(volume, key, *new_key, context)) {
    return make_error(ErrorCode::kUnfinishedOperation,
                      "token {} says a volume-key change finished on keyslot {}, but no header "
                      "backup in {} shows that the volume key changed (the header alone cannot "
                      "prove it); nothing changed: restore the header backup of the change's "
                      "start, or run `fdectl reencrypt` with the backup directory it used",
                      selected.id, new_slot, context.backup_dir.string());
  }
  return false;
}

}  // namespace

Result<ReencryptResult> reencrypt(const std::filesystem::path& device,
                                  const ReencryptOptions& options, const BindingContext& context) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(auto selected, binding::select_token(tokens, options.token_id));
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile,
                         context.config.profile(selected.token.profile));
  CCFDE_RETURN_IF_ERROR(check_preconditions(volume, tokens, selected));

  ReencryptResult result;
  result.uuid = volume.uuid();
  result.token_id = selected.id;
  result.old_keyslots = selected.token.keyslots;
  CCFDE_ASSIGN_OR_RETURN(SecretBytes key,
                         binding::fetch_token_key(context, *profile, selected.token));
  bool data_pass = true;
  if (selected.token.state == TokenState::kReencrypting) {
    result.completed_interrupted = true;
    CCFDE_ASSIGN_OR_RETURN(data_pass, pick_up(volume, selected, key.span(), context));
  } else {
    for (int slot : volume.active_keyslots()) {
      if (!binding::lists_keyslot(result.old_keyslots, slot)) result.old_keyslots.push_back(slot);
    }
    std::sort(result.old_keyslots.begin(), result.old_keyslots.end());
    CCFDE_RETURN_IF_ERROR(begin(volume, selected, key.span(), options, context, result).status());
  }
  const int new_slot = *selected.token.pending_keyslot;

  if (data_pass) {
    const ProgressCallback& outer = options.progress;
    // libcryptsetup calls back after each step of the data pass (with the progress before it).
    CCFDE_RETURN_IF_ERROR(
        volume.reencrypt(key.span(), new_slot, [&outer](std::uint64_t done, std::uint64_t total) {
          fault_point("reencrypt.during-reencryption");
          return !outer || outer(done, total);
        }));
  }
  fault_point("reencrypt.after-reencryption");
  CCFDE_RETURN_IF_ERROR(volume.verify_passphrase(key.span(), new_slot).status());

  if (options.recovery_passphrase != nullptr) {
    const auto existing = volume.verify_passphrase(options.recovery_passphrase->span());
    if (existing.ok() && *existing != new_slot) {
      result.recovery_keyslot = *existing;
    } else {
      CCFDE_ASSIGN_OR_RETURN(result.recovery_keyslot,
                             volume.add_keyslot(key.span(), options.recovery_passphrase->span(),
                                                KeyslotKdf::kLibraryDefault));
    }
    fault_point("reencrypt.after-recovery-keyslot");
  }
  selected.token.state = TokenState::kComplete;
  selected.token.pending_keyslot.reset();
  selected.token.keyslots = {new_slot};
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, selected.id, selected.token));
  result.new_keyslot = new_slot;
  return result;
}

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// enroll: bind a volume to a broker resource (binding.h has the order of steps and why).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <cstring>

#include "ccfde/common/encoding.h"
#include "ccfde/common/unique_fd.h"
#include "fault.h"
#include "steps.h"

namespace ccfde::agent {
namespace {

using binding::fault_point;
using binding::notify;

struct EnrollRun {
  const std::filesystem::path& device;
  const EnrollOptions& options;
  const BrokerProfile& profile;
  const BindingContext& context;
};

// The broker key of a new binding: generated and uploaded first (so that the keyslot is never
// created for a key the broker does not hold), or fetched through attestation and checked.
Result<SecretBytes> obtain_key(const EnrollRun& run) {
  if (run.options.key_source == KeySource::kBroker) {
    auto key = run.context.keys.fetch(run.profile, run.options.resource);
    if (!key.ok())
      return key.status().with_context(fmt::format("fetching {}", run.options.resource));
    Status strong = check_broker_key(key->span());
    if (!strong.ok()) {
      return make_error(ErrorCode::kKeyRejected,
                        "--key-source broker: {}: {}; nothing changed (store a random key of at "
                        "least {} bytes there, or use --key-source generate)",
                        run.options.resource, strong.message(), kMinBrokerKeyBytes);
    }
    return key;
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes key, binding::generate_key());
  Status uploaded = run.context.keys.upload(run.profile, run.options.resource, key.span());
  if (!uploaded.ok())
    return uploaded.with_context(fmt::format("uploading {}", run.options.resource));
  notify(run.context, "uploaded a new {}-byte key as {}", key.size(), run.options.resource);
  fault_point("enroll.after-upload");
  return key;
}

// Whether `device` starts with a LUKS magic (any version).
Result<bool> has_luks_magic(const std::filesystem::path& device) {
  UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return make_errno_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, error,
                            "cannot open {}", device.string());
  }
  static constexpr std::array<unsigned char, 6> kMagic = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  std::array<unsigned char, 6> head{};
  const ssize_t got = ::pread(fd.get(), head.data(), head.size(), 0);
  if (got < 0) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "cannot read {}", device.string());
  }
  return static_cast<std::size_t>(got) == head.size() && head == kMagic;
}

// Destroys the keyslot the unlock secret opens, once the cc-fde keyslot `bound_slot` is verified.
Status remove_unlock_keyslot(LuksVolume& volume, const EnrollRun& run,
                             const std::vector<ListedToken>& tokens, int unlock_slot,
                             int bound_slot, EnrollResult& result) {
  if (unlock_slot == bound_slot) {
    notify(run.context, "not removing keyslot {}: it is the cc-fde keyslot itself", unlock_slot);
    return Status();
  }
  for (const ListedToken& token : tokens) {
    if (std::find(token.keyslots.begin(), token.keyslots.end(), unlock_slot) !=
        token.keyslots.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--remove-passphrase: keyslot {} (opened by the unlock secret) belongs to "
                        "token {} ('{}'); not removing it",
                        unlock_slot, token.id, token.type);
    }
  }
  const std::vector<int> active = volume.active_keyslots();
  if (std::none_of(active.begin(), active.end(), [&](int slot) { return slot != unlock_slot; })) {
    return make_error(ErrorCode::kLastCredential,
                      "--remove-passphrase: keyslot {} is the only keyslot", unlock_slot);
  }
  CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(unlock_slot));
  result.removed_keyslot = unlock_slot;
  notify(run.context, "removed the passphrase keyslot {}", unlock_slot);
  return Status();
}

// A complete token for the same profile and resource exists: verify it, then finish what the
// first run may not have reached (removing the passphrase, adding the recovery keyslot).
Result<EnrollResult> finish_existing(LuksVolume& volume, const EnrollRun& run,
                                     const std::vector<ListedToken>& tokens,
                                     const binding::SelectedToken& mine,
                                     const Result<int>& unlock_slot) {
  EnrollResult result;
  result.uuid = volume.uuid();
  result.token_id = mine.id;
  result.already_enrolled = true;
  auto key = run.context.keys.fetch(run.profile, run.options.resource);
  if (!key.ok()) return key.status().with_context(fmt::format("fetching {}", run.options.resource));
  CCFDE_ASSIGN_OR_RETURN(auto opened,
                         binding::keyslot_opened_by(volume, key->span(), mine.token.keyslots));
  if (!opened) {
    return make_error(ErrorCode::kKeyRejected,
                      "token {} already binds {} but the broker's key opens none of its keyslots "
                      "({}); see `fdectl test`",
                      mine.id, run.options.resource, binding::join_keyslots(mine.token.keyslots));
  }
  result.keyslot = *opened;
  notify(run.context, "already enrolled: token {}, keyslot {} (verified)", mine.id, *opened);
  const bool wants_removal = run.options.mode == EnrollMode::kBind && run.options.remove_passphrase;
  const bool wants_recovery =
      run.options.mode != EnrollMode::kBind && run.options.unlock_secret != nullptr;
  if (wants_removal) {
    if (!unlock_slot.ok()) {
      notify(run.context, "the unlock secret opens no keyslot: no passphrase keyslot to remove");
      return result;
    }
    CCFDE_ASSIGN_OR_RETURN(result.backup,
                           binding::backup_header(volume, run.context.backup_dir, "enroll"));
    CCFDE_RETURN_IF_ERROR(
        remove_unlock_keyslot(volume, run, tokens, *unlock_slot, *opened, result));
  } else if (wants_recovery && !unlock_slot.ok()) {
    CCFDE_ASSIGN_OR_RETURN(result.backup,
                           binding::backup_header(volume, run.context.backup_dir, "enroll"));
    CCFDE_ASSIGN_OR_RETURN(result.recovery_keyslot,
                           volume.add_keyslot(key->span(), run.options.unlock_secret->span(),
                                              KeyslotKdf::kLibraryDefault));
  }
  return result;
}

// Finds this binding's token among `tokens` and refuses when the header's state is not one this
// run may change: invalid cc-fde tokens, other tokens' interrupted operations.
Result<std::optional<binding::SelectedToken>> find_own_token(
    const LuksVolume& volume, const EnrollRun& run, const std::vector<ListedToken>& tokens) {
  std::optional<binding::SelectedToken> mine;
  for (const ListedToken& token : tokens) {
    if (token.type != kTokenType) continue;
    if (token.error) {
      return token.error->with_context(fmt::format(
          "token {} (nothing changed while its state is unknown; `cryptsetup token remove "
          "--token-id {}` removes it)",
          token.id, token.id));
    }
    const binding::SelectedToken selected{token.id, *token.cc_fde};
    if (token.cc_fde->profile == run.options.profile &&
        token.cc_fde->resource == run.options.resource) {
      if (!mine || token.cc_fde->state != TokenState::kComplete) mine = selected;
      continue;
    }
    if (token.cc_fde->state != TokenState::kComplete) {
      return binding::unfinished_operation_error(volume, selected);
    }
  }
  if (mine && mine->token.state != TokenState::kComplete &&
      mine->token.state != TokenState::kPending) {
    return binding::unfinished_operation_error(volume, *mine);
  }
  return mine;
}

// Rolls back a first attempt that failed before the token was complete; best effort (a re-run
// completes what is left, since the token still says pending).
void roll_back(LuksVolume& volume, int token_id, std::optional<int> keyslot) {
  if (keyslot) (void)volume.destroy_keyslot(*keyslot);
  (void)volume.remove_token(token_id);
}

// The bind steps on an opened LUKS2 volume. `preset_key`: a key already obtained (kFormat).
Result<EnrollResult> bind_volume(LuksVolume& volume, const EnrollRun& run,
                                 const SecretBytes& unlock, SecretBytes* preset_key) {
  CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
  const Result<int> unlock_slot = volume.verify_passphrase(unlock.span());
  if (!unlock_slot.ok() && unlock_slot.status().code() != ErrorCode::kKeyRejected) {
    return unlock_slot.status();
  }
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(auto mine, find_own_token(volume, run, tokens));
  if (mine && mine->token.state == TokenState::kComplete) {
    return finish_existing(volume, run, tokens, *mine, unlock_slot);
  }
  if (!unlock_slot.ok()) {
    return unlock_slot.status().with_context(
        fmt::format("the unlock secret does not open {}", volume.device().string()));
  }

  // A pending token: its keyslot was never verified, so it is removed and the enroll redone.
  std::optional<int> stale_slot;
  if (mine) {
    const std::vector<int> active = volume.active_keyslots();
    std::vector<int> candidates = mine->token.keyslots;
    if (mine->token.pending_keyslot) candidates.push_back(*mine->token.pending_keyslot);
    for (int slot : candidates) {
      if (std::find(active.begin(), active.end(), slot) == active.end()) continue;
      if (slot == *unlock_slot || binding::referenced_by_other_token(tokens, slot, mine->id)) {
        return make_error(
            ErrorCode::kUnfinishedOperation,
            "token {} records an interrupted enroll whose keyslot {} is {}; remove "
            "the token with `fdectl unbind {} --token {}` first",
            mine->id, slot,
            slot == *unlock_slot ? "the one the unlock secret opens" : "used by another token",
            volume.device().string(), mine->id);
      }
      stale_slot = slot;
    }
  } else {
    CCFDE_RETURN_IF_ERROR(binding::first_free_keyslot(volume));
  }

  SecretBytes key;
  if (preset_key != nullptr) {
    key = std::move(*preset_key);
  } else {
    CCFDE_ASSIGN_OR_RETURN(key, obtain_key(run));
  }

  EnrollResult result;
  result.uuid = volume.uuid();
  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, run.context.backup_dir, "enroll"));
  fault_point("enroll.after-backup");

  if (mine) {
    result.completed_interrupted = true;
    if (stale_slot) {
      CCFDE_RETURN_IF_ERROR(volume.destroy_keyslot(*stale_slot));
      notify(run.context, "completing an interrupted enroll: destroyed unverified keyslot {}",
             *stale_slot);
    } else {
      notify(run.context, "completing an interrupted enroll (token {})", mine->id);
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const int slot, binding::first_free_keyslot(volume));
  CcFdeToken token;
  token.profile = run.options.profile;
  token.resource = run.options.resource;
  token.state = TokenState::kPending;
  token.pending_keyslot = slot;
  CCFDE_ASSIGN_OR_RETURN(result.token_id,
                         binding::write_token(volume, mine ? mine->id : kAnyToken, token));
  fault_point("enroll.after-token-pending");

  auto added = volume.add_keyslot(unlock.span(), key.span(), KeyslotKdf::kMinimalPbkdf2, slot);
  if (!added.ok()) {
    roll_back(volume, result.token_id, std::nullopt);
    return added.status().with_context(fmt::format("adding keyslot {}", slot));
  }
  fault_point("enroll.after-add-keyslot");
  auto verified = volume.verify_passphrase(key.span(), *added);
  if (!verified.ok()) {
    roll_back(volume, result.token_id, *added);
    return verified.status().with_context(
        fmt::format("the broker key does not open the new keyslot {}", *added));
  }

  token.state = TokenState::kComplete;
  token.pending_keyslot.reset();
  token.keyslots = {*added};
  CCFDE_RETURN_IF_ERROR(binding::write_token(volume, result.token_id, token));
  result.keyslot = *added;
  fault_point("enroll.after-token-complete");

  if (run.options.mode == EnrollMode::kBind && run.options.remove_passphrase) {
    CCFDE_ASSIGN_OR_RETURN(tokens, binding::read_tokens(volume));
    CCFDE_RETURN_IF_ERROR(remove_unlock_keyslot(volume, run, tokens, *unlock_slot, *added, result));
  }
  return result;
}

Result<EnrollResult> enroll_format(const EnrollRun& run) {
  CCFDE_ASSIGN_OR_RETURN(const bool has_luks, has_luks_magic(run.device));
  if (has_luks && !run.options.force) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} already holds a LUKS header; formatting destroys it and every byte "
                      "encrypted under it (confirm with --force)",
                      run.device.string());
  }
  // Integrity needs device-mapper to initialise its tags: refused before the key is obtained
  // (an upload changes the broker) and before the header is touched.
  CCFDE_RETURN_IF_ERROR(check_integrity_format_possible(run.device, run.options.format.integrity));
  // The existing header is checked before the key is obtained (an upload changes the broker) and
  // backed up after.
  std::optional<LuksVolume> existing;
  if (has_luks) {
    auto opened = LuksVolume::open(run.device);
    if (opened.ok()) {
      CCFDE_RETURN_IF_ERROR(binding::checked_uuid(*opened));
      existing = std::move(opened).value();
    } else {
      notify(run.context, "the existing header cannot be backed up ({}); formatting anyway",
             opened.status().to_string());
    }
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes key, obtain_key(run));
  std::filesystem::path backup;
  if (existing) {
    CCFDE_ASSIGN_OR_RETURN(backup,
                           binding::backup_header(*existing, run.context.backup_dir, "format"));
    existing.reset();
  }
  if (!run.options.format.integrity.empty() && run.options.format.integrity != "none") {
    notify(run.context,
           "formatting {} with integrity {}: every sector is written once to initialise the "
           "integrity tags, which takes as long as writing the whole device",
           run.device.string(), run.options.format.integrity);
  }
  if (run.options.unlock_secret != nullptr) {
    // The operator's passphrase becomes keyslot 0 (recovery); the broker key is bound like on
    // any existing volume.
    CCFDE_ASSIGN_OR_RETURN(auto volume,
                           LuksVolume::format(run.device, run.options.unlock_secret->span(),
                                              KeyslotKdf::kLibraryDefault, run.options.format));
    // format() put the passphrase in keyslot 0, its only keyslot: no need to pay its KDF again.
    const int recovery = volume.active_keyslots().front();
    CCFDE_ASSIGN_OR_RETURN(auto result, bind_volume(volume, run, *run.options.unlock_secret, &key));
    result.recovery_keyslot = recovery;
    if (!backup.empty()) result.backup = backup;
    return result;
  }
  CCFDE_ASSIGN_OR_RETURN(
      auto volume,
      LuksVolume::format(run.device, key.span(), KeyslotKdf::kMinimalPbkdf2, run.options.format));
  EnrollResult result;
  result.uuid = volume.uuid();
  result.backup = backup;
  CCFDE_ASSIGN_OR_RETURN(result.keyslot, volume.verify_passphrase(key.span()));
  CcFdeToken token;
  token.profile = run.options.profile;
  token.resource = run.options.resource;
  token.keyslots = {result.keyslot};
  CCFDE_ASSIGN_OR_RETURN(result.token_id, binding::write_token(volume, kAnyToken, token));
  return result;
}

// Only a fault point: once some data is encrypted, a crash must leave a resumable reencryption.
ProgressCallback encryption_progress() {
  return [](std::uint64_t done, std::uint64_t /*total*/) {
    if (done > 0) fault_point("encrypt.during-reencryption");
    return true;
  };
}

// After encryption: the token for the keyslot `key` opens, then the optional recovery keyslot.
Result<EnrollResult> finish_encryption(LuksVolume& volume, const EnrollRun& run,
                                       const SecretBytes& key) {
  EnrollResult result;
  result.uuid = volume.uuid();
  CCFDE_ASSIGN_OR_RETURN(result.keyslot, volume.verify_passphrase(key.span()));
  CCFDE_ASSIGN_OR_RETURN(result.backup,
                         binding::backup_header(volume, run.context.backup_dir, "enroll"));
  CcFdeToken token;
  token.profile = run.options.profile;
  token.resource = run.options.resource;
  token.keyslots = {result.keyslot};
  CCFDE_ASSIGN_OR_RETURN(result.token_id, binding::write_token(volume, kAnyToken, token));
  if (run.options.unlock_secret != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(result.recovery_keyslot,
                           volume.add_keyslot(key.span(), run.options.unlock_secret->span(),
                                              KeyslotKdf::kLibraryDefault));
  }
  return result;
}

Result<EnrollResult> enroll_encrypt(const EnrollRun& run) {
  CCFDE_ASSIGN_OR_RETURN(const bool has_luks, has_luks_magic(run.device));
  if (has_luks) {
    CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(run.device));
    CCFDE_RETURN_IF_ERROR(binding::checked_uuid(volume));
    CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
    CCFDE_ASSIGN_OR_RETURN(auto mine, find_own_token(volume, run, tokens));
    if (mine && mine->token.state == TokenState::kComplete) {
      const Result<int> recovery_slot =
          run.options.unlock_secret != nullptr
              ? volume.verify_passphrase(run.options.unlock_secret->span())
              : Result<int>(0);
      return finish_existing(volume, run, tokens, *mine, recovery_slot);
    }
    if (mine) return binding::unfinished_operation_error(volume, *mine);
    // Encrypted by an earlier run (the key came from the broker then, so it does now).
    auto key = run.context.keys.fetch(run.profile, run.options.resource);
    if (!key.ok())
      return key.status().with_context(fmt::format("fetching {}", run.options.resource));
    if (volume.reencryption_in_progress()) {
      notify(run.context, "resuming the interrupted encryption of {}", run.device.string());
      CCFDE_ASSIGN_OR_RETURN(
          volume, LuksVolume::encrypt_in_place(run.device, key->span(), KeyslotKdf::kMinimalPbkdf2,
                                               run.options.encrypt, encryption_progress()));
    } else if (!volume.verify_passphrase(key->span()).ok()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{} is already a LUKS2 volume and {} opens none of its keyslots: bind it "
                        "without --encrypt",
                        run.device.string(), run.options.resource);
    } else {
      notify(run.context, "{} is already encrypted with the broker's key: writing its token",
             run.device.string());
    }
    auto result = finish_encryption(volume, run, *key);
    if (result.ok()) result->completed_interrupted = true;
    return result;
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes key, obtain_key(run));
  CCFDE_ASSIGN_OR_RETURN(
      auto volume, LuksVolume::encrypt_in_place(run.device, key.span(), KeyslotKdf::kMinimalPbkdf2,
                                                run.options.encrypt, encryption_progress()));
  fault_point("encrypt.after-encryption");
  return finish_encryption(volume, run, key);
}

}  // namespace

Status check_broker_key(std::span<const std::uint8_t> key) {
  if (key.size() < kMinBrokerKeyBytes) {
    return make_error(ErrorCode::kKeyRejected, "the key is {} bytes; at least {} are required",
                      key.size(), kMinBrokerKeyBytes);
  }
  std::bitset<256> seen;
  for (std::uint8_t byte : key) seen.set(byte);
  const std::size_t distinct = seen.count();
  const double bits = static_cast<double>(key.size()) * std::log2(static_cast<double>(distinct));
  if (bits < kMinBrokerKeyBits) {
    return make_error(ErrorCode::kKeyRejected,
                      "the key does not look random: {} bytes with {} distinct byte values give "
                      "{:.0f} bits by length * log2(distinct values), below {:.0f}",
                      key.size(), distinct, bits, kMinBrokerKeyBits);
  }
  return Status();
}

Result<EnrollResult> enroll(const std::filesystem::path& device, const EnrollOptions& options,
                            const BindingContext& context) {
  if (options.resource.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no resource given");
  }
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile, context.config.profile(options.profile));
  // The token written here is what fde-agent will accept: the same profile allowance.
  if (!profile->allows_resource(options.resource)) {
    return make_error(ErrorCode::kPolicyViolation,
                      "resource {} is not in profile {}'s resources [{}]: fde-agent would refuse "
                      "the token; add it to the configuration first",
                      escape_nonprintable(options.resource), profile->name,
                      fmt::join(profile->resources, ", "));
  }
  if (!options.format.integrity.empty() && options.mode == EnrollMode::kEncrypt) {
    return make_error(ErrorCode::kInvalidArgument,
                      "integrity {} needs a new volume (--format): libcryptsetup cannot encrypt "
                      "in place with integrity, because dm-integrity must write a tag for every "
                      "sector of an empty device",
                      options.format.integrity);
  }
  if (!options.format.integrity.empty() && options.mode == EnrollMode::kBind) {
    return make_error(ErrorCode::kInvalidArgument,
                      "integrity {} is chosen when a volume is formatted (--format); an existing "
                      "volume keeps the integrity it was formatted with",
                      options.format.integrity);
  }
  const EnrollRun run{device, options, *profile, context};
  switch (options.mode) {
    case EnrollMode::kFormat: return enroll_format(run);
    case EnrollMode::kEncrypt: return enroll_encrypt(run);
    case EnrollMode::kBind: break;
  }
  if (options.unlock_secret == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "binding an existing volume needs a passphrase or key file that opens it "
                      "(--unlock-with FILE)");
  }
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  return bind_volume(volume, run, *options.unlock_secret, nullptr);
}

}  // namespace ccfde::agent

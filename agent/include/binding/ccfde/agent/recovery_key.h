// SPDX-License-Identifier: Apache-2.0
// The operator's recovery key: a random key an operator types at a rescue console
// (`cryptsetup open`) when the broker is gone for good. It is for offline rescue only: fde-agent
// never prompts for it, never tries it and never treats its keyslot as a cc-fde keyslot (rotate,
// unbind, test and the boot-time unlock only act on the keyslots a cc-fde token lists).
//
// Text form: systemd's recovery key format (systemd/systemd src/shared/recovery-key.c at commit
// 02add7c8c4fe3ff27d7635f6aa8a6f677938bd7f), so that an operator who knows
// `systemd-cryptenroll --recovery-key` recognises it: kRecoveryKeyBytes random bytes from the
// OS CSPRNG, each written as two "modhex" characters (the 16 letters below, high nibble first),
// in 8 groups of 8 characters joined by '-': 71 characters, 256 bits. The key is the text itself
// (what is typed), not the bytes it encodes.
//
// Header marker: a LUKS2 token of systemd's type "systemd-recovery" listing the keyslot, as
// systemd-cryptenroll writes it (src/cryptenroll/cryptenroll-recovery.c at commit
// 017fbb71018065f300a29ed99dc76915d51c4348), so `systemd-cryptenroll DEVICE` lists the keyslot as
// "recovery" and `systemd-cryptenroll --wipe-slot=recovery DEVICE` removes it. systemd-cryptsetup
// has no plugin for that type and never acts on it. cc-fde adds two members systemd ignores:
//   "cc-fde-created": "YYYY-MM-DDTHH:MM:SSZ"   when the key was made (UTC)
//   "cc-fde-pending-keyslot": "N"              only while an add is in progress (then "keyslots"
//                                              is empty): the keyslot being created, whose key
//                                              was never shown; a re-run destroys it and redoes
// Unlike systemd (which gives its recovery keyslot the minimal PBKDF2), the keyslot uses argon2id
// with cryptsetup's LUKS2 defaults (KeyslotKdf::kArgon2id): a rescue console can afford it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/agent/binding.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

inline constexpr std::string_view kRecoveryTokenType = "systemd-recovery";
inline constexpr std::size_t kRecoveryKeyBytes = 32;
inline constexpr std::string_view kModhexAlphabet = "cbdefghijklnrtuv";
inline constexpr std::size_t kRecoveryKeyGroupLength = 8;
// 64 modhex characters and 7 dashes.
inline constexpr std::size_t kRecoveryKeyTextLength = kRecoveryKeyBytes * 2 + 7;

// The text form of `key` (see the top of this file). Precondition: key.size() ==
// kRecoveryKeyBytes; other sizes give an empty result.
SecretBytes format_recovery_key(std::span<const std::uint8_t> key);

// Whether `text` is exactly a recovery key in the text form (lowercase, with dashes).
bool is_recovery_key_text(std::span<const std::uint8_t> text) noexcept;

// A new recovery key in text form from kRecoveryKeyBytes of the OpenSSL CSPRNG (seeded by the
// OS). Errors: kCryptoError.
Result<SecretBytes> generate_recovery_key();

// Reads a "systemd-recovery" token's JSON text (RecoveryToken, binding.h) leniently: it is only a
// marker, any tool may have written it (untrusted), and systemd-cryptenroll's has neither cc-fde
// member; members that do not parse are left empty.
RecoveryToken parse_recovery_token(std::string_view json);

// The JSON text of a "systemd-recovery" token with `token`'s keyslots and members.
std::string recovery_token_json(const RecoveryToken& token);

struct RecoveryKeyOptions {
  // What authorises the new keyslot: `unlock_secret` (exact bytes of an existing passphrase or key
  // file) when set, otherwise the broker key of cc-fde token `token_id` (nullopt: the volume's only
  // cc-fde token), fetched through attestation and verified against that token's keyslots.
  std::optional<int> token_id;
  const SecretBytes* unlock_secret = nullptr;  // not owned; must outlive the call
};

struct RecoveryKeyResult {
  std::string uuid;
  int token_id = -1;
  int keyslot = -1;
  std::string created;  // "YYYY-MM-DDTHH:MM:SSZ"
  SecretBytes key;      // the text form: show it once, to the operator only
  std::filesystem::path backup;
  bool completed_interrupted = false;  // an interrupted add was found and redone
};

// Adds a recovery key to `device`: a new key (generate_recovery_key), checked authorisation ->
// header backup -> "systemd-recovery" token {keyslots [], cc-fde-pending-keyslot N} -> keyslot N
// (argon2id) -> verify the key opens N -> token {keyslots [N]}. Killed at any point, the header
// opens as before, and the same call destroys the never-shown keyslot N of a pending token and
// redoes the add. Each successful call adds one more recovery key (existing ones are kept).
// Errors: kNotFound, kIoError, kNotLuks2, kMalformed (LuksVolume::open; the header's UUID);
// kKeyRejected (the unlock secret or the broker's key opens no keyslot / none of the token's);
// kNoToken, kInvalidArgument (no or several cc-fde tokens without an unlock secret; all keyslots
// in use), kInvalidToken, kUnknownProfile, kUnfinishedOperation (the cc-fde token whose key
// authorises is not complete; a pending recovery token's keyslot is listed by another token or
// is the one the unlock secret opens); kCryptoError; the KeyService's errors.
Result<RecoveryKeyResult> add_recovery_key(const std::filesystem::path& device,
                                           const RecoveryKeyOptions& options,
                                           const BindingContext& context);

}  // namespace ccfde::agent

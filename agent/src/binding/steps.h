// SPDX-License-Identifier: Apache-2.0
// Building blocks shared by enroll, rotate, unbind, test and list.
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/agent/binding.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::agent::binding {

// Every token of `volume`; cc-fde ones parsed (an invalid one carries its error). Errors: those of
// LuksVolume::tokens.
Result<std::vector<ListedToken>> read_tokens(const LuksVolume& volume);

// The keyslot numbers of a token's generic "keyslots" member; members that do not parse are
// skipped (any token type, untrusted).
std::vector<int> generic_keyslots(std::string_view token_json);

// Whether `keyslots` holds `keyslot`.
bool lists_keyslot(const std::vector<int>& keyslots, int keyslot);

// Whether a token other than `own_token_id` lists `keyslot`.
bool referenced_by_other_token(const std::vector<ListedToken>& tokens, int keyslot,
                               int own_token_id);

// The lowest keyslot number not in use. kInvalidArgument when all are taken.
Result<int> first_free_keyslot(const LuksVolume& volume);

struct SelectedToken {
  int id = -1;
  CcFdeToken token;
};

// The cc-fde token `id`, or without an id the only cc-fde token. Errors: kNoToken (none / no such
// token / not a cc-fde token), kInvalidArgument (several and no id), kInvalidToken (it breaks the
// schema).
Result<SelectedToken> select_token(const std::vector<ListedToken>& tokens, std::optional<int> id);

// kUnfinishedOperation naming the command that completes the interrupted operation of `selected`.
Status unfinished_operation_error(const LuksVolume& volume, const SelectedToken& selected);

// kGeneratedKeyBytes from the OpenSSL CSPRNG. Errors: kCryptoError.
Result<SecretBytes> generate_key();

// The header's UUID in lowercase when it is a UUID in 8-4-4-4-12 hex form (any case). The header
// is untrusted and its UUID names the header backup: every operation that changes a header checks
// it before changing anything. Errors: kMalformed naming the UUID (escaped).
Result<std::string> checked_uuid(const LuksVolume& volume);

// Writes a header backup of `volume` into `dir` (created 0700 if missing) as
// <uuid>-<UTC timestamp>-<operation>.img (a name already taken, even by a dangling symbolic link,
// is skipped, never followed or replaced) and returns its path. Errors: kMalformed (checked_uuid),
// kIoError.
Result<std::filesystem::path> backup_header(const LuksVolume& volume,
                                            const std::filesystem::path& dir,
                                            std::string_view operation);

// Writes `token` as token `id` (kAnyToken: a new one) and returns its id.
Result<int> write_token(LuksVolume& volume, int id, const CcFdeToken& token);

// The first of `keyslots` that `key` opens, or nullopt. Errors other than "this keyslot rejects
// the key" (I/O) are returned.
Result<std::optional<int>> keyslot_opened_by(const LuksVolume& volume,
                                             std::span<const std::uint8_t> key,
                                             const std::vector<int>& keyslots);

// The broker's key for `token`'s resource from `profile`. Errors: the KeyService's, with the
// context "fetching RESOURCE".
Result<SecretBytes> fetch_token_key(const BindingContext& context, const BrokerProfile& profile,
                                    const CcFdeToken& token);

// The first of `selected`'s keyslots that `key` opens. Errors: kKeyRejected ("the broker's key
// for RESOURCE opens none of token N's keyslots (...); nothing changed"), keyslot_opened_by's.
Result<int> token_keyslot_opened_by(const LuksVolume& volume, std::span<const std::uint8_t> key,
                                    const SelectedToken& selected);

// "1, 3" for messages.
std::string join_keyslots(const std::vector<int>& keyslots);

// Passes a line to context.notice when set.
template <typename... Args>
void notify(const BindingContext& context, fmt::format_string<Args...> format, Args&&... args) {
  if (context.notice) context.notice(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ccfde::agent::binding

// SPDX-License-Identifier: Apache-2.0
// The cc-fde LUKS2 token: the JSON object cc-fde stores in a LUKS2 header to say which keyslots a
// key broker unlocks and where the key lives. The header is untrusted input (anyone who can write
// the disk can edit it), so the token only *selects*: a profile name that the agent's measured
// configuration must define, and a resource inside that profile's broker. URLs, CAs and pins never
// come from here.
//
// Schema (version 1), every member required unless marked optional, no other members allowed:
//   {"type": "cc-fde",
//    "keyslots": ["1"],             LUKS2 convention: keyslot numbers as decimal strings
//    "cc-fde-version": 1,
//    "profile": "default",          [A-Za-z0-9_.-]{1,64}, a key of the configuration's "profiles"
//    "resource": "repo/type/tag",   Trustee resource path, or for ITA a key id (UUID)
//    "state": "pending"|"rotating"|"unbinding"|"reencrypting",   optional: an interrupted
//                                   operation (binding.h)
//    "pending-keyslot": "3"}        optional: the keyslot an interrupted operation was creating
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::agent {

inline constexpr std::string_view kTokenType = "cc-fde";
inline constexpr int kTokenSchemaVersion = 1;
// The LUKS2 header subsystem of a volume whose first boot has not finished (first_boot.h): its
// label holds the first-boot id. Such a volume is never unlocked as an established one.
inline constexpr std::string_view kFirstBootSubsystem = "cc-fde-first-boot";
// LUKS2 limits (LUKS2_OBJECTS_MAX): keyslot and token ids are 0..31.
inline constexpr int kLuks2MaxKeyslots = 32;
inline constexpr int kLuks2MaxTokens = 32;

enum class TokenState {
  kComplete,   // no "state" member
  kPending,    // enroll was interrupted after the token was written
  kRotating,   // rotate was interrupted: keyslots holds the old and the new slot
  kUnbinding,  // unbind was interrupted: keyslots are being destroyed
  // reencrypt was interrupted: keyslots holds the old key's slot(s) (none once the data is
  // re-encrypted), pending-keyslot the new key's slot
  kReencrypting,
};

// "complete", "pending", "rotating", "unbinding", "reencrypting".
std::string_view token_state_name(TokenState state) noexcept;

struct CcFdeToken {
  std::vector<int> keyslots;  // ascending, unique, each in [0, kLuks2MaxKeyslots)
  std::string profile;
  std::string resource;
  TokenState state = TokenState::kComplete;
  std::optional<int> pending_keyslot;

  bool operator==(const CcFdeToken&) const = default;
};

// Parses and validates a token's JSON text strictly: a JSON object with exactly the members above,
// "type" == "cc-fde", "cc-fde-version" == 1, keyslots as canonical decimal strings ("01" and
// "+1" are refused) without duplicates, a profile name of [A-Za-z0-9_.-]{1,64}, a resource of
// 1..256 printable ASCII characters without spaces, a known "state" string.
// Also refused: a member given twice (nlohmann alone would keep the last), JSON nested deeper
// than 4 levels or larger than 64 KiB, an empty "keyslots" unless "state" is set (a keyslot
// destroyed by an interrupted unbind leaves the token without one), "pending-keyslot" without
// "state". "type" and "cc-fde-version" are checked before unknown members.
// Errors: kInvalidToken naming the member and what is wrong ("keyslots[1]: '33' is not a keyslot
// number 0-31"); kUnsupportedVersion for another "cc-fde-version"; kInvalidToken when "type" is
// not "cc-fde" (callers filter by type first).
Result<CcFdeToken> parse_token(std::string_view text);

// The canonical JSON text of `token` (members in schema order, keyslots sorted). parse_token of
// the result gives back `token`. Precondition: `token` satisfies the schema (the caller built it
// from validated parts); violations are kInvalidToken.
Result<std::string> token_to_json(const CcFdeToken& token);

}  // namespace ccfde::agent

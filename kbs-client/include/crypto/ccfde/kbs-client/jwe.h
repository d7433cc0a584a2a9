// SPDX-License-Identifier: Apache-2.0
// JWE in the flattened JSON serialisation (RFC 7516 §7.2.2), as Trustee's KBS returns resources
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.6–§3.8): ECDH-ES+A256KW (P-256, P-521) or RSA-OAEP-256
// key management, A256GCM content encryption.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/tee_key.h"

namespace ccfde::kbs_client {

// Decrypts a flattened-JSON JWE addressed to `key`.
//
// `jwe` must be an object with string members "protected", "encrypted_key", "iv", "ciphertext"
// and "tag" (base64url). An unprotected "header" object is accepted only to carry "epk" (as
// jwcrypto writes it; epk needs no integrity protection of its own, since a changed epk changes
// the KEK and the unwrap fails). "aad" and "recipients" are refused: Trustee never sends them.
// The protected header must be a JSON object with "alg" matching the key ("ECDH-ES+A256KW" with
// an "epk" on the key's curve, or "RSA-OAEP-256") and "enc":"A256GCM"; "zip" and "crit" are
// refused. The AAD of AES-GCM is the ASCII bytes of the received "protected" string, exactly as
// received. The IV must be 12 bytes, the tag 16 bytes.
//
// Errors: kMalformedResponse for shape errors (not an object, missing, unknown or non-string
// member, bad base64url, header not a JSON object, epk missing, on another curve or not a valid
// point, wrong IV/tag/encrypted_key length); kUnsupportedAlgorithm naming the alg or enc for any
// other algorithm (RSA1_5, dir, A128GCM, ...), an alg that does not fit the key type, zip, crit;
// kDecryptionFailed with the message "key unwrap failed" (AES key unwrap of ECDH-ES+A256KW) or
// "tag mismatch" (GCM authentication; also an RSA-OAEP-256 unwrap failure, which per RFC 7516
// §11.5 continues with a random CEK so that the two cannot be told apart); kCryptoError if
// OpenSSL fails unexpectedly.
// The plaintext is returned in a SecretBytes; every intermediate secret is wiped.
Result<SecretBytes> decrypt_jwe(const nlohmann::json& jwe, const TeeKey& key);

// Encrypts `plaintext` for a recipient's public JWK as TeeKey::public_jwk() produces it (and as a
// KBS does): EC P-256/P-521 -> ECDH-ES+A256KW with a fresh ephemeral key, RSA -> RSA-OAEP-256;
// content A256GCM with a fresh CEK and 12-byte IV. The protected header is serialised as Trustee
// does: {"alg":..,"enc":"A256GCM"} or {"alg":..,"enc":"A256GCM","epk":{"crv","kty","x","y"}}.
// Returns {"protected","encrypted_key","iv","ciphertext","tag"}.
// Errors: kInvalidArgument for a JWK that is not a valid EC P-256/P-521 or RSA public key (or whose
// "alg", when present, does not fit); kUnsupportedAlgorithm for another kty/crv; kCryptoError if
// OpenSSL fails.
Result<nlohmann::json> encrypt_jwe(std::span<const std::uint8_t> plaintext,
                                   const nlohmann::json& recipient_jwk);

}  // namespace ccfde::kbs_client

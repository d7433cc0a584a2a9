// SPDX-License-Identifier: Apache-2.0
// The building blocks of JWE key management and content encryption
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.8), kept apart from jwe.cpp so that unit tests can
// check each intermediate value against the constructed vector (Z, KEK, CEK), and so that the ITA
// adapter (kbs-client/src/ita) uses the same RSA-OAEP-256 and AES-256-GCM. The crypto part's
// interface for the other kbs-client parts and its tests (namespace internal): nothing outside
// kbs-client uses it; the API for everyone else is jwe.h.
#pragma once

#include <openssl/core.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client::internal {

using EvpCipherCtxPtr = CHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpKdfPtr = CHandle<EVP_KDF, EVP_KDF_free>;
using EvpKdfCtxPtr = CHandle<EVP_KDF_CTX, EVP_KDF_CTX_free>;

inline constexpr std::size_t kCekSize = 32;  // A256GCM
inline constexpr std::size_t kGcmIvSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;
inline constexpr std::size_t kWrappedCekSize = 40;  // RFC 3394 wrap of 32 bytes

// A byte buffer that is wiped (OPENSSL_cleanse) when destroyed: for decoded JWE members.
struct WipedBytes {
  Bytes bytes;
  WipedBytes() = default;
  explicit WipedBytes(Bytes value) : bytes(std::move(value)) {}
  WipedBytes(WipedBytes&&) noexcept = default;
  WipedBytes& operator=(WipedBytes&&) noexcept = default;
  WipedBytes(const WipedBytes&) = delete;
  WipedBytes& operator=(const WipedBytes&) = delete;
  ~WipedBytes();
};

// The OpenSSL group name of a JOSE curve name ("P-256" -> "P-256", "P-521" -> "P-521") and the
// coordinate size in bytes (32, 66); kUnsupportedAlgorithm for other curves.
struct CurveInfo {
  std::string_view jose_name;
  std::size_t coordinate_size;
};
Result<CurveInfo> curve_info(std::string_view jose_name);

// An EC public key on `curve` from its affine coordinates (each exactly curve.coordinate_size
// bytes), checked to be a valid point of the group (ccfde::ec_public_key). kInvalidArgument
// otherwise.
Result<EvpPkeyPtr> ec_public_key(const CurveInfo& curve, std::span<const std::uint8_t> x,
                                 std::span<const std::uint8_t> y);

// Z: the x coordinate of ECDH(own private key, peer public key), field-size bytes.
// kInvalidArgument if the peer key is not usable with ours, kCryptoError otherwise.
Result<SecretBytes> ecdh_shared_secret(EVP_PKEY* own, EVP_PKEY* peer);

// The ECDH-ES+A256KW key-encryption key: one round of Concat KDF (NIST SP 800-56A, RFC 7518
// §4.6.2) with SHA-256 over Z and OtherInfo = u32be(14) "ECDH-ES+A256KW" u32be(0) u32be(0)
// u32be(256), through OpenSSL's SSKDF. kCryptoError if OpenSSL fails.
Result<SecretBytes> concat_kdf_a256kw(std::span<const std::uint8_t> z);

// RFC 3394 AES-256 key unwrap of `wrapped` (kWrappedCekSize bytes) into the 32-byte CEK.
// kDecryptionFailed "key unwrap failed" when the integrity check fails; kMalformedResponse for a
// wrong length.
Result<SecretBytes> aes_kw_unwrap(std::span<const std::uint8_t> kek,
                                  std::span<const std::uint8_t> wrapped);
// RFC 3394 AES-256 key wrap of a 32-byte CEK. kCryptoError if OpenSSL fails.
Result<Bytes> aes_kw_wrap(std::span<const std::uint8_t> kek, std::span<const std::uint8_t> cek);

// The ITA adapter unwraps its wrapped_swk and wrapped_key with the two below as well.

// RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label.
// Decrypt: the plaintext, whatever its length (the caller checks the length its protocol needs);
// kDecryptionFailed "key unwrap failed" when it does not decrypt (padding, length), kCryptoError
// if OpenSSL cannot set up.
Result<SecretBytes> rsa_oaep256_decrypt(EVP_PKEY* key, std::span<const std::uint8_t> wrapped);
Result<Bytes> rsa_oaep256_encrypt(EVP_PKEY* key, std::span<const std::uint8_t> cek);

// AES-256-GCM with a 32-byte key, a 12-byte IV and a 16-byte tag (kInternal for other sizes).
// Decrypt: the plaintext (as many bytes as the ciphertext) in its own SecretBytes;
// kDecryptionFailed "tag mismatch" when authentication fails, kMalformedResponse when the AAD or
// the ciphertext exceeds INT_MAX bytes.
Result<SecretBytes> aes_gcm_decrypt(std::span<const std::uint8_t> cek,
                                    std::span<const std::uint8_t> iv,
                                    std::span<const std::uint8_t> aad,
                                    std::span<const std::uint8_t> ciphertext,
                                    std::span<const std::uint8_t> tag);
struct GcmOutput {
  Bytes ciphertext;
  Bytes tag;
};
Result<GcmOutput> aes_gcm_encrypt(std::span<const std::uint8_t> cek,
                                  std::span<const std::uint8_t> iv,
                                  std::span<const std::uint8_t> aad,
                                  std::span<const std::uint8_t> plaintext);

// `size` bytes from OpenSSL's DRBG. kCryptoError if it fails.
Result<SecretBytes> random_secret(std::size_t size);

}  // namespace ccfde::kbs_client::internal

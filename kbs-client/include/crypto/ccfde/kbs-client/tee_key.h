// SPDX-License-Identifier: Apache-2.0
// The ephemeral TEE key of one attestation (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.6): its
// public half goes to the broker as a JWK inside runtime-data, the broker encrypts resources to it
// (JWE).
#pragma once

#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

enum class TeeKeyType { kEcP256, kEcP521, kRsaOaep256 };  // RSA: 3072-bit

// "EC P-256", "EC P-521", "RSA-OAEP-256 (3072)": for messages and logs.
std::string_view tee_key_type_name(TeeKeyType type) noexcept;

// An asymmetric key pair held only inside OpenSSL (the private key never leaves as bytes; OpenSSL
// wipes it when the EVP_PKEY is freed). Move-only.
class TeeKey {
 public:
  TeeKey(TeeKey&&) noexcept = default;
  TeeKey& operator=(TeeKey&&) noexcept = default;
  TeeKey(const TeeKey&) = delete;
  TeeKey& operator=(const TeeKey&) = delete;
  ~TeeKey() = default;

  // A fresh key of `type` from OpenSSL's default DRBG. kCryptoError if OpenSSL fails.
  static Result<TeeKey> generate(TeeKeyType type);

  // A key from a private JWK (for test vectors and tests): {"kty":"EC","crv":"P-256"|"P-521",
  // "x","y","d"} or {"kty":"RSA","n","e","d","p","q","dp","dq","qi"} (RSA must be 3072-bit).
  // Other members ("alg", "kid", "use") are ignored. The public point / modulus must match the
  // private part. Errors: kInvalidArgument for a missing or ill-typed member, bad base64url, wrong
  // coordinate length or inconsistent key; kUnsupportedAlgorithm for another kty/crv or RSA size;
  // kCryptoError if OpenSSL fails.
  static Result<TeeKey> from_private_jwk(const nlohmann::json& jwk);

  TeeKeyType type() const { return type_; }

  // The public JWK sent to the broker, with exactly these members:
  //   EC:  {"kty":"EC","crv":"P-256"|"P-521","alg":"ECDH-ES+A256KW","x":..,"y":..}
  //        (x, y fixed length 32 / 66 bytes, base64url without padding)
  //   RSA: {"kty":"RSA","alg":"RSA-OAEP-256","n":..,"e":..} (big-endian, no leading zero bytes)
  nlohmann::json public_jwk() const { return public_jwk_; }

  // The OpenSSL key (owned by this object; valid while it lives).
  EVP_PKEY* pkey() const { return pkey_.get(); }

 private:
  TeeKey(TeeKeyType type, EvpPkeyPtr pkey, nlohmann::json public_jwk)
      : type_(type), pkey_(std::move(pkey)), public_jwk_(std::move(public_jwk)) {}
  // Builds the TeeKey around `pkey`, computing its public JWK.
  static Result<TeeKey> wrap(TeeKeyType type, EvpPkeyPtr pkey);

  TeeKeyType type_;
  EvpPkeyPtr pkey_;
  nlohmann::json public_jwk_;
};

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/jwe_primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <climits>

#include "ccfde/common/openssl_keys.h"

namespace ccfde::kbs_client::internal {
namespace {

bool fits_int(std::size_t size) {
  return size <= static_cast<std::size_t>(INT_MAX);
}

}  // namespace

WipedBytes::~WipedBytes() {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

Result<CurveInfo> curve_info(std::string_view jose_name) {
  if (jose_name == "P-256") return CurveInfo{"P-256", 32};
  if (jose_name == "P-521") return CurveInfo{"P-521", 66};
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "EC curve \"{}\" is not supported (expected P-256 or P-521)",
                    escape_nonprintable(jose_name));
}

Result<EvpPkeyPtr> ec_public_key(const CurveInfo& curve, std::span<const std::uint8_t> x,
                                 std::span<const std::uint8_t> y) {
  if (x.size() != curve.coordinate_size || y.size() != curve.coordinate_size) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} coordinates must be {} bytes each, found x {} and y {} bytes",
                      curve.jose_name, curve.coordinate_size, x.size(), y.size());
  }
  return ::ccfde::ec_public_key(curve.jose_name, x, y);
}

Result<SecretBytes> ecdh_shared_secret(EVP_PKEY* own, EVP_PKEY* peer) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_derive_init");
  }
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, 1) != 1) {
    drain_openssl_errors();
    return make_error(ErrorCode::kInvalidArgument,
                      "the ephemeral public key cannot be used with the TEE key");
  }
  std::size_t size = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &size) != 1 || size == 0) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_derive (size)");
  }
  SecretBytes z(size);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &size) != 1 || size != z.size()) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_derive");
  }
  return z;
}

Result<SecretBytes> concat_kdf_a256kw(std::span<const std::uint8_t> z) {
  static constexpr std::string_view kAlg = "ECDH-ES+A256KW";
  static constexpr std::array<std::uint8_t, 12> kTail = {0, 0, 0, 0,   // PartyUInfo: empty
                                                         0, 0, 0, 0,   // PartyVInfo: empty
                                                         0, 0, 1, 0};  // SuppPubInfo: 256 bits
  // AlgorithmID (32-bit big-endian length, then the name), then the tail: fixed size, so built in
  // place rather than by appending to a vector.
  std::array<std::uint8_t, 4 + kAlg.size() + kTail.size()> other_info{};
  other_info[3] = static_cast<std::uint8_t>(kAlg.size());
  std::copy(kAlg.begin(), kAlg.end(), other_info.begin() + 4);
  std::copy(kTail.begin(), kTail.end(), other_info.begin() + 4 + kAlg.size());

  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, "SSKDF", nullptr));
  if (!kdf) return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_fetch(SSKDF)");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_CTX_new");
  std::string digest_name = "SHA256";
  // OSSL_PARAM takes non-const pointers; SSKDF only reads the key.
  auto* z_data = const_cast<std::uint8_t*>(z.data());
  std::array<OSSL_PARAM, 4> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z_data, z.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, other_info.data(), other_info.size()),
      OSSL_PARAM_construct_end()};
  SecretBytes kek(kCekSize);
  if (EVP_KDF_derive(ctx.get(), kek.data(), kek.size(), params.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_derive(SSKDF)");
  }
  return kek;
}

Result<SecretBytes> aes_kw_unwrap(std::span<const std::uint8_t> kek,
                                  std::span<const std::uint8_t> wrapped) {
  if (kek.size() != 32) {
    return make_error(ErrorCode::kInternal, "AES-256 key wrap needs a 32-byte KEK");
  }
  if (wrapped.size() != kWrappedCekSize) {
    return make_error(ErrorCode::kMalformedResponse,
                      "encrypted_key must be {} bytes for ECDH-ES+A256KW, found {}",
                      kWrappedCekSize, wrapped.size());
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return openssl_error(ErrorCode::kCryptoError, "EVP_CIPHER_CTX_new");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_wrap(), nullptr, kek.data(), nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_DecryptInit_ex(aes-256-wrap)");
  }
  // OpenSSL may use up to one block more than the input as scratch space.
  SecretBytes buffer(wrapped.size() + 16);
  int length = 0;
  if (EVP_DecryptUpdate(ctx.get(), buffer.data(), &length, wrapped.data(),
                        static_cast<int>(wrapped.size())) != 1 ||
      length != static_cast<int>(kCekSize)) {
    drain_openssl_errors();
    return Status(ErrorCode::kDecryptionFailed, "key unwrap failed");
  }
  int final_length = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), buffer.data() + length, &final_length) != 1 ||
      final_length != 0) {
    drain_openssl_errors();
    return Status(ErrorCode::kDecryptionFailed, "key unwrap failed");
  }
  return SecretBytes::copy_of(buffer.span().first(kCekSize));
}

Result<Bytes> aes_kw_wrap(std::span<const std::uint8_t> kek, std::span<const std::uint8_t> cek) {
  if (kek.size() != 32 || cek.size() != kCekSize) {
    return make_error(ErrorCode::kInternal, "AES-256 key wrap needs a 32-byte KEK and CEK");
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return openssl_error(ErrorCode::kCryptoError, "EVP_CIPHER_CTX_new");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_wrap(), nullptr, kek.data(), nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_EncryptInit_ex(aes-256-wrap)");
  }
  Bytes out(kWrappedCekSize + 16);
  int length = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &length, cek.data(), static_cast<int>(cek.size())) !=
          1 ||
      length != static_cast<int>(kWrappedCekSize)) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_EncryptUpdate(aes-256-wrap)");
  }
  int final_length = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + length, &final_length) != 1 ||
      final_length != 0) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_EncryptFinal_ex(aes-256-wrap)");
  }
  out.resize(kWrappedCekSize);
  return out;
}

namespace {

Result<EvpPkeyCtxPtr> oaep_context(EVP_PKEY* key, bool decrypt) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx) return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_CTX_new_from_pkey");
  int init = decrypt ? EVP_PKEY_decrypt_init(ctx.get()) : EVP_PKEY_encrypt_init(ctx.get());
  if (init != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx.get(), "SHA256", nullptr) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx.get(), "SHA256", nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RSA-OAEP-256 setup");
  }
  return ctx;
}

}  // namespace

Result<SecretBytes> rsa_oaep256_decrypt(EVP_PKEY* key, std::span<const std::uint8_t> wrapped) {
  CCFDE_ASSIGN_OR_RETURN(EvpPkeyCtxPtr ctx, oaep_context(key, true));
  std::size_t size = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &size, wrapped.data(), wrapped.size()) != 1) {
    drain_openssl_errors();
    return Status(ErrorCode::kDecryptionFailed, "key unwrap failed");
  }
  SecretBytes buffer(size);
  if (EVP_PKEY_decrypt(ctx.get(), buffer.data(), &size, wrapped.data(), wrapped.size()) != 1) {
    drain_openssl_errors();
    return Status(ErrorCode::kDecryptionFailed, "key unwrap failed");
  }
  return SecretBytes::copy_of(buffer.span().first(size));
}

Result<Bytes> rsa_oaep256_encrypt(EVP_PKEY* key, std::span<const std::uint8_t> cek) {
  CCFDE_ASSIGN_OR_RETURN(EvpPkeyCtxPtr ctx, oaep_context(key, false));
  std::size_t size = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &size, cek.data(), cek.size()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_encrypt (size)");
  }
  Bytes out(size);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &size, cek.data(), cek.size()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_encrypt");
  }
  out.resize(size);
  return out;
}

Result<SecretBytes> aes_gcm_decrypt(std::span<const std::uint8_t> cek,
                                    std::span<const std::uint8_t> iv,
                                    std::span<const std::uint8_t> aad,
                                    std::span<const std::uint8_t> ciphertext,
                                    std::span<const std::uint8_t> tag) {
  if (cek.size() != kCekSize || iv.size() != kGcmIvSize || tag.size() != kGcmTagSize) {
    return make_error(ErrorCode::kInternal, "A256GCM needs a 32-byte key, 12-byte IV, 16-byte tag");
  }
  if (!fits_int(aad.size()) || !fits_int(ciphertext.size())) {
    return make_error(ErrorCode::kMalformedResponse, "JWE too large");
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, cek.data(), iv.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM decrypt setup");
  }
  int length = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &length, aad.data(),
                                        static_cast<int>(aad.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM AAD");
  }
  // One spare block: OpenSSL's update contract allows writing up to inl + block_size - 1.
  SecretBytes buffer(ciphertext.size() + 16);
  int written = 0;
  if (!ciphertext.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), buffer.data(), &written, ciphertext.data(),
                          static_cast<int>(ciphertext.size())) != 1) {
      return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM decrypt");
    }
  }
  std::array<std::uint8_t, kGcmTagSize> tag_copy{};
  std::copy(tag.begin(), tag.end(), tag_copy.begin());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_copy.size()),
                          tag_copy.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM set tag");
  }
  int final_length = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), buffer.data() + written, &final_length) != 1) {
    drain_openssl_errors();
    return Status(ErrorCode::kDecryptionFailed, "tag mismatch");
  }
  const auto total = static_cast<std::size_t>(written) + static_cast<std::size_t>(final_length);
  if (total != ciphertext.size()) {
    return make_error(ErrorCode::kCryptoError, "AES-256-GCM produced {} bytes for {}", total,
                      ciphertext.size());
  }
  return SecretBytes::copy_of(buffer.span().first(total));
}

Result<GcmOutput> aes_gcm_encrypt(std::span<const std::uint8_t> cek,
                                  std::span<const std::uint8_t> iv,
                                  std::span<const std::uint8_t> aad,
                                  std::span<const std::uint8_t> plaintext) {
  if (cek.size() != kCekSize || iv.size() != kGcmIvSize) {
    return make_error(ErrorCode::kInternal, "A256GCM needs a 32-byte key and a 12-byte IV");
  }
  if (!fits_int(aad.size()) || !fits_int(plaintext.size())) {
    return make_error(ErrorCode::kInvalidArgument, "plaintext too large");
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, cek.data(), iv.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM encrypt setup");
  }
  int length = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &length, aad.data(),
                                        static_cast<int>(aad.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM AAD");
  }
  GcmOutput out;
  out.ciphertext.resize(plaintext.size() + 16);
  int written = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out.ciphertext.data(), &written, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM encrypt");
  }
  int final_length = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.ciphertext.data() + written, &final_length) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM encrypt final");
  }
  out.ciphertext.resize(static_cast<std::size_t>(written) + static_cast<std::size_t>(final_length));
  out.tag.resize(kGcmTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(out.tag.size()),
                          out.tag.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "AES-256-GCM get tag");
  }
  return out;
}

Result<SecretBytes> random_secret(std::size_t size) {
  SecretBytes out(size);
  if (size > 0 && RAND_priv_bytes(out.data(), static_cast<int>(size)) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RAND_priv_bytes");
  }
  return out;
}

}  // namespace ccfde::kbs_client::internal

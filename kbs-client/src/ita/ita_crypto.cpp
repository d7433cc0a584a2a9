// SPDX-License-Identifier: Apache-2.0
// The cryptographic half of the ITA adapter: the ephemeral RSA key, user_data, the report-data
// binding and the unwrapping of wrapped_swk / wrapped_key
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §4.1).
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstring>
#include <limits>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/digest.h"
#include "ccfde/kbs-client/ita_client.h"
#include "ccfde/kbs-client/jwe_primitives.h"

namespace ccfde::kbs_client {

namespace {

Result<BignumPtr> rsa_param(const EVP_PKEY* key, const char* name) {
  BIGNUM* value = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &value) != 1 || value == nullptr) {
    return openssl_error(ErrorCode::kCryptoError, fmt::format("reading RSA parameter {}", name));
  }
  return BignumPtr(value);
}

Status check_rsa(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return make_error(ErrorCode::kUnsupportedAlgorithm, "ITA key must be RSA");
  }
  const int bits = EVP_PKEY_get_bits(key);
  if (bits < static_cast<int>(kItaRsaBits)) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "ITA key has a {}-bit modulus, at least {} bits required", bits, kItaRsaBits);
  }
  return Status();
}

}  // namespace

Result<ItaKey> ItaKey::generate(unsigned bits) {
  if (bits < kItaRsaBits) {
    return make_error(ErrorCode::kInvalidArgument, "RSA key size {} is below the {}-bit minimum",
                      bits, kItaRsaBits);
  }
  EvpPkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_keygen_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), static_cast<int>(bits)) != 1 ||
      EVP_PKEY_keygen(context.get(), &key) != 1 || key == nullptr) {
    return openssl_error(ErrorCode::kCryptoError, "generating the ITA RSA key");
  }
  return ItaKey(EvpPkeyPtr(key));
}

Result<ItaKey> ItaKey::from_private_pem(std::string_view pem) {
  if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument, "PEM too large");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error(ErrorCode::kCryptoError, "BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return openssl_error(ErrorCode::kInvalidArgument, "parsing the RSA private key PEM");
  CCFDE_RETURN_IF_ERROR(check_rsa(key.get()));
  return ItaKey(std::move(key));
}

unsigned ItaKey::bits() const noexcept {
  return static_cast<unsigned>(EVP_PKEY_get_bits(key_.get()));
}

Result<Bytes> ita_user_data(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return make_error(ErrorCode::kInvalidArgument, "user_data needs an RSA key");
  }
  CCFDE_ASSIGN_OR_RETURN(BignumPtr n, rsa_param(key, OSSL_PKEY_PARAM_RSA_N));
  CCFDE_ASSIGN_OR_RETURN(BignumPtr e, rsa_param(key, OSSL_PKEY_PARAM_RSA_E));
  if (BN_num_bits(e.get()) > 32) {
    return make_error(ErrorCode::kInvalidArgument, "RSA exponent of {} bits does not fit u32",
                      BN_num_bits(e.get()));
  }
  const auto exponent = static_cast<std::uint32_t>(BN_get_word(e.get()));
  const int n_size = BN_num_bytes(n.get());
  Bytes out(4 + static_cast<std::size_t>(n_size));
  for (std::size_t i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(exponent >> (8 * i));
  if (BN_bn2binpad(n.get(), out.data() + 4, n_size) != n_size) {
    return openssl_error(ErrorCode::kCryptoError, "encoding the RSA modulus");
  }
  return out;
}

Result<std::array<std::uint8_t, kItaReportDataSize>> ita_report_data(
    const ItaNonce& nonce, std::span<const std::uint8_t> user_data) {
  auto val = base64_decode(nonce.val);
  if (!val.ok()) {
    return make_error(ErrorCode::kMalformedResponse, "nonce member \"val\": {}",
                      val.status().message());
  }
  auto iat = base64_decode(nonce.iat);
  if (!iat.ok()) {
    return make_error(ErrorCode::kMalformedResponse, "nonce member \"iat\": {}",
                      iat.status().message());
  }
  CCFDE_ASSIGN_OR_RETURN(Bytes hash, digest(DigestAlgorithm::kSha512, {*val, *iat, user_data}));
  if (hash.size() != kItaReportDataSize) {
    return make_error(ErrorCode::kInternal, "SHA-512 gave {} bytes", hash.size());
  }
  std::array<std::uint8_t, kItaReportDataSize> out{};
  std::memcpy(out.data(), hash.data(), out.size());
  return out;
}

Result<SecretBytes> ita_unwrap_swk(std::span<const std::uint8_t> wrapped_swk, const ItaKey& key) {
  const auto modulus_size = static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey()));
  if (wrapped_swk.size() != modulus_size) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_swk is {} bytes, expected {} (the RSA modulus size)",
                      wrapped_swk.size(), modulus_size);
  }
  auto swk = internal::rsa_oaep256_decrypt(key.pkey(), wrapped_swk);
  if (!swk.ok()) {
    if (swk.status().code() != ErrorCode::kDecryptionFailed) return swk.status();
    return Status(ErrorCode::kDecryptionFailed,
                  "wrapped_swk does not decrypt with RSA-OAEP-SHA256 under the user_data key");
  }
  if (swk->size() != kItaSwkSize) {
    return make_error(ErrorCode::kDecryptionFailed, "the SWK is {} bytes, expected {}", swk->size(),
                      kItaSwkSize);
  }
  return swk;
}

Result<SecretBytes> ita_unwrap_key(std::span<const std::uint8_t> wrapped_key,
                                   const SecretBytes& swk) {
  if (swk.size() != kItaSwkSize) {
    return make_error(ErrorCode::kInvalidArgument, "SWK is {} bytes, expected {}", swk.size(),
                      kItaSwkSize);
  }
  if (wrapped_key.size() < kItaWrappedKeyHeaderSize) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_key is {} bytes, shorter than its {}-byte length header",
                      wrapped_key.size(), kItaWrappedKeyHeaderSize);
  }
  const std::uint32_t iv_len = load_u32le(wrapped_key, 0);
  const std::uint32_t tag_len = load_u32le(wrapped_key, 4);
  const std::uint32_t ct_len = load_u32le(wrapped_key, 8);
  if (iv_len != kItaGcmIvSize) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_key iv_len at offset 0 is {}, expected {}", iv_len, kItaGcmIvSize);
  }
  if (tag_len != kItaGcmTagSize) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_key tag_len at offset 4 is {}, expected {}", tag_len,
                      kItaGcmTagSize);
  }
  if (ct_len <= kItaGcmTagSize) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_key ct_len at offset 8 is {}, must exceed the {}-byte tag", ct_len,
                      kItaGcmTagSize);
  }
  const std::uint64_t declared = std::uint64_t{kItaWrappedKeyHeaderSize} + iv_len + ct_len;
  if (declared != wrapped_key.size()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "wrapped_key is {} bytes, its lengths declare {} (12 + iv {} + ct {})",
                      wrapped_key.size(), declared, iv_len, ct_len);
  }
  const auto iv = wrapped_key.subspan(kItaWrappedKeyHeaderSize, kItaGcmIvSize);
  const auto sealed = wrapped_key.subspan(kItaWrappedKeyHeaderSize + kItaGcmIvSize);
  const auto ciphertext = sealed.first(sealed.size() - kItaGcmTagSize);
  const auto tag = sealed.last(kItaGcmTagSize);
  if (ciphertext.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kMalformedResponse, "wrapped_key ciphertext too large");
  }

  auto plaintext = internal::aes_gcm_decrypt(swk.span(), iv, {}, ciphertext, tag);
  if (!plaintext.ok() && plaintext.status().code() == ErrorCode::kDecryptionFailed) {
    return Status(ErrorCode::kDecryptionFailed,
                  "wrapped_key does not authenticate under the SWK (AES-256-GCM tag mismatch)");
  }
  return plaintext;
}

Result<SecretBytes> ita_unwrap(const ItaTransferResponse& response, const ItaKey& key) {
  CCFDE_ASSIGN_OR_RETURN(SecretBytes swk, ita_unwrap_swk(response.wrapped_swk, key));
  auto secret = ita_unwrap_key(response.wrapped_key, swk);
  swk.wipe();
  return secret;
}

}  // namespace ccfde::kbs_client

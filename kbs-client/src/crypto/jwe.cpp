// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/jwe.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/json_member.h"
#include "ccfde/common/openssl_keys.h"
#include "ccfde/kbs-client/jwe_primitives.h"

namespace ccfde::kbs_client {
namespace {

using internal::WipedBytes;
using json = nlohmann::json;

constexpr std::string_view kAlgEcdhEs = "ECDH-ES+A256KW";
constexpr std::string_view kAlgRsaOaep = "RSA-OAEP-256";
constexpr std::string_view kEncA256Gcm = "A256GCM";

Status malformed(const Status& status, std::string_view context) {
  return Status(ErrorCode::kMalformedResponse, fmt::format("{}: {}", context, status.message()));
}

// A string member of a JWE object; a missing or non-string member is a malformed response.
Result<std::string> jwe_string(const json& object, std::string_view name, std::string_view where) {
  return json_string_member(object, name, ErrorCode::kMalformedResponse, where);
}

Result<WipedBytes> decode_member(std::string_view text, std::string_view name) {
  auto decoded = base64url_decode(text);
  if (!decoded.ok()) return malformed(decoded.status(), fmt::format("JWE member \"{}\"", name));
  return WipedBytes(std::move(decoded).value());
}

// Checks the members of the flattened JWE object: exactly the five Trustee sends, plus an
// optional unprotected "header" (jwcrypto puts "epk" there).
Status check_jwe_members(const json& jwe) {
  static constexpr std::array<std::string_view, 6> kAllowed = {
      "protected", "encrypted_key", "iv", "ciphertext", "tag", "header"};
  for (const auto& member : jwe.items()) {
    const std::string& name = member.key();
    if (std::find(kAllowed.begin(), kAllowed.end(), name) != kAllowed.end()) continue;
    if (name == "aad") {
      return Status(ErrorCode::kMalformedResponse,
                    "JWE member \"aad\" is not accepted (a key broker never sends one)");
    }
    if (name == "recipients") {
      return Status(ErrorCode::kMalformedResponse,
                    "JWE general JSON serialization (\"recipients\") is not supported, expected "
                    "the flattened form");
    }
    return make_error(ErrorCode::kMalformedResponse, "unexpected JWE member \"{}\"",
                      escape_nonprintable(name));
  }
  return Status();
}

// Recovers the CEK for ECDH-ES+A256KW: Z = ECDH(key, epk), KEK = ConcatKDF(Z), CEK = unwrap.
Result<SecretBytes> ecdh_es_cek(const json& epk, const TeeKey& key,
                                std::span<const std::uint8_t> encrypted_key) {
  if (!epk.is_object()) {
    return make_error(ErrorCode::kMalformedResponse,
                      "JWE header \"epk\": expected an object, found {}", epk.type_name());
  }
  CCFDE_ASSIGN_OR_RETURN(std::string kty, jwe_string(epk, "kty", "epk"));
  if (kty != "EC") {
    return make_error(ErrorCode::kMalformedResponse, "epk kty \"{}\": expected EC",
                      escape_nonprintable(kty));
  }
  const std::string own_crv = key.public_jwk()["crv"].get<std::string>();
  CCFDE_ASSIGN_OR_RETURN(std::string crv, jwe_string(epk, "crv", "epk"));
  if (crv != own_crv) {
    return make_error(ErrorCode::kMalformedResponse,
                      "epk curve \"{}\" does not match the TEE key's curve {}",
                      escape_nonprintable(crv), own_crv);
  }
  CCFDE_ASSIGN_OR_RETURN(internal::CurveInfo curve, internal::curve_info(crv));
  CCFDE_ASSIGN_OR_RETURN(std::string x_text, jwe_string(epk, "x", "epk"));
  CCFDE_ASSIGN_OR_RETURN(std::string y_text, jwe_string(epk, "y", "epk"));
  CCFDE_ASSIGN_OR_RETURN(WipedBytes x, decode_member(x_text, "epk.x"));
  CCFDE_ASSIGN_OR_RETURN(WipedBytes y, decode_member(y_text, "epk.y"));
  auto peer = internal::ec_public_key(curve, x.bytes, y.bytes);
  if (!peer.ok()) return malformed(peer.status(), "JWE header \"epk\"");
  auto z = internal::ecdh_shared_secret(key.pkey(), peer->get());
  if (!z.ok()) {
    if (z.status().code() == ErrorCode::kInvalidArgument) return malformed(z.status(), "epk");
    return z.status();
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes kek, internal::concat_kdf_a256kw(z->span()));
  return internal::aes_kw_unwrap(kek.span(), encrypted_key);
}

// Recovers the CEK for RSA-OAEP-256. A failed unwrap is not reported as such: as RFC 7516 §11.5
// recommends, decryption goes on with a random CEK and fails at the tag, so that a padding
// oracle cannot tell the two apart.
Result<SecretBytes> rsa_oaep_cek(const TeeKey& key, std::span<const std::uint8_t> encrypted_key) {
  const auto modulus_size = static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey()));
  if (encrypted_key.size() != modulus_size) {
    return make_error(ErrorCode::kMalformedResponse,
                      "encrypted_key must be {} bytes for RSA-OAEP-256 with this key, found {}",
                      modulus_size, encrypted_key.size());
  }
  auto cek = internal::rsa_oaep256_decrypt(key.pkey(), encrypted_key);
  if (cek.ok() && cek->size() == internal::kCekSize) return cek;
  if (!cek.ok() && cek.status().code() != ErrorCode::kDecryptionFailed) return cek.status();
  return internal::random_secret(internal::kCekSize);
}

Result<EvpPkeyPtr> rsa_public_key(std::span<const std::uint8_t> n,
                                  std::span<const std::uint8_t> e) {
  BignumPtr n_bn(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  BignumPtr e_bn(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  if (!n_bn || !e_bn) return openssl_error(ErrorCode::kCryptoError, "BN_bin2bn");
  auto built = ::ccfde::rsa_public_key(n_bn.get(), e_bn.get());
  if (!built.ok()) {
    if (built.status().code() != ErrorCode::kInvalidArgument) return built.status();
    return Status(ErrorCode::kInvalidArgument, "the JWK is not a valid RSA public key");
  }
  EvpPkeyPtr key = std::move(built).value();
  if (EVP_PKEY_get_bits(key.get()) < 2048 || !BN_is_odd(e_bn.get()) || BN_is_one(e_bn.get())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "RSA recipient key rejected: {}-bit modulus (at least 2048 required) or "
                      "invalid exponent",
                      EVP_PKEY_get_bits(key.get()));
  }
  return key;
}

Result<Bytes> jwk_bytes(const json& jwk, std::string_view name) {
  CCFDE_ASSIGN_OR_RETURN(
      const std::string text,
      json_string_member(jwk, name, ErrorCode::kInvalidArgument, "recipient JWK"));
  auto decoded = base64url_decode(text);
  if (!decoded.ok())
    return decoded.status().with_context(fmt::format("recipient JWK \"{}\"", name));
  return decoded;
}

Status check_jwk_alg(const json& jwk, std::string_view expected) {
  const auto it = jwk.find("alg");
  if (it == jwk.end()) return Status();
  if (!it->is_string()) {
    return Status(ErrorCode::kInvalidArgument, "recipient JWK \"alg\" is not a string");
  }
  const std::string alg = it->get<std::string>();
  if (alg == expected) return Status();
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "recipient JWK alg \"{}\" is not supported for this key type (expected {})",
                    escape_nonprintable(alg), expected);
}

}  // namespace

Result<SecretBytes> decrypt_jwe(const json& jwe, const TeeKey& key) {
  if (!jwe.is_object()) {
    return make_error(ErrorCode::kMalformedResponse, "JWE: expected a JSON object, found {}",
                      jwe.type_name());
  }
  CCFDE_RETURN_IF_ERROR(check_jwe_members(jwe));
  CCFDE_ASSIGN_OR_RETURN(const std::string protected_text, jwe_string(jwe, "protected", "JWE"));
  CCFDE_ASSIGN_OR_RETURN(const std::string encrypted_key_text,
                         jwe_string(jwe, "encrypted_key", "JWE"));
  CCFDE_ASSIGN_OR_RETURN(const std::string iv_text, jwe_string(jwe, "iv", "JWE"));
  CCFDE_ASSIGN_OR_RETURN(const std::string ciphertext_text, jwe_string(jwe, "ciphertext", "JWE"));
  CCFDE_ASSIGN_OR_RETURN(const std::string tag_text, jwe_string(jwe, "tag", "JWE"));

  CCFDE_ASSIGN_OR_RETURN(WipedBytes header_bytes, decode_member(protected_text, "protected"));
  const json header = json::parse(header_bytes.bytes.begin(), header_bytes.bytes.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (!header.is_object()) {
    return Status(ErrorCode::kMalformedResponse, "JWE protected header is not a JSON object");
  }
  const json* unprotected = nullptr;
  if (const auto it = jwe.find("header"); it != jwe.end()) {
    if (!it->is_object()) {
      return make_error(ErrorCode::kMalformedResponse,
                        "JWE member \"header\": expected an object, found {}", it->type_name());
    }
    for (const auto& member : it->items()) {
      if (member.key() != "epk") {
        return make_error(ErrorCode::kMalformedResponse,
                          "JWE unprotected header member \"{}\" is not accepted (only \"epk\")",
                          escape_nonprintable(member.key()));
      }
      if (header.contains(member.key())) {
        return Status(ErrorCode::kMalformedResponse,
                      "JWE header parameter \"epk\" appears in both the protected and the "
                      "unprotected header");
      }
    }
    unprotected = &*it;
  }

  CCFDE_ASSIGN_OR_RETURN(const std::string alg, jwe_string(header, "alg", "JWE protected header"));
  CCFDE_ASSIGN_OR_RETURN(const std::string enc, jwe_string(header, "enc", "JWE protected header"));
  if (enc != kEncA256Gcm) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "JWE enc \"{}\" is not supported (expected A256GCM)",
                      escape_nonprintable(enc));
  }
  const bool ec_key = key.type() != TeeKeyType::kRsaOaep256;
  if (alg != kAlgEcdhEs && alg != kAlgRsaOaep) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "JWE alg \"{}\" is not supported (expected ECDH-ES+A256KW or RSA-OAEP-256)",
                      escape_nonprintable(alg));
  }
  if ((alg == kAlgEcdhEs) != ec_key) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "JWE alg \"{}\" does not fit the TEE key ({})", alg,
                      tee_key_type_name(key.type()));
  }
  if (header.contains("zip")) {
    return Status(ErrorCode::kUnsupportedAlgorithm, "JWE compression (\"zip\") is not supported");
  }
  if (header.contains("crit")) {
    return Status(ErrorCode::kUnsupportedAlgorithm,
                  "JWE critical header extensions (\"crit\") are not supported");
  }

  CCFDE_ASSIGN_OR_RETURN(WipedBytes iv, decode_member(iv_text, "iv"));
  CCFDE_ASSIGN_OR_RETURN(WipedBytes tag, decode_member(tag_text, "tag"));
  if (iv.bytes.size() != internal::kGcmIvSize) {
    return make_error(ErrorCode::kMalformedResponse, "JWE iv must be {} bytes, found {}",
                      internal::kGcmIvSize, iv.bytes.size());
  }
  if (tag.bytes.size() != internal::kGcmTagSize) {
    return make_error(ErrorCode::kMalformedResponse, "JWE tag must be {} bytes, found {}",
                      internal::kGcmTagSize, tag.bytes.size());
  }
  CCFDE_ASSIGN_OR_RETURN(WipedBytes encrypted_key,
                         decode_member(encrypted_key_text, "encrypted_key"));
  CCFDE_ASSIGN_OR_RETURN(WipedBytes ciphertext, decode_member(ciphertext_text, "ciphertext"));

  SecretBytes cek;
  if (ec_key) {
    const json* epk = nullptr;
    if (const auto it = header.find("epk"); it != header.end()) epk = &*it;
    if (unprotected != nullptr) {
      if (const auto it = unprotected->find("epk"); it != unprotected->end()) epk = &*it;
    }
    if (epk == nullptr) {
      return Status(ErrorCode::kMalformedResponse, "JWE header \"epk\" is missing");
    }
    CCFDE_ASSIGN_OR_RETURN(cek, ecdh_es_cek(*epk, key, encrypted_key.bytes));
  } else {
    CCFDE_ASSIGN_OR_RETURN(cek, rsa_oaep_cek(key, encrypted_key.bytes));
  }
  // AAD = ASCII(BASE64URL(UTF8(protected header))) as received (RFC 7516 §5.2 step 14).
  return internal::aes_gcm_decrypt(cek.span(), iv.bytes, as_bytes(protected_text), ciphertext.bytes,
                                   tag.bytes);
}

Result<json> encrypt_jwe(std::span<const std::uint8_t> plaintext, const json& recipient_jwk) {
  if (!recipient_jwk.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "recipient JWK: expected an object, found {}",
                      recipient_jwk.type_name());
  }
  const auto kty_it = recipient_jwk.find("kty");
  if (kty_it == recipient_jwk.end() || !kty_it->is_string()) {
    return Status(ErrorCode::kInvalidArgument, "recipient JWK \"kty\" is missing or not a string");
  }
  const std::string kty = kty_it->get<std::string>();
  CCFDE_ASSIGN_OR_RETURN(SecretBytes cek, internal::random_secret(internal::kCekSize));
  std::string protected_json;
  Bytes encrypted_key;
  if (kty == "EC") {
    CCFDE_RETURN_IF_ERROR(check_jwk_alg(recipient_jwk, kAlgEcdhEs));
    const auto crv_it = recipient_jwk.find("crv");
    if (crv_it == recipient_jwk.end() || !crv_it->is_string()) {
      return Status(ErrorCode::kInvalidArgument,
                    "recipient JWK \"crv\" is missing or not a string");
    }
    CCFDE_ASSIGN_OR_RETURN(internal::CurveInfo curve,
                           internal::curve_info(crv_it->get<std::string>()));
    CCFDE_ASSIGN_OR_RETURN(Bytes x, jwk_bytes(recipient_jwk, "x"));
    CCFDE_ASSIGN_OR_RETURN(Bytes y, jwk_bytes(recipient_jwk, "y"));
    CCFDE_ASSIGN_OR_RETURN(EvpPkeyPtr peer, internal::ec_public_key(curve, x, y));
    CCFDE_ASSIGN_OR_RETURN(
        TeeKey ephemeral,
        TeeKey::generate(curve.jose_name == "P-521" ? TeeKeyType::kEcP521 : TeeKeyType::kEcP256));
    CCFDE_ASSIGN_OR_RETURN(SecretBytes z,
                           internal::ecdh_shared_secret(ephemeral.pkey(), peer.get()));
    CCFDE_ASSIGN_OR_RETURN(SecretBytes kek, internal::concat_kdf_a256kw(z.span()));
    CCFDE_ASSIGN_OR_RETURN(encrypted_key, internal::aes_kw_wrap(kek.span(), cek.span()));
    const json epk = ephemeral.public_jwk();
    // The member order of Trustee's serde output (alphabetical inside epk).
    protected_json = fmt::format(
        R"({{"alg":"{}","enc":"{}","epk":{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}}})",
        kAlgEcdhEs, kEncA256Gcm, curve.jose_name, epk["x"].get<std::string>(),
        epk["y"].get<std::string>());
  } else if (kty == "RSA") {
    CCFDE_RETURN_IF_ERROR(check_jwk_alg(recipient_jwk, kAlgRsaOaep));
    CCFDE_ASSIGN_OR_RETURN(Bytes n, jwk_bytes(recipient_jwk, "n"));
    CCFDE_ASSIGN_OR_RETURN(Bytes e, jwk_bytes(recipient_jwk, "e"));
    CCFDE_ASSIGN_OR_RETURN(EvpPkeyPtr peer, rsa_public_key(n, e));
    CCFDE_ASSIGN_OR_RETURN(encrypted_key, internal::rsa_oaep256_encrypt(peer.get(), cek.span()));
    protected_json = fmt::format(R"({{"alg":"{}","enc":"{}"}})", kAlgRsaOaep, kEncA256Gcm);
  } else {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "recipient JWK kty \"{}\" is not supported (expected EC or RSA)",
                      escape_nonprintable(kty));
  }
  const std::string protected_text = base64url_encode(as_bytes(protected_json));
  std::array<std::uint8_t, internal::kGcmIvSize> iv{};
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RAND_bytes (IV)");
  }
  CCFDE_ASSIGN_OR_RETURN(
      internal::GcmOutput sealed,
      internal::aes_gcm_encrypt(cek.span(), iv, as_bytes(protected_text), plaintext));
  return json{{"protected", protected_text},
              {"encrypted_key", base64url_encode(encrypted_key)},
              {"iv", base64url_encode(iv)},
              {"ciphertext", base64url_encode(sealed.ciphertext)},
              {"tag", base64url_encode(sealed.tag)}};
}

}  // namespace ccfde::kbs_client

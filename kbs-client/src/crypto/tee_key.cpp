// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/tee_key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <array>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/json_member.h"
#include "ccfde/common/openssl_keys.h"
#include "ccfde/kbs-client/jwe_primitives.h"

namespace ccfde::kbs_client {
namespace {

// A BIGNUM holding private material: allocated in OpenSSL's secure heap when there is one,
// cleared when freed.
using SecretBignumPtr = CHandle<BIGNUM, BN_clear_free>;

constexpr unsigned kRsaBits = 3072;

std::string_view curve_of(TeeKeyType type) {
  return type == TeeKeyType::kEcP521 ? "P-521" : "P-256";
}

Result<SecretBytes> jwk_secret(const nlohmann::json& jwk, const char* name) {
  CCFDE_ASSIGN_OR_RETURN(std::string text,
                         json_string_member(jwk, name, ErrorCode::kInvalidArgument, "JWK"));
  auto decoded = base64url_decode_secret(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!decoded.ok()) return decoded.status().with_context(fmt::format("JWK member \"{}\"", name));
  return decoded;
}

Result<SecretBignumPtr> secret_bignum(std::span<const std::uint8_t> bytes, const char* name) {
  SecretBignumPtr bn(BN_secure_new());
  if (!bn || BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), bn.get()) == nullptr) {
    return openssl_error(ErrorCode::kCryptoError, fmt::format("BN_bin2bn({})", name));
  }
  return bn;
}

// The key pair of `type` ("EC", "RSA") from the parameters in `builder`, checked to be a pair.
Result<EvpPkeyPtr> keypair_from_params(const char* type, OSSL_PARAM_BLD* builder) {
  auto built = pkey_from_params(type, EVP_PKEY_KEYPAIR, builder);
  if (!built.ok()) {
    if (built.status().code() != ErrorCode::kInvalidArgument) return built.status();
    return make_error(ErrorCode::kInvalidArgument, "the JWK is not a valid {} private key", type);
  }
  EvpPkeyPtr key = std::move(built).value();
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_pairwise_check(check.get()) != 1) {
    drain_openssl_errors();
    return make_error(ErrorCode::kInvalidArgument,
                      "the JWK's public and private parts do not belong together");
  }
  return key;
}

Result<EvpPkeyPtr> ec_from_private_jwk(const nlohmann::json& jwk,
                                       const internal::CurveInfo& curve) {
  CCFDE_ASSIGN_OR_RETURN(std::string x_text,
                         json_string_member(jwk, "x", ErrorCode::kInvalidArgument, "JWK"));
  CCFDE_ASSIGN_OR_RETURN(std::string y_text,
                         json_string_member(jwk, "y", ErrorCode::kInvalidArgument, "JWK"));
  CCFDE_ASSIGN_OR_RETURN(Bytes x, base64url_decode(x_text));
  CCFDE_ASSIGN_OR_RETURN(Bytes y, base64url_decode(y_text));
  if (x.size() != curve.coordinate_size || y.size() != curve.coordinate_size) {
    return make_error(ErrorCode::kInvalidArgument,
                      "JWK {} coordinates must be {} bytes, found x {} and y {}", curve.jose_name,
                      curve.coordinate_size, x.size(), y.size());
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes d, jwk_secret(jwk, "d"));
  if (d.size() != curve.coordinate_size) {
    return make_error(ErrorCode::kInvalidArgument, "JWK {} \"d\" must be {} bytes, found {}",
                      curve.jose_name, curve.coordinate_size, d.size());
  }
  Bytes point = {0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  CCFDE_ASSIGN_OR_RETURN(SecretBignumPtr d_bn, secret_bignum(d.span(), "d"));
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  const std::string group(curve.jose_name);
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(),
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, d_bn.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD (EC)");
  }
  return keypair_from_params("EC", builder.get());
}

Result<EvpPkeyPtr> rsa_from_private_jwk(const nlohmann::json& jwk) {
  // JWK member -> OpenSSL parameter; all eight are required (OpenSSL needs the CRT values).
  static constexpr std::array<std::pair<const char*, const char*>, 8> kMembers = {{
      {"n", OSSL_PKEY_PARAM_RSA_N},
      {"e", OSSL_PKEY_PARAM_RSA_E},
      {"d", OSSL_PKEY_PARAM_RSA_D},
      {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
      {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
      {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
  }};
  std::vector<SecretBignumPtr> numbers;
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder) return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD_new");
  for (const auto& [member, param] : kMembers) {
    CCFDE_ASSIGN_OR_RETURN(SecretBytes value, jwk_secret(jwk, member));
    if (value.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "JWK member \"{}\" is empty", member);
    }
    CCFDE_ASSIGN_OR_RETURN(SecretBignumPtr bn, secret_bignum(value.span(), member));
    if (OSSL_PARAM_BLD_push_BN(builder.get(), param, bn.get()) != 1) {
      return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD_push_BN");
    }
    numbers.push_back(std::move(bn));
  }
  if (BN_num_bits(numbers[0].get()) != static_cast<int>(kRsaBits)) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "RSA TEE keys must be {}-bit, the JWK modulus has {} bits", kRsaBits,
                      BN_num_bits(numbers[0].get()));
  }
  return keypair_from_params("RSA", builder.get());
}

Result<BignumPtr> bn_param(EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1 || raw == nullptr) {
    return openssl_error(ErrorCode::kCryptoError, fmt::format("EVP_PKEY_get_bn_param({})", name));
  }
  return BignumPtr(raw);
}

Result<std::string> bn_base64url(const BIGNUM* bn, std::size_t fixed_size) {
  Bytes bytes(fixed_size == 0 ? static_cast<std::size_t>(BN_num_bytes(bn)) : fixed_size);
  const int written = fixed_size == 0
                          ? BN_bn2bin(bn, bytes.data())
                          : BN_bn2binpad(bn, bytes.data(), static_cast<int>(fixed_size));
  if (written < 0 || static_cast<std::size_t>(written) != bytes.size()) {
    return openssl_error(ErrorCode::kCryptoError, "BN_bn2bin");
  }
  return base64url_encode(bytes);
}

}  // namespace

std::string_view tee_key_type_name(TeeKeyType type) noexcept {
  switch (type) {
    case TeeKeyType::kEcP256: return "EC P-256";
    case TeeKeyType::kEcP521: return "EC P-521";
    case TeeKeyType::kRsaOaep256: return "RSA-OAEP-256 (3072)";
  }
  return "unknown";
}

Result<TeeKey> TeeKey::wrap(TeeKeyType type, EvpPkeyPtr pkey) {
  nlohmann::json jwk = nlohmann::json::object();
  if (type == TeeKeyType::kRsaOaep256) {
    CCFDE_ASSIGN_OR_RETURN(BignumPtr n, bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N));
    CCFDE_ASSIGN_OR_RETURN(BignumPtr e, bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E));
    jwk["kty"] = "RSA";
    jwk["alg"] = "RSA-OAEP-256";
    CCFDE_ASSIGN_OR_RETURN(jwk["n"], bn_base64url(n.get(), 0));
    CCFDE_ASSIGN_OR_RETURN(jwk["e"], bn_base64url(e.get(), 0));
  } else {
    CCFDE_ASSIGN_OR_RETURN(internal::CurveInfo curve, internal::curve_info(curve_of(type)));
    CCFDE_ASSIGN_OR_RETURN(BignumPtr x, bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X));
    CCFDE_ASSIGN_OR_RETURN(BignumPtr y, bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
    jwk["kty"] = "EC";
    jwk["crv"] = std::string(curve.jose_name);
    jwk["alg"] = "ECDH-ES+A256KW";
    CCFDE_ASSIGN_OR_RETURN(jwk["x"], bn_base64url(x.get(), curve.coordinate_size));
    CCFDE_ASSIGN_OR_RETURN(jwk["y"], bn_base64url(y.get(), curve.coordinate_size));
  }
  return TeeKey(type, std::move(pkey), std::move(jwk));
}

Result<TeeKey> TeeKey::generate(TeeKeyType type) {
  const bool rsa = type == TeeKeyType::kRsaOaep256;
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, rsa ? "RSA" : "EC", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_keygen_init");
  }
  const int configured =
      rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(kRsaBits))
          : EVP_PKEY_CTX_set_group_name(ctx.get(), std::string(curve_of(type)).c_str());
  if (configured != 1) return openssl_error(ErrorCode::kCryptoError, "key generation parameters");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    return openssl_error(ErrorCode::kCryptoError,
                         fmt::format("generating a {} key", tee_key_type_name(type)));
  }
  return wrap(type, EvpPkeyPtr(raw));
}

Result<TeeKey> TeeKey::from_private_jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "a JWK must be a JSON object, found {}",
                      jwk.type_name());
  }
  CCFDE_ASSIGN_OR_RETURN(std::string kty,
                         json_string_member(jwk, "kty", ErrorCode::kInvalidArgument, "JWK"));
  if (kty == "EC") {
    CCFDE_ASSIGN_OR_RETURN(std::string crv,
                           json_string_member(jwk, "crv", ErrorCode::kInvalidArgument, "JWK"));
    CCFDE_ASSIGN_OR_RETURN(internal::CurveInfo curve, internal::curve_info(crv));
    CCFDE_ASSIGN_OR_RETURN(EvpPkeyPtr key, ec_from_private_jwk(jwk, curve));
    return wrap(crv == "P-521" ? TeeKeyType::kEcP521 : TeeKeyType::kEcP256, std::move(key));
  }
  if (kty == "RSA") {
    CCFDE_ASSIGN_OR_RETURN(EvpPkeyPtr key, rsa_from_private_jwk(jwk));
    return wrap(TeeKeyType::kRsaOaep256, std::move(key));
  }
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "JWK kty \"{}\" is not supported (expected EC or RSA)",
                    escape_nonprintable(kty));
}

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/openssl_keys.h"

#include <openssl/core_names.h>

#include <string>
#include <vector>

namespace ccfde {

Result<EvpPkeyPtr> pkey_from_params(const char* type, int selection, OSSL_PARAM_BLD* builder) {
  ParamsPtr params(OSSL_PARAM_BLD_to_param(builder));
  if (!params) return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD_to_param");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, fmt::format("EVP_PKEY_fromdata_init({})", type));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1 || raw == nullptr) {
    return openssl_error(ErrorCode::kInvalidArgument,
                         fmt::format("OpenSSL refuses the {} key parameters", type));
  }
  return EvpPkeyPtr(raw);
}

Result<EvpPkeyPtr> rsa_public_key(const BIGNUM* n, const BIGNUM* e) {
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD (RSA)");
  }
  return pkey_from_params("RSA", EVP_PKEY_PUBLIC_KEY, builder.get());
}

Result<EvpPkeyPtr> ec_public_key(std::string_view group, std::span<const std::uint8_t> x,
                                 std::span<const std::uint8_t> y) {
  std::vector<std::uint8_t> point;
  point.reserve(1 + x.size() + y.size());
  point.push_back(0x04);  // uncompressed SEC 1 encoding
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  const std::string group_name(group);
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group_name.c_str(),
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "OSSL_PARAM_BLD (EC)");
  }
  auto key = pkey_from_params("EC", EVP_PKEY_PUBLIC_KEY, builder.get());
  if (!key.ok()) {
    if (key.status().code() != ErrorCode::kInvalidArgument) return key.status();
    return make_error(ErrorCode::kInvalidArgument, "the point is not a valid {} public key",
                      group_name);
  }
  // fromdata does not always validate the point; check it explicitly.
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check) return openssl_error(ErrorCode::kCryptoError, "EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    drain_openssl_errors();
    return make_error(ErrorCode::kInvalidArgument, "the point is not on the curve {}", group_name);
  }
  return key;
}

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
// The one builder of public keys from raw numbers (openssl_keys.h).
#include "ccfde/common/openssl_keys.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "ccfde/common/encoding.h"

namespace ccfde {
namespace {

TEST(OpensslKeys, EcPublicKeyFromCoordinatesAndOffCurvePoint) {
  // The Intel SGX Root CA public key (docs/reference/MEASUREMENT-FORMATS.md §2.5).
  auto x = hex_decode("0ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5");
  auto y = hex_decode("67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394");
  ASSERT_TRUE(x.ok() && y.ok());
  for (const char* group : {"P-256", "prime256v1"}) {
    auto key = ec_public_key(group, *x, *y);
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(EVP_PKEY_get_base_id(key->get()), EVP_PKEY_EC);
    EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 256);
  }
  (*y)[31] ^= 1;
  auto off_curve = ec_public_key("P-256", *x, *y);
  ASSERT_FALSE(off_curve.ok());
  EXPECT_EQ(off_curve.status().code(), ErrorCode::kInvalidArgument);
  auto short_x = ec_public_key("P-256", std::span(*x).first(31), *y);
  EXPECT_EQ(short_x.status().code(), ErrorCode::kInvalidArgument);
}

TEST(OpensslKeys, RsaPublicKeyKeepsModulusAndExponent) {
  EvpPkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  ASSERT_TRUE(context && EVP_PKEY_keygen_init(context.get()) == 1 &&
              EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), 2048) == 1 &&
              EVP_PKEY_keygen(context.get(), &raw) == 1);
  EvpPkeyPtr generated(raw);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(generated.get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(generated.get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
  BignumPtr n_owner(n);
  BignumPtr e_owner(e);
  auto key = rsa_public_key(n, e);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 2048);
  EXPECT_EQ(EVP_PKEY_eq(key->get(), generated.get()), 1);
}

}  // namespace
}  // namespace ccfde

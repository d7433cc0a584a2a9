// SPDX-License-Identifier: Apache-2.0
// Public keys from their raw numbers: the one place that calls EVP_PKEY_fromdata. Used for keys
// that arrive as numbers (JWK members, TDX attestation keys, the Azure HCL AK) rather than as
// DER or PEM.
#pragma once

#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde {

using ParamBldPtr = CHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
// OSSL_PARAM_free clears the parts OSSL_PARAM_BLD placed in secure memory (from BN_secure_new).
using ParamsPtr = CHandle<OSSL_PARAM, OSSL_PARAM_free>;

// A key of OpenSSL type `type` ("RSA", "EC") with `selection` (EVP_PKEY_PUBLIC_KEY,
// EVP_PKEY_KEYPAIR) from the parameters pushed into `builder`. kInvalidArgument "OpenSSL refuses
// the <type> key parameters" (OpenSSL's reason appended) when EVP_PKEY_fromdata refuses them;
// kCryptoError if OpenSSL cannot set up. Callers that need their own wording for a refused key
// map kInvalidArgument.
Result<EvpPkeyPtr> pkey_from_params(const char* type, int selection, OSSL_PARAM_BLD* builder);

// An RSA public key with modulus `n` and public exponent `e`. Does not judge the key size or the
// exponent: callers apply their own policy. Errors as pkey_from_params.
Result<EvpPkeyPtr> rsa_public_key(const BIGNUM* n, const BIGNUM* e);

// An EC public key on the OpenSSL group `group` ("P-256", "P-521", "prime256v1", "secp384r1")
// from its big-endian affine coordinates, checked to be a valid point of the group
// (EVP_PKEY_public_check). The caller checks the coordinate sizes. kInvalidArgument "the point is
// not a valid <group> public key" when OpenSSL refuses the parameters, "the point is not on the
// curve <group>" when the point check fails; kCryptoError if OpenSSL cannot set up.
Result<EvpPkeyPtr> ec_public_key(std::string_view group, std::span<const std::uint8_t> x,
                                 std::span<const std::uint8_t> y);

}  // namespace ccfde

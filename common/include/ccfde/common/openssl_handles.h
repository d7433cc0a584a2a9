// SPDX-License-Identifier: Apache-2.0
// Owning pointers for the OpenSSL objects cc-fde uses, and the bridge from OpenSSL's error queue
// into a Status.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "ccfde/common/status.h"

namespace ccfde {

// A stateless deleter calling the C free function `Free`.
template <auto Free>
struct CDeleter {
  template <typename T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

// A unique_ptr that releases a C handle with `Free`, e.g. CHandle<X509, X509_free>.
template <typename T, auto Free>
using CHandle = std::unique_ptr<T, CDeleter<Free>>;

using BioPtr = CHandle<BIO, BIO_free_all>;
using BignumPtr = CHandle<BIGNUM, BN_free>;
using EcdsaSigPtr = CHandle<ECDSA_SIG, ECDSA_SIG_free>;
using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpPkeyCtxPtr = CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpPkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = CHandle<X509, X509_free>;
using X509StoreCtxPtr = CHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509StorePtr = CHandle<X509_STORE, X509_STORE_free>;

namespace internal {
inline void free_x509_stack(STACK_OF(X509) * stack) {
  sk_X509_pop_free(stack, X509_free);
}
}  // namespace internal
// A stack of certificates that owns its elements.
using X509StackPtr = CHandle<STACK_OF(X509), internal::free_x509_stack>;

// Drains OpenSSL's thread-local error queue into one line ("" when empty).
std::string drain_openssl_errors();

// An error status whose message is `what` followed by the drained OpenSSL error queue.
Status openssl_error(ErrorCode code, std::string_view what);

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
// A small test PKI built with OpenSSL at test time: EC keys, a self-signed root, issued
// certificates with chosen validity windows. For synthetic vectors only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ccfde/common/openssl_handles.h"

namespace ccfde::testing {

// A fresh EC key on `curve_nid` (default P-256).
EvpPkeyPtr generate_ec_key(int curve_nid = 415 /* NID_X9_62_prime256v1 */);

// A non-critical extension: dotted OID and the DER of its value.
struct RawExtension {
  std::string oid;
  std::vector<std::uint8_t> der;
};

struct CertificateSpec {
  std::string common_name;
  std::chrono::sys_seconds not_before;
  std::chrono::sys_seconds not_after;
  bool is_ca = false;
  std::vector<RawExtension> extra_extensions = {};
};

// A certificate for `subject_key` signed by `issuer_key` (self-signed when issuer is nullptr),
// with ECDSA-SHA256. Aborts the test binary on OpenSSL failure (test code only).
X509Ptr issue_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key, EVP_PKEY* issuer_key,
                          const X509* issuer);

// PEM text of `certificate`.
std::string certificate_pem(const X509* certificate);

// Raw big-endian r || s ECDSA signature (each half `half_size` bytes) over `message`.
std::vector<std::uint8_t> sign_ecdsa_raw(EVP_PKEY* key, const std::vector<std::uint8_t>& message,
                                         std::size_t half_size, const EVP_MD* md);

}  // namespace ccfde::testing

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/test_pki.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <iostream>

namespace ccfde::testing {
namespace {

[[noreturn]] void die(const char* what) {
  std::cerr << "test PKI: " << what << ": " << drain_openssl_errors() << "\n";
  std::abort();
}

void add_extension(X509* certificate, const X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, const_cast<X509*>(issuer), certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr) die("X509V3_EXT_conf_nid");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

}  // namespace

EvpPkeyPtr generate_ec_key(int curve_nid) {
  EvpPkeyPtr key(EVP_EC_gen(OBJ_nid2sn(curve_nid)));
  if (!key) die("EVP_EC_gen");
  return key;
}

X509Ptr issue_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key, EVP_PKEY* issuer_key,
                          const X509* issuer) {
  X509Ptr certificate(X509_new());
  if (!certificate) die("X509_new");
  static long serial = 1;
  X509_set_version(certificate.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), serial++);
  ASN1_TIME_set(X509_getm_notBefore(certificate.get()),
                static_cast<time_t>(spec.not_before.time_since_epoch().count()));
  ASN1_TIME_set(X509_getm_notAfter(certificate.get()),
                static_cast<time_t>(spec.not_after.time_since_epoch().count()));
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  const X509* signer = issuer != nullptr ? issuer : certificate.get();
  X509_set_issuer_name(certificate.get(), X509_get_subject_name(signer));
  X509_set_pubkey(certificate.get(), subject_key);
  add_extension(certificate.get(), signer, NID_basic_constraints,
                spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(certificate.get(), signer, NID_key_usage,
                spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(certificate.get(), signer, NID_subject_key_identifier, "hash");
  add_extension(certificate.get(), signer, NID_authority_key_identifier, "keyid:always");
  for (const auto& raw : spec.extra_extensions) {
    CHandle<ASN1_OBJECT, ASN1_OBJECT_free> oid(OBJ_txt2obj(raw.oid.c_str(), /*no_name=*/1));
    CHandle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free> value(ASN1_OCTET_STRING_new());
    if (!oid || !value ||
        ASN1_OCTET_STRING_set(value.get(), raw.der.data(), static_cast<int>(raw.der.size())) != 1) {
      die("raw extension");
    }
    X509_EXTENSION* extension =
        X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), /*crit=*/0, value.get());
    if (extension == nullptr) die("X509_EXTENSION_create_by_OBJ");
    X509_add_ext(certificate.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(certificate.get(), issuer_key != nullptr ? issuer_key : subject_key,
                EVP_sha256()) <= 0) {
    die("X509_sign");
  }
  return certificate;
}

std::string certificate_pem(const X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), const_cast<X509*>(certificate)) != 1) {
    die("PEM_write_bio_X509");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::vector<std::uint8_t> sign_ecdsa_raw(EVP_PKEY* key, const std::vector<std::uint8_t>& message,
                                         std::size_t half_size, const EVP_MD* md) {
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  std::size_t der_length = 0;
  if (!context || EVP_DigestSignInit(context.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &der_length, message.data(), message.size()) != 1) {
    die("EVP_DigestSign (size)");
  }
  std::vector<std::uint8_t> der(der_length);
  if (EVP_DigestSign(context.get(), der.data(), &der_length, message.data(), message.size()) != 1) {
    die("EVP_DigestSign");
  }
  const unsigned char* cursor = der.data();
  EcdsaSigPtr signature(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length)));
  if (!signature) die("d2i_ECDSA_SIG");
  std::vector<std::uint8_t> raw(2 * half_size);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(signature.get()), raw.data(), static_cast<int>(half_size)) <
          0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(signature.get()), raw.data() + half_size,
                   static_cast<int>(half_size)) < 0) {
    die("BN_bn2binpad");
  }
  return raw;
}

}  // namespace ccfde::testing

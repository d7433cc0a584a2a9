// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <system_error>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/devkbs/server.h"
#include "private_files.h"

namespace ccfde::devkbs {
namespace {

using X509ExtensionPtr = CHandle<X509_EXTENSION, X509_EXTENSION_free>;

constexpr long kValiditySeconds = 825L * 24 * 3600;

Result<EvpPkeyPtr> generate_p256() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error(ErrorCode::kCryptoError, "EC P-256 key generation");
  return key;
}

Status add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    return openssl_error(ErrorCode::kCryptoError, std::string("certificate extension ") + value);
  }
  return Status::ok_status();
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (`issuer` null: self-signed),
// with the extensions given as (nid, value) pairs.
Result<X509Ptr> issue(EVP_PKEY* key, const char* common_name, EVP_PKEY* issuer_key, X509* issuer,
                      std::initializer_list<std::pair<int, const char*>> extensions) {
  X509Ptr certificate(X509_new());
  if (!certificate) return openssl_error(ErrorCode::kCryptoError, "X509_new");
  std::array<unsigned char, 16> serial_bytes{};
  if (RAND_bytes(serial_bytes.data(), static_cast<int>(serial_bytes.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RAND_bytes");
  }
  serial_bytes[0] &= 0x7f;  // a positive serial number
  BignumPtr serial(BN_bin2bn(serial_bytes.data(), static_cast<int>(serial_bytes.size()), nullptr));
  X509_NAME* name = X509_get_subject_name(certificate.get());
  if (!serial || X509_set_version(certificate.get(), 2) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(certificate.get()), kValiditySeconds) == nullptr ||
      X509_set_pubkey(certificate.get(), key) != 1 ||
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("cc-fde devkbs"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(certificate.get(), issuer ? X509_get_subject_name(issuer) : name) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "certificate fields");
  }
  X509* issuer_certificate = issuer ? issuer : certificate.get();
  for (const auto& [nid, value] : extensions) {
    CCFDE_RETURN_IF_ERROR(add_extension(certificate.get(), issuer_certificate, nid, value));
  }
  if (X509_sign(certificate.get(), issuer_key, EVP_sha256()) == 0) {
    return openssl_error(ErrorCode::kCryptoError, "certificate signature");
  }
  return certificate;
}

Result<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || data == nullptr) return openssl_error(ErrorCode::kCryptoError, "BIO data");
  return std::string(data, static_cast<std::size_t>(size));
}

Status write_certificate(const std::filesystem::path& path, X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "PEM certificate");
  }
  CCFDE_ASSIGN_OR_RETURN(auto text, bio_text(bio.get()));
  return write_private_file(path, as_bytes(text));
}

Status write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "PEM private key");
  }
  CCFDE_ASSIGN_OR_RETURN(auto text, bio_text(bio.get()));
  Status written = write_private_file(path, as_bytes(text));
  OPENSSL_cleanse(text.data(), text.size());
  return written;
}

}  // namespace

Result<TlsMaterial> ensure_tls_material(const std::filesystem::path& state_dir) {
  const TlsMaterial material{state_dir / "ca.pem", state_dir / "server.pem",
                             state_dir / "server-key.pem"};
  const auto ca_key_path = state_dir / "ca-key.pem";
  std::error_code error;
  if (std::filesystem::exists(material.ca_certificate, error) &&
      std::filesystem::exists(material.certificate, error) &&
      std::filesystem::exists(material.private_key, error)) {
    return material;
  }
  CCFDE_RETURN_IF_ERROR(make_private_directories(state_dir));
  CCFDE_ASSIGN_OR_RETURN(auto ca_key, generate_p256());
  CCFDE_ASSIGN_OR_RETURN(auto ca,
                         issue(ca_key.get(), "devkbs development CA", ca_key.get(), nullptr,
                               {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                {NID_subject_key_identifier, "hash"}}));
  CCFDE_ASSIGN_OR_RETURN(auto server_key, generate_p256());
  CCFDE_ASSIGN_OR_RETURN(auto server,
                         issue(server_key.get(), "localhost", ca_key.get(), ca.get(),
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature"},
                                {NID_ext_key_usage, "serverAuth"},
                                {NID_subject_key_identifier, "hash"},
                                {NID_authority_key_identifier, "keyid:always"},
                                {NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost"}}));
  CCFDE_RETURN_IF_ERROR(write_key(ca_key_path, ca_key.get()));
  CCFDE_RETURN_IF_ERROR(write_key(material.private_key, server_key.get()));
  CCFDE_RETURN_IF_ERROR(write_certificate(material.certificate, server.get()));
  // Written last: its presence marks a complete set.
  CCFDE_RETURN_IF_ERROR(write_certificate(material.ca_certificate, ca.get()));
  return material;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace ccfde::devkbs

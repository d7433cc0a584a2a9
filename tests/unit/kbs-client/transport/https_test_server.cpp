// SPDX-License-Identifier: Apache-2.0
#include "https_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::kbs_client::testing {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "transport test helper: " << what << ": " << drain_openssl_errors() << "\n";
  std::abort();
}

// DER tag + short or long-form length + content.
void append_tlv(std::vector<std::uint8_t>& out, std::uint8_t tag,
                const std::vector<std::uint8_t>& content) {
  out.push_back(tag);
  const std::size_t length = content.size();
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
  } else if (length <= 0xff) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length & 0xff));
  }
  out.insert(out.end(), content.begin(), content.end());
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    die("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  if (const Status status = write_file(path, as_bytes(text)); !status.ok()) {
    die(status.to_string());
  }
}

std::chrono::sys_seconds now_seconds() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

ccfde::testing::RawExtension subject_alt_name(const std::vector<std::string>& ipv4_addresses,
                                              const std::vector<std::string>& dns_names) {
  std::vector<std::uint8_t> names;
  for (const auto& address : ipv4_addresses) {
    in_addr parsed{};
    if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) die("bad IPv4 address " + address);
    std::vector<std::uint8_t> octets(4);
    std::memcpy(octets.data(), &parsed, 4);
    append_tlv(names, 0x87, octets);  // [7] iPAddress
  }
  for (const auto& name : dns_names) {
    append_tlv(names, 0x82, std::vector<std::uint8_t>(name.begin(), name.end()));  // [2] dNSName
  }
  std::vector<std::uint8_t> der;
  append_tlv(der, 0x30, names);
  return {"2.5.29.17", der};
}

Identity make_ca(const std::string& common_name) {
  Identity ca;
  ca.key = ccfde::testing::generate_ec_key();
  const auto now = now_seconds();
  ca.certificate = ccfde::testing::issue_certificate(
      {common_name, now - std::chrono::hours(1), now + std::chrono::hours(1), /*is_ca=*/true},
      ca.key.get(), nullptr, nullptr);
  return ca;
}

Identity issue_leaf(const Identity& ca, const std::string& common_name,
                    const std::vector<std::string>& ipv4_addresses,
                    const std::vector<std::string>& dns_names) {
  Identity leaf;
  leaf.key = ccfde::testing::generate_ec_key();
  const auto now = now_seconds();
  leaf.certificate =
      ccfde::testing::issue_certificate({common_name,
                                         now - std::chrono::hours(1),
                                         now + std::chrono::hours(1),
                                         /*is_ca=*/false,
                                         {subject_alt_name(ipv4_addresses, dns_names)}},
                                        leaf.key.get(), ca.key.get(), ca.certificate.get());
  return leaf;
}

void write_certificate_pem(const std::filesystem::path& path, const X509* certificate) {
  write_text(path, ccfde::testing::certificate_pem(certificate));
}

void write_private_key_pem(const std::filesystem::path& path, EVP_PKEY* key) {
  write_text(path, pem_of(key));
}

std::string public_key_pin(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) die("i2d_PUBKEY");
  const std::vector<std::uint8_t> spki(der, der + length);
  OPENSSL_free(der);
  const auto hash = digest(DigestAlgorithm::kSha256, spki);
  if (!hash.ok()) die(hash.status().to_string());
  return "sha256//" + base64_encode(*hash);
}

int unused_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    die("bind/getsockname");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

TestServer::TestServer() : server_(std::make_unique<httplib::Server>()) {}

TestServer::TestServer(const Identity& identity, const X509* client_ca) : tls_(true) {
  X509* certificate = identity.certificate.get();
  EVP_PKEY* key = identity.key.get();
  server_ = std::make_unique<httplib::SSLServer>([=](SSL_CTX& context) {
    if (SSL_CTX_use_certificate(&context, certificate) != 1 ||
        SSL_CTX_use_PrivateKey(&context, key) != 1) {
      return false;
    }
    if (client_ca != nullptr) {
      if (X509_STORE_add_cert(SSL_CTX_get_cert_store(&context), const_cast<X509*>(client_ca)) !=
          1) {
        return false;
      }
      SSL_CTX_set_verify(&context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return true;
  });
}

TestServer::~TestServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool TestServer::start() {
  if (!server_->is_valid()) return false;
  server_->set_keep_alive_timeout(1);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return false;
  // The socket already listens: connections queue in its backlog until the thread accepts.
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs; wait for it so that the destructor can never
  // miss it and join a thread that serves forever.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return server_->is_running();
}

std::string TestServer::url(const std::string& path, const std::string& host) const {
  return (tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) + path;
}

}  // namespace ccfde::kbs_client::testing

// SPDX-License-Identifier: Apache-2.0
// Test helpers for the transport suite: a small PKI (CA, server and client certificates with
// subjectAltName) written to a temporary directory, and a cpp-httplib server on 127.0.0.1 with
// a port chosen by the kernel.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/testing/test_pki.h"

namespace ccfde::kbs_client::testing {

// A subjectAltName extension (OID 2.5.29.17) with IPv4 addresses ("127.0.0.1") and DNS names.
ccfde::testing::RawExtension subject_alt_name(const std::vector<std::string>& ipv4_addresses,
                                              const std::vector<std::string>& dns_names);

// A certificate and its key.
struct Identity {
  EvpPkeyPtr key;
  X509Ptr certificate;
};

// A self-signed CA valid for the next hour.
Identity make_ca(const std::string& common_name);

// A leaf certificate issued by `ca`, valid for the next hour, with the given subjectAltName.
Identity issue_leaf(const Identity& ca, const std::string& common_name,
                    const std::vector<std::string>& ipv4_addresses,
                    const std::vector<std::string>& dns_names);

// Writes PEM files; abort the test binary on failure (test code only).
void write_certificate_pem(const std::filesystem::path& path, const X509* certificate);
void write_private_key_pem(const std::filesystem::path& path, EVP_PKEY* key);

// The curl pin of `key`: "sha256//" + base64(SHA-256(SubjectPublicKeyInfo DER)).
std::string public_key_pin(EVP_PKEY* key);

// A port on 127.0.0.1 that nothing listens on (bound once by the kernel, then released).
int unused_loopback_port();

// A cpp-httplib server on 127.0.0.1. Register handlers on server(), then call start(); the
// destructor stops the server and joins its thread.
class TestServer {
 public:
  // Plain HTTP.
  TestServer();
  // HTTPS with `identity`; when `client_ca` is given, a client certificate issued by it is
  // required.
  explicit TestServer(const Identity& identity, const X509* client_ca = nullptr);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  httplib::Server& server() { return *server_; }
  // Binds 127.0.0.1:0 and serves on a thread; returns false when the server cannot start.
  bool start();
  int port() const { return port_; }
  // "https://127.0.0.1:<port><path>" (or http:// for a plain server).
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const;

 private:
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace ccfde::kbs_client::testing

// SPDX-License-Identifier: Apache-2.0
// The HTTPS front of devkbs (cpp-httplib over OpenSSL, TLS 1.2+) and the generated development
// PKI. Loopback only unless explicitly told otherwise: it is a development tool.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "ccfde/common/status.h"
#include "ccfde/devkbs/broker.h"

namespace ccfde::devkbs {

// The certificate files of a server.
struct TlsMaterial {
  std::filesystem::path ca_certificate;  // empty when the certificate was supplied by the user
  std::filesystem::path certificate;     // server certificate (PEM, may include the chain)
  std::filesystem::path private_key;     // PEM
};

// Returns the development PKI of `state_dir`, creating it when absent: an EC P-256 CA
// ("devkbs development CA", ca.pem, ca-key.pem) and a server certificate signed by it
// (server.pem, server-key.pem) with SAN IP:127.0.0.1, IP:::1 and DNS:localhost, valid from one
// hour ago for 825 days. Key files are created with mode 0600. Existing files are reused so that
// clients keep trusting the CA across restarts. kIoError (files), kCryptoError (OpenSSL).
Result<TlsMaterial> ensure_tls_material(const std::filesystem::path& state_dir);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;             // 0: any free port
  bool listen_any = false;  // allow a non-loopback host
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::size_t max_body_size = std::size_t{2} << 20;  // Trustee's payload_request_size default
  // Test hooks (documented as test-only): sleep this long before answering each request, and
  // answer the first `fail_first` requests with 503 and Retry-After: 1.
  std::chrono::milliseconds delay{0};
  unsigned fail_first = 0;
  // One line per request (method, path, status; never bodies). Empty: no logging.
  std::function<void(const std::string&)> log;
};

class Server {
 public:
  // Binds host:port and starts serving `broker` on a background thread. `broker` must outlive
  // the server. kInvalidArgument (a non-loopback host without listen_any, missing certificate),
  // kCryptoError (certificate or key unusable), kIoError (bind failed, with host and port).
  static Result<std::unique_ptr<Server>> start(Broker& broker, ServerOptions options);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Stops and joins.
  ~Server();

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  // Stops accepting, finishes in-flight requests and joins the thread; idempotent.
  void stop();

 private:
  struct Impl;
  Server();
  std::unique_ptr<Impl> impl_;
  std::string host_;
  int port_ = 0;
};

}  // namespace ccfde::devkbs

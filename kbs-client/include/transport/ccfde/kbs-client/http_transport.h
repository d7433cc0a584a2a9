// SPDX-License-Identifier: Apache-2.0
// The HTTP transport of the key-broker client: one request in, one response out, over HTTPS with
// the trust configured here and nothing else (no system trust store, no environment proxies, no
// redirects, no retries). Retries are the caller's business (retry.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;               // "GET", "POST", "PUT", "DELETE"
  std::string url;                  // absolute: https://host:port/kbs/v0/auth
  std::vector<HttpHeader> headers;  // e.g. {"Content-Type", "application/json"}
  std::string body;
  Deadline deadline;  // the request fails with kDeadlineExceeded past it
};

struct HttpResponse {
  long status = 0;
  std::vector<HttpHeader> headers;  // as received (the final response's header block only)
  std::string body;
  // The base URL of the broker address that answered, when a failover transport chose among
  // several (failover_transport.h); "" otherwise.
  std::string answered_by;

  // The value of the first header called `name`, compared case-insensitively (ASCII); nullopt
  // when there is none.
  std::optional<std::string> header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Sends one request; no retries, no redirects. A non-2xx status is NOT an error here (callers
  // read status and body). Errors are transport failures:
  //   kInvalidArgument   bad URL or method, CR/LF in a header, http:// without insecure_http,
  //                      https:// without a configured CA;
  //   kUnreachable       DNS failure, connection refused/reset/closed, connect timeout, proxy down;
  //   kTlsTrustFailure   the peer's certificate does not verify (CA, host name, handshake refused
  //                      on verification);
  //   kPinMismatch       the peer's public key matches none of the pins;
  //   kDeadlineExceeded  the deadline passed before or during the transfer (nothing is sent when
  //                      it has already passed);
  //   kMalformedResponse the response is larger than max_response_size.
  // Every message names the method and URL and carries curl's error text.
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

struct TransportOptions {
  std::filesystem::path ca_file;  // PEM bundle; empty: ca_dir or none (then https cannot verify)
  std::filesystem::path ca_dir;   // OpenSSL hashed directory (c_rehash)
  std::vector<std::string> pinned_public_keys;  // "sha256//<base64 of SHA-256 of SPKI DER>"
  std::filesystem::path client_certificate;     // optional mTLS (PEM); both or neither
  std::filesystem::path client_key;             // PEM, unencrypted
  bool insecure_http = false;                   // allow http:// (tests and development only)
  std::string proxy;  // e.g. "http://proxy:3128"; empty: no proxy, environment ignored
  std::chrono::milliseconds connect_timeout{10000};
  std::size_t max_response_size = 1 << 20;  // body bytes; the header block has the same cap
};

// Creates the libcurl transport. The returned object is safe to share between threads (requests
// are serialised) and keeps connections alive between requests.
// Errors: kInvalidArgument (no CA while insecure_http is off, a pin not of the form
// "sha256//<base64>", only one of client_certificate/client_key, connect_timeout <= 0,
// max_response_size == 0); kNotFound (a configured file or directory does not exist);
// kInternal (libcurl cannot be initialised).
Result<std::unique_ptr<HttpTransport>> make_curl_transport(const TransportOptions& options);

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// The libcurl implementation of HttpTransport.
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <new>
#include <system_error>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/http_transport.h"
#include "curl_handles.h"

namespace ccfde::kbs_client {
namespace {

using internal::CurlHeaderList;
using internal::CurlPtr;
using internal::CurlUrlPtr;
using std::chrono::milliseconds;

constexpr std::string_view kPinPrefix = "sha256//";

// curl_global_init is not thread-safe; a function-local static runs it exactly once. It is never
// undone: the process may still use curl from other threads at exit.
Status global_init() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return make_error(ErrorCode::kInternal, "curl_global_init failed: {}",
                      curl_easy_strerror(code));
  }
  return {};
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Status validate_header(const HttpHeader& header) {
  if (header.name.empty() || !std::all_of(header.name.begin(), header.name.end(), is_token_char)) {
    return make_error(ErrorCode::kInvalidArgument, "request header name '{}' is not an HTTP token",
                      escape_nonprintable(header.name));
  }
  if (header.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "request header '{}' has a CR, LF or NUL in its value", header.name);
  }
  return {};
}

Status check_path(const std::filesystem::path& path, std::string_view option) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return make_error(ErrorCode::kNotFound, "{} '{}' does not exist", option, path.string());
  }
  return {};
}

// Everything one transfer writes into: the response and why the transfer was aborted, if it was.
struct Sink {
  std::size_t cap = 0;
  HttpResponse response;
  std::size_t header_bytes = 0;
  bool body_over_cap = false;
  bool headers_over_cap = false;
  bool out_of_memory = false;
};

// Returning anything other than `size * count` makes libcurl abort with CURLE_WRITE_ERROR: the
// cap is enforced while receiving, before the bytes are stored.
std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t length = size * count;
  if (length > sink->cap - sink->response.body.size()) {
    sink->body_over_cap = true;
    return 0;
  }
  try {
    sink->response.body.append(data, length);
  } catch (const std::bad_alloc&) {
    sink->out_of_memory = true;
    return 0;
  }
  return length;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

void add_header_line(HttpResponse& response, std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return;
  // A new status line starts a new header block (after "100 Continue"); only the last one counts.
  if (line.substr(0, 5) == "HTTP/") {
    response.headers.clear();
    return;
  }
  if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
    if (!response.headers.empty()) {
      response.headers.back().value.append(" ").append(trim_ows(line));
    }
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  response.headers.push_back(
      {std::string(line.substr(0, colon)), std::string(trim_ows(line.substr(colon + 1)))});
}

std::size_t write_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t length = size * count;
  if (length > sink->cap - sink->header_bytes) {
    sink->headers_over_cap = true;
    return 0;
  }
  sink->header_bytes += length;
  try {
    add_header_line(sink->response, std::string_view(data, length));
  } catch (const std::bad_alloc&) {
    sink->out_of_memory = true;
    return 0;
  }
  return length;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The ErrorCode of a failed transfer. `connected` tells a connect timeout (the broker does not
// answer: unreachable) from a transfer that ran into the request deadline.
ErrorCode map_curl_error(CURLcode code, std::string_view error_text, bool connected,
                         bool connect_timeout_first) {
  switch (code) {
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      // A TLS alert from the peer (e.g. "certificate required" when it wants a client
      // certificate; with TLS 1.3 it arrives after the client's side of the handshake) is a
      // refusal of the TLS session, not a network failure.
      return contains(error_text, "alert") ? ErrorCode::kTlsTrustFailure : ErrorCode::kUnreachable;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_PROXY: return ErrorCode::kUnreachable;
    case CURLE_PEER_FAILED_VERIFICATION:  // also CURLE_SSL_CACERT and host-name mismatches
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS: return ErrorCode::kTlsTrustFailure;
    case CURLE_SSL_CONNECT_ERROR:
      // The handshake failed. A socket-level failure during it is the network; anything else
      // (verification, an alert from the peer, no common protocol version) is TLS trust.
      if (contains(error_text, "SSL_ERROR_SYSCALL") || contains(error_text, "reset by peer") ||
          contains(error_text, "unexpected eof")) {
        return ErrorCode::kUnreachable;
      }
      return ErrorCode::kTlsTrustFailure;
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return ErrorCode::kPinMismatch;
    case CURLE_OPERATION_TIMEDOUT:
      return (!connected && connect_timeout_first) ? ErrorCode::kUnreachable
                                                   : ErrorCode::kDeadlineExceeded;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return ErrorCode::kMalformedResponse;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_BAD_FUNCTION_ARGUMENT: return ErrorCode::kInvalidArgument;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN: return ErrorCode::kInternal;
    default: return ErrorCode::kUnreachable;
  }
}

class CurlTransport final : public HttpTransport {
 public:
  CurlTransport(TransportOptions options, std::string pins, CurlPtr easy)
      : options_(std::move(options)), pins_(std::move(pins)), easy_(std::move(easy)) {}

  Result<HttpResponse> send(const HttpRequest& request) override;

 private:
  // Sets every option of one transfer on easy_ (after curl_easy_reset).
  Status configure(const HttpRequest& request, CURLU* url, bool https,
                   const CurlHeaderList& headers, milliseconds connect_timeout,
                   milliseconds total_timeout, Sink& sink, char* error_buffer);

  const TransportOptions options_;
  const std::string pins_;  // CURLOPT_PINNEDPUBLICKEY form, "" when none
  std::mutex mutex_;        // one transfer at a time on easy_
  CurlPtr easy_;            // kept between requests for its connection cache
};

Status CurlTransport::configure(const HttpRequest& request, CURLU* url, bool https,
                                const CurlHeaderList& headers, milliseconds connect_timeout,
                                milliseconds total_timeout, Sink& sink, char* error_buffer) {
  CURL* easy = easy_.get();
  // The error buffer first, so that a failing option already fills it.
  CURLcode code = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  const char* failed = "CURLOPT_ERRORBUFFER";
// A macro rather than a function, so that libcurl's compile-time option type checks
// (typecheck-gcc.h) still see the option constant.
#define CCFDE_SET_OPTION(option, value)             \
  do {                                              \
    if (code == CURLE_OK) {                         \
      code = curl_easy_setopt(easy, option, value); \
      failed = #option;                             \
    }                                               \
  } while (false)
  const char* protocols = options_.insecure_http ? "https,http" : "https";
  const auto path_or_null = [](const std::string& path) {
    return path.empty() ? nullptr : path.c_str();
  };
  // Kept alive until curl_easy_setopt has copied them (it copies strings).
  const std::string ca_file = options_.ca_file.string();
  const std::string ca_dir = options_.ca_dir.string();
  const std::string client_certificate = options_.client_certificate.string();
  const std::string client_key = options_.client_key.string();

  CCFDE_SET_OPTION(CURLOPT_CURLU, url);
  CCFDE_SET_OPTION(CURLOPT_PROTOCOLS_STR, protocols);
  CCFDE_SET_OPTION(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  CCFDE_SET_OPTION(CURLOPT_FOLLOWLOCATION, 0L);
  CCFDE_SET_OPTION(CURLOPT_NOSIGNAL, 1L);
  CCFDE_SET_OPTION(CURLOPT_USERAGENT, "cc-fde");
  CCFDE_SET_OPTION(CURLOPT_PROXY, options_.proxy.c_str());
  if (options_.proxy.empty()) CCFDE_SET_OPTION(CURLOPT_NOPROXY, "*");
  CCFDE_SET_OPTION(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  // TLS: verification always on, trust only from the configuration. CAINFO/CAPATH are set even
  // when empty: NULL removes libcurl's built-in system bundle.
  CCFDE_SET_OPTION(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  CCFDE_SET_OPTION(CURLOPT_SSL_VERIFYPEER, 1L);
  CCFDE_SET_OPTION(CURLOPT_SSL_VERIFYHOST, 2L);
  CCFDE_SET_OPTION(CURLOPT_CAINFO, path_or_null(ca_file));
  CCFDE_SET_OPTION(CURLOPT_CAPATH, path_or_null(ca_dir));
  CCFDE_SET_OPTION(CURLOPT_PROXY_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  CCFDE_SET_OPTION(CURLOPT_PROXY_CAINFO, path_or_null(ca_file));
  CCFDE_SET_OPTION(CURLOPT_PROXY_CAPATH, path_or_null(ca_dir));
  if (https && !pins_.empty()) {
    CCFDE_SET_OPTION(CURLOPT_PINNEDPUBLICKEY, pins_.c_str());
  }
  if (!client_certificate.empty()) {
    CCFDE_SET_OPTION(CURLOPT_SSLCERTTYPE, "PEM");
    CCFDE_SET_OPTION(CURLOPT_SSLCERT, client_certificate.c_str());
    CCFDE_SET_OPTION(CURLOPT_SSLKEYTYPE, "PEM");
    CCFDE_SET_OPTION(CURLOPT_SSLKEY, client_key.c_str());
  }
  CCFDE_SET_OPTION(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  CCFDE_SET_OPTION(CURLOPT_TIMEOUT_MS, static_cast<long>(total_timeout.count()));
  // A declared Content-Length over the cap fails before the body is read; the write callback
  // enforces the cap for chunked bodies.
  CCFDE_SET_OPTION(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_response_size));
  CCFDE_SET_OPTION(CURLOPT_WRITEFUNCTION, write_body);
  CCFDE_SET_OPTION(CURLOPT_WRITEDATA, static_cast<void*>(&sink));
  CCFDE_SET_OPTION(CURLOPT_HEADERFUNCTION, write_header);
  CCFDE_SET_OPTION(CURLOPT_HEADERDATA, static_cast<void*>(&sink));
  CCFDE_SET_OPTION(CURLOPT_HTTPHEADER, headers.get());

  if (request.method == "GET") {
    CCFDE_SET_OPTION(CURLOPT_HTTPGET, 1L);
  } else {
    if (request.method != "POST") {
      CCFDE_SET_OPTION(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method != "DELETE" || !request.body.empty()) {
      // POSTFIELDS is not copied: request.body outlives the transfer.
      CCFDE_SET_OPTION(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      CCFDE_SET_OPTION(CURLOPT_POSTFIELDS, request.body.c_str());
    }
  }
#undef CCFDE_SET_OPTION
  if (code != CURLE_OK) {
    return make_error(ErrorCode::kInternal, "libcurl refused {}: {}", failed,
                      curl_easy_strerror(code));
  }
  return {};
}

Result<HttpResponse> CurlTransport::send(const HttpRequest& request) {
  const std::string what = fmt::format("{} {}", request.method, request.url);
  if (request.method != "GET" && request.method != "POST" && request.method != "PUT" &&
      request.method != "DELETE") {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: unsupported method (GET, POST, PUT or DELETE expected)", what);
  }
  if (request.method == "GET" && !request.body.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: a GET request cannot carry a body", what);
  }

  CurlUrlPtr url(curl_url());
  if (!url) return make_error(ErrorCode::kInternal, "{}: curl_url failed", what);
  if (const CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, request.url.c_str(), 0);
      code != CURLUE_OK) {
    return make_error(ErrorCode::kInvalidArgument, "{}: not a valid absolute URL: {}", what,
                      curl_url_strerror(code));
  }
  char* scheme_text = nullptr;
  if (curl_url_get(url.get(), CURLUPART_SCHEME, &scheme_text, 0) != CURLUE_OK) {
    return make_error(ErrorCode::kInvalidArgument, "{}: the URL has no scheme", what);
  }
  const std::string scheme(scheme_text);  // lowercased by libcurl
  curl_free(scheme_text);
  const bool https = scheme == "https";
  if (scheme == "http" && !options_.insecure_http) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: plain http:// is refused; only https:// is allowed unless the "
                      "insecure_http option is set",
                      what);
  }
  if (!https && scheme != "http") {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: unsupported URL scheme '{}' (https expected)", what, scheme);
  }
  if (https && options_.ca_file.empty() && options_.ca_dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: no CA configured (ca_file or ca_dir); the system trust store is "
                      "never used",
                      what);
  }

  CurlHeaderList headers;
  for (const auto& header : request.headers) {
    CCFDE_RETURN_IF_ERROR(validate_header(header).with_context(what));
    // "Name;" is libcurl's way to send a header with an empty value ("Name:" would remove it).
    std::string line = header.value.empty() ? header.name + ";" : header.name + ": " + header.value;
    Status appended = headers.append(line);
    OPENSSL_cleanse(line.data(), line.size());  // may hold a bearer token
    CCFDE_RETURN_IF_ERROR(appended);
  }
  // No "Expect: 100-continue" round trip for larger bodies.
  CCFDE_RETURN_IF_ERROR(headers.append("Expect:"));

  const auto now = SteadyClock::now();
  if (now >= request.deadline) {
    return make_error(ErrorCode::kDeadlineExceeded,
                      "{}: the request deadline passed before it was sent", what);
  }
  // Rounded up, so that a deadline less than 1 ms away is still a (1 ms) timeout and never 0,
  // which libcurl reads as "no timeout".
  const milliseconds total_timeout = std::chrono::ceil<milliseconds>(request.deadline - now);
  const milliseconds connect_timeout = std::min(options_.connect_timeout, total_timeout);

  std::lock_guard lock(mutex_);
  curl_easy_reset(easy_.get());
  Sink sink;
  sink.cap = options_.max_response_size;
  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  CCFDE_RETURN_IF_ERROR(configure(request, url.get(), https, headers, connect_timeout,
                                  total_timeout, sink, error_buffer.data())
                            .with_context(what));

  const CURLcode code = curl_easy_perform(easy_.get());
  // The options point at locals of this call; drop them before returning.
  const auto reset = [&] { curl_easy_reset(easy_.get()); };
  if (code != CURLE_OK) {
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    reset();
    const std::string_view error_text(error_buffer.data());
    const std::string detail = error_text.empty()
                                   ? std::string(curl_easy_strerror(code))
                                   : fmt::format("{} ({})", curl_easy_strerror(code), error_text);
    if (sink.body_over_cap || sink.headers_over_cap || code == CURLE_FILESIZE_EXCEEDED) {
      return make_error(ErrorCode::kMalformedResponse,
                        "{}: the response {} exceeds the cap of {} bytes (max_response_size): {}",
                        what, sink.headers_over_cap ? "header block" : "body",
                        options_.max_response_size, detail);
    }
    if (sink.out_of_memory) {
      return make_error(ErrorCode::kInternal, "{}: out of memory storing the response", what);
    }
    const ErrorCode error_code =
        map_curl_error(code, error_text, pretransfer > 0, connect_timeout < total_timeout);
    if (code == CURLE_OPERATION_TIMEDOUT && error_code == ErrorCode::kUnreachable) {
      return make_error(error_code, "{}: no connection within the connect timeout of {} ms: {}",
                        what, connect_timeout.count(), detail);
    }
    if (error_code == ErrorCode::kDeadlineExceeded) {
      return make_error(error_code, "{}: the request deadline ({} ms) passed: {}", what,
                        total_timeout.count(), detail);
    }
    return make_error(error_code, "{}: {}", what, detail);
  }
  long status = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
  reset();
  sink.response.status = status;
  return std::move(sink.response);
}

}  // namespace

Result<std::unique_ptr<HttpTransport>> make_curl_transport(const TransportOptions& options) {
  CCFDE_RETURN_IF_ERROR(global_init());
  if (options.ca_file.empty() && options.ca_dir.empty() && !options.insecure_http) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no CA configured for the key broker (ca_file or ca_dir): HTTPS cannot be "
                      "verified and the system trust store is never used");
  }
  if (!options.ca_file.empty()) CCFDE_RETURN_IF_ERROR(check_path(options.ca_file, "ca_file"));
  if (!options.ca_dir.empty()) CCFDE_RETURN_IF_ERROR(check_path(options.ca_dir, "ca_dir"));
  if (options.client_certificate.empty() != options.client_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "client_certificate and client_key must be given together");
  }
  if (!options.client_certificate.empty()) {
    CCFDE_RETURN_IF_ERROR(check_path(options.client_certificate, "client_certificate"));
    CCFDE_RETURN_IF_ERROR(check_path(options.client_key, "client_key"));
  }
  if (options.connect_timeout.count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "connect_timeout must be positive, got {} ms",
                      options.connect_timeout.count());
  }
  if (options.max_response_size == 0) {
    return make_error(ErrorCode::kInvalidArgument, "max_response_size must be positive");
  }
  std::string pins;
  for (std::size_t i = 0; i < options.pinned_public_keys.size(); ++i) {
    const std::string& pin = options.pinned_public_keys[i];
    const std::string_view encoded =
        std::string_view(pin).substr(pin.starts_with(kPinPrefix) ? kPinPrefix.size() : pin.size());
    const auto decoded = base64_decode(encoded);
    if (!pin.starts_with(kPinPrefix) || !decoded.ok() || decoded->size() != 32) {
      return make_error(ErrorCode::kInvalidArgument,
                        "pinned_public_keys[{}] '{}' is not of the form \"sha256//<base64 of the "
                        "32-byte SHA-256 of the SubjectPublicKeyInfo DER>\"",
                        i, escape_nonprintable(pin));
    }
    if (!pins.empty()) pins += ';';
    pins += pin;
  }
  CurlPtr easy(curl_easy_init());
  if (!easy) return make_error(ErrorCode::kInternal, "curl_easy_init failed");
  return std::unique_ptr<HttpTransport>(
      std::make_unique<CurlTransport>(options, std::move(pins), std::move(easy)));
}

}  // namespace ccfde::kbs_client

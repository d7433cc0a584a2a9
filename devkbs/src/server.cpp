// SPDX-License-Identifier: Apache-2.0
#include "ccfde/devkbs/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <thread>

namespace ccfde::devkbs {

struct Server::Impl {
  explicit Impl(const std::function<bool(SSL_CTX&)>& setup) : http(setup) {}
  httplib::SSLServer http;
  std::thread thread;
  std::atomic<unsigned> requests{0};
  std::mutex stop_mutex;
};

Server::Server() = default;

Server::~Server() {
  stop();
}

void Server::stop() {
  if (!impl_) return;
  std::lock_guard lock(impl_->stop_mutex);
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<Server>> Server::start(Broker& broker, ServerOptions options) {
  if (!options.listen_any && !is_loopback_host(options.host)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "devkbs refuses to listen on {}: not a loopback address (a development "
                      "broker; pass --listen-any to override)",
                      options.host);
  }
  if (options.certificate.empty() || options.private_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "devkbs: TLS certificate and key are required");
  }
  if (options.port < 0 || options.port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "devkbs: port {} out of range", options.port);
  }
  const std::string certificate = options.certificate.string();
  const std::string key = options.private_key.string();
  const auto setup = [&](SSL_CTX& context) {
    return SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION) == 1 &&
           SSL_CTX_use_certificate_chain_file(&context, certificate.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(&context, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_check_private_key(&context) == 1;
  };
  std::unique_ptr<Server> server(new Server());
  server->impl_ = std::make_unique<Impl>(setup);
  Impl& impl = *server->impl_;
  if (!impl.http.is_valid()) {
    return openssl_error(
        ErrorCode::kCryptoError,
        fmt::format("devkbs: TLS certificate {} / key {} unusable", certificate, key));
  }
  impl.http.set_payload_max_length(options.max_body_size);
  // Without TCP_NODELAY, the response header and body segments meet delayed ACKs: +40 ms each.
  impl.http.set_tcp_nodelay(true);

  const auto delay = options.delay;
  const unsigned fail_first = options.fail_first;
  auto log = options.log;
  // The test hooks run in the routed handler, after the request body was read: answering from a
  // pre-routing handler would leave the body unread on a kept-alive connection, and the next
  // request would be parsed from it.
  const auto handler = [&broker, &impl, delay, fail_first](const httplib::Request& request,
                                                           httplib::Response& response) {
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (impl.requests.fetch_add(1) < fail_first) {
      response.status = 503;
      response.set_header("Retry-After", "1");
      response.set_content("devkbs: failing the first requests (--fail-first, test hook)",
                           "text/plain");
      return;
    }
    BrokerRequest call;
    call.method = request.method;
    call.path = request.path;
    call.body = request.body;
    for (const auto& [name, value] : request.headers) call.headers.emplace_back(name, value);
    BrokerResponse answer = broker.handle(call);
    response.status = answer.status;
    for (const auto& [name, value] : answer.headers) response.set_header(name, value);
    if (!answer.content_type.empty()) {
      response.set_content(answer.body, answer.content_type);
    }
  };
  impl.http.Get(".*", handler);
  impl.http.Post(".*", handler);
  impl.http.Delete(".*", handler);
  if (log) {
    impl.http.set_logger([log](const httplib::Request& request, const httplib::Response& response) {
      log(fmt::format("{} {} -> {}", request.method, request.path, response.status));
    });
  }

  int port = options.port;
  if (port == 0) {
    port = impl.http.bind_to_any_port(options.host);
    if (port < 0) {
      return make_error(ErrorCode::kIoError, "devkbs: cannot bind {} (any port)", options.host);
    }
  } else if (!impl.http.bind_to_port(options.host, port)) {
    return make_error(ErrorCode::kIoError, "devkbs: cannot bind {}:{}", options.host, port);
  }
  server->host_ = options.host;
  server->port_ = port;
  impl.thread = std::thread([&impl] { impl.http.listen_after_bind(); });
  // stop() is a no-op until the listen loop runs, so only hand out a server that is running.
  for (int i = 0; i < 5000 && !impl.http.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!impl.http.is_running()) {
    return make_error(ErrorCode::kInternal, "devkbs: the listen loop did not start");
  }
  return server;
}

}  // namespace ccfde::devkbs

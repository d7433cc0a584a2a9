// SPDX-License-Identifier: Apache-2.0
// upload_resource: the Trustee/devkbs admin API (POST /kbs/v0/resource/<path>, bearer token).
#include <openssl/crypto.h>

#include <random>
#include <thread>

#include "broker_transport.h"
#include "ccfde/agent/key_broker.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/kbs-client/resource_reference.h"
#include "ccfde/kbs-client/retry.h"
#include "ccfde/kbs-client/trustee_client.h"

namespace ccfde::agent {
namespace {

constexpr std::size_t kMaxTokenSize = 4096;

// The token of `path`, without trailing whitespace. Group/other access to the file is refused,
// as is a token that could not travel in an HTTP header.
Result<SecretBytes> read_admin_token(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto read = read_secret_file(path, kMaxTokenSize, SecretFileAccess::kOwnerOnly);
  if (!read.ok()) {
    const Status& status = read.status();
    // A token file that is there but unusable is a configuration problem.
    const ErrorCode code =
        status.code() == ErrorCode::kInvalidArgument ? ErrorCode::kConfigInvalid : status.code();
    return Status(code, fmt::format("admin token file: {}", status.message()), status.sys_errno());
  }
  const SecretBytes& raw = *read;
  std::size_t length = raw.size();
  while (length > 0 && (raw.data()[length - 1] == '\n' || raw.data()[length - 1] == '\r' ||
                        raw.data()[length - 1] == ' ' || raw.data()[length - 1] == '\t')) {
    --length;
  }
  if (length == 0) {
    return make_error(ErrorCode::kConfigInvalid, "admin token file {}: the token is empty", name);
  }
  for (std::size_t i = 0; i < length; ++i) {
    if (raw.data()[i] < 0x21 || raw.data()[i] > 0x7E) {
      return make_error(ErrorCode::kConfigInvalid,
                        "admin token file {}: the token has a character that cannot be sent in an "
                        "HTTP header (at offset {})",
                        name, i);
    }
  }
  return SecretBytes::copy_of(raw.span().first(length));
}

// Wipes the request's secret parts (the Authorization value and the body) on every path.
class RequestWiper {
 public:
  explicit RequestWiper(kbs_client::HttpRequest& request) : request_(request) {}
  RequestWiper(const RequestWiper&) = delete;
  RequestWiper& operator=(const RequestWiper&) = delete;
  ~RequestWiper() {
    for (kbs_client::HttpHeader& header : request_.headers) {
      if (header.name == "Authorization") OPENSSL_cleanse(header.value.data(), header.value.size());
    }
    OPENSSL_cleanse(request_.body.data(), request_.body.size());
  }

 private:
  kbs_client::HttpRequest& request_;
};

}  // namespace

Status upload_resource(const BrokerProfile& profile, const std::string& resource,
                       std::span<const std::uint8_t> key,
                       const std::filesystem::path& admin_token_file,
                       SteadyClock::time_point deadline) {
  if (profile.protocol == BrokerProtocol::kIta) {
    return make_error(ErrorCode::kUnsupported,
                      "broker profile \"{}\": Intel Trust Authority keys are created in the ITA "
                      "portal, not uploaded",
                      profile.name);
  }
  if (resource == kbs_client::kInitDataReference) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource \"{}\" is the one the VM's init-data names when it attests: "
                      "nothing can be uploaded to it (enroll with --key-source broker)",
                      resource);
  }
  auto path = kbs_client::resolve_resource_reference(resource, nullptr);
  if (!path.ok()) {
    return path.status().with_context(
        fmt::format("resource \"{}\"", escape_nonprintable(resource)));
  }
  if (path->plugin != kbs_client::KbsPlugin::kResource) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource \"{}\" belongs to the broker's {} plugin, which makes its keys "
                      "itself: nothing can be uploaded to it (enroll with --key-source broker)",
                      escape_nonprintable(resource), kbs_client::plugin_name(path->plugin));
  }
  const std::filesystem::path& token_file =
      admin_token_file.empty() ? profile.admin_token_file : admin_token_file;
  if (token_file.empty()) {
    return make_error(ErrorCode::kConfigInvalid,
                      "broker profile \"{}\": no admin token file (give one, or set "
                      "admin_token_file in the profile)",
                      profile.name);
  }
  CCFDE_ASSIGN_OR_RETURN(const SecretBytes token, read_admin_token(token_file));
  CCFDE_ASSIGN_OR_RETURN(auto transport, broker_internal::make_profile_transport(profile));

  kbs_client::HttpRequest request;
  RequestWiper wiper(request);
  request.method = "POST";
  request.url = profile.urls.front() + "/kbs/v0/resource/" + path->to_string();
  // The secret strings are written in place at their final capacity, so no stale copy is left by
  // a reallocation; the wiper clears them.
  request.headers.reserve(2);
  request.headers.push_back({"Content-Type", "application/octet-stream"});
  request.headers.push_back({"Authorization", {}});
  std::string& authorization = request.headers.back().value;
  constexpr std::string_view kBearer = "Bearer ";
  authorization.reserve(kBearer.size() + token.size());
  authorization.append(kBearer).append(as_chars(token.span()));
  request.body.reserve(key.size());
  request.body.append(as_chars(key));
  const std::string endpoint = request.method + " " + request.url;

  const kbs_client::RetryPolicy retry;
  std::random_device random;
  Status last;
  for (unsigned attempt = 0;; ++attempt) {
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "{}: deadline exceeded after {} attempt(s){}",
                        endpoint, attempt, last.ok() ? "" : "; last error: " + last.to_string());
    }
    request.deadline = std::min(deadline, now + profile.request_timeout);
    auto response = transport->send(request);
    if (!response.ok()) {
      if (!kbs_client::is_transient_error(response.status())) return response.status();
      last = response.status();
    } else if (kbs_client::is_transient_http_status(response->status)) {
      last = make_error(ErrorCode::kUnreachable, "{}: HTTP {}", endpoint, response->status);
    } else if (response->status >= 200 && response->status < 300) {
      return Status::ok_status();
    } else if (response->status == 401 || response->status == 403) {
      const Status refused =
          kbs_client::status_from_broker_error(endpoint, response->status, response->body);
      return make_error(ErrorCode::kPolicyDenied, "{}: the broker refused the admin token: {}",
                        endpoint, refused.message());
    } else {
      return kbs_client::status_from_broker_error(endpoint, response->status, response->body);
    }
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    const auto delay = std::min(kbs_client::backoff_delay(retry, attempt, random()), remaining);
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }
}

}  // namespace ccfde::agent

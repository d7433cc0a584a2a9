// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/trustee_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <random>
#include <system_error>
#include <thread>
#include <utility>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/runtime_data.h"

namespace ccfde::kbs_client {
namespace {

constexpr std::size_t kMaxDetail = 512;
constexpr std::size_t kMaxCookie = 256;
constexpr std::string_view kCookieName = "kbs-session-id";

// Broker text made safe for a message: escaped and cut.
std::string excerpt(std::string_view text) {
  std::string out = escape_nonprintable(text.substr(0, kMaxDetail));
  if (text.size() > kMaxDetail) out += "...";
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_success(long status) {
  return status >= 200 && status < 300;
}

bool cookie_character(char c) {
  return c > 0x20 && c < 0x7F && c != '"' && c != ',' && c != ';' && c != '\\';
}

// The kbs-session-id value from the Set-Cookie headers; nullopt when there is none.
Result<std::optional<std::string>> session_cookie(const HttpResponse& response,
                                                  std::string_view endpoint) {
  for (const HttpHeader& header : response.headers) {
    if (lower(header.name) != "set-cookie") continue;
    std::string_view value = header.value;
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (value.substr(0, kCookieName.size()) != kCookieName ||
        value.substr(kCookieName.size(), 1) != "=") {
      continue;
    }
    value.remove_prefix(kCookieName.size() + 1);
    value = value.substr(0, value.find(';'));
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty() || value.size() > kMaxCookie ||
        !std::all_of(value.begin(), value.end(), cookie_character)) {
      return make_error(ErrorCode::kMalformedResponse,
                        "{}: Set-Cookie {} has an invalid value \"{}\"", endpoint, kCookieName,
                        excerpt(value));
    }
    return std::optional<std::string>(std::string(value));
  }
  return std::optional<std::string>();
}

std::uint64_t os_random() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ static_cast<std::uint64_t>(device());
}

}  // namespace

TrusteeClient::TrusteeClient(HttpTransport& transport, EvidenceProvider& evidence,
                             TrusteeClientOptions options)
    : transport_(transport), evidence_(evidence), options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/')
    options_.base_url.pop_back();
  if (!options_.random) options_.random = os_random;
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); };
  }
  if (!options_.now) options_.now = [] { return SteadyClock::now(); };
}

TrusteeClient::~TrusteeClient() = default;

const std::string& TrusteeClient::token() const {
  static const std::string kEmpty;
  return session_ ? session_->token : kEmpty;
}

std::string TrusteeClient::url(std::string_view path) const {
  return options_.base_url + std::string(path);
}

Result<HttpResponse> TrusteeClient::send_with_retry(HttpTransport& transport,
                                                    HttpRequest request) const {
  const std::string what = request.method + " " + request.url;
  unsigned attempts = 0;
  Status last;
  for (;;) {
    const SteadyClock::time_point now = options_.now();
    if (now >= options_.deadline) {
      if (attempts == 0) {
        return make_error(ErrorCode::kDeadlineExceeded,
                          "{}: the deadline passed before the request was sent", what);
      }
      return make_error(ErrorCode::kDeadlineExceeded,
                        "{}: deadline exceeded after {} attempt(s); last error: {}", what, attempts,
                        last.to_string());
    }
    request.deadline = std::min(options_.deadline, now + options_.request_timeout);
    auto response = transport.send(request);
    ++attempts;
    std::optional<std::chrono::seconds> retry_after;
    if (!response.ok()) {
      if (!is_transient_error(response.status())) return response.status();
      // A request cut short by the deadline says less than the failure before it ("unreachable"):
      // keep the earlier cause for the final message.
      if (last.ok() || response.status().code() != ErrorCode::kDeadlineExceeded) {
        last = response.status();
      }
    } else if (is_transient_http_status(response->status)) {
      last = make_error(ErrorCode::kUnreachable, "{}: HTTP {}: \"{}\"", what, response->status,
                        excerpt(response->body));
      if (auto value = response->header("Retry-After")) {
        retry_after = parse_retry_after(*value, std::chrono::system_clock::now());
      }
    } else {
      return response;
    }

    std::chrono::milliseconds delay =
        backoff_delay(options_.retry, attempts - 1, options_.random());
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.deadline - options_.now());
    if (retry_after) {
      if (*retry_after >= remaining) {
        return make_error(ErrorCode::kDeadlineExceeded,
                          "{}: the broker asked to retry after {} s, past the deadline ({} ms "
                          "left) after {} attempt(s); last error: {}",
                          what, retry_after->count(), std::max<std::int64_t>(remaining.count(), 0),
                          attempts, last.to_string());
      }
      delay += *retry_after;  // jitter on top, so that many clients do not return in step
    }
    delay = std::min(delay, std::max(remaining, std::chrono::milliseconds(0)));
    if (delay.count() > 0) options_.sleep(delay);
  }
}

Result<TrusteeClient::Session> TrusteeClient::handshake(bool& moved_mid_handshake) {
  moved_mid_handshake = false;
  CCFDE_ASSIGN_OR_RETURN(TeeKey key, TeeKey::generate(options_.key_type));
  const nlohmann::json jwk = key.public_jwk();

  HttpRequest auth;
  auth.method = "POST";
  auth.url = url("/kbs/v0/auth");
  auth.headers = {{"Content-Type", "application/json"}};
  auth.body = make_auth_request(measure::tee_kind_name(evidence_.tee()));
  const std::string auth_endpoint = auth.method + " " + auth.url;
  CCFDE_ASSIGN_OR_RETURN(HttpResponse auth_response, send_with_retry(transport_, std::move(auth)));
  if (!is_success(auth_response.status)) {
    return status_from_broker_error(auth_endpoint, auth_response.status, auth_response.body);
  }
  auto challenge = parse_challenge(auth_response.body);
  if (!challenge.ok()) return challenge.status().with_context(auth_endpoint);
  CCFDE_ASSIGN_OR_RETURN(std::optional<std::string> cookie,
                         session_cookie(auth_response, auth_endpoint));
  if (!cookie) {
    return make_error(ErrorCode::kMalformedResponse, "{}: the response sets no {} cookie",
                      auth_endpoint, kCookieName);
  }
  auto algorithm = hash_algorithm_from_extra_params(challenge->extra_params);
  if (!algorithm.ok()) return algorithm.status().with_context(auth_endpoint + ": extra-params");
  CCFDE_ASSIGN_OR_RETURN(const Bytes digest,
                         runtime_data_digest(jwk, challenge->nonce, "", *algorithm));
  auto evidence = evidence_.primary_evidence(digest);
  if (!evidence.ok()) {
    return evidence.status().with_context(
        fmt::format("{} evidence", measure::tee_kind_name(evidence_.tee())));
  }

  HttpRequest attest;
  attest.method = "POST";
  attest.url = url("/kbs/v0/attest");
  attest.headers = {{"Content-Type", "application/json"},
                    {"Cookie", fmt::format("{}={}", kCookieName, *cookie)}};
  CCFDE_ASSIGN_OR_RETURN(attest.body, make_attestation_request(jwk, challenge->nonce, *evidence,
                                                               evidence_.init_data_toml()));
  const std::string attest_endpoint = attest.method + " " + attest.url;
  CCFDE_ASSIGN_OR_RETURN(HttpResponse attest_response,
                         send_with_retry(transport_, std::move(attest)));
  if (!is_success(attest_response.status)) {
    // The session began at an address that went silent before /attest, and another address of
    // the broker answered: its refusal is about a session it never issued, not a verdict on the
    // evidence (which no address has judged yet).
    moved_mid_handshake = attest_response.status == 401 && !auth_response.answered_by.empty() &&
                          attest_response.answered_by != auth_response.answered_by;
    return status_from_broker_error(attest_endpoint, attest_response.status, attest_response.body);
  }
  auto token = parse_attestation_token(attest_response.body);
  if (!token.ok()) return token.status().with_context(attest_endpoint);
  CCFDE_ASSIGN_OR_RETURN(std::optional<std::string> renewed,
                         session_cookie(attest_response, attest_endpoint));
  return Session{std::move(key), renewed ? std::move(*renewed) : std::move(*cookie),
                 std::move(token).value()};
}

Status TrusteeClient::attest() {
  session_.reset();
  bool moved_mid_handshake = false;
  auto session = handshake(moved_mid_handshake);
  // Once only: a second handshake runs wholly at the address that answered.
  if (!session.ok() && moved_mid_handshake) session = handshake(moved_mid_handshake);
  if (!session.ok()) return session.status();
  session_.emplace(std::move(session).value());
  ++handshakes_;
  return Status::ok_status();
}

Result<SecretBytes> TrusteeClient::fetch_in_session(HttpTransport& transport,
                                                    const Session& session,
                                                    const ResourcePath& path,
                                                    bool& session_expired) const {
  session_expired = false;
  HttpRequest request;
  request.method = "GET";
  request.url = url("/kbs/v0/" + path.url_path());
  request.headers = {{"Cookie", fmt::format("{}={}", kCookieName, session.cookie)}};
  const std::string endpoint = request.method + " " + request.url;
  CCFDE_ASSIGN_OR_RETURN(HttpResponse response, send_with_retry(transport, std::move(request)));
  if (is_success(response.status)) {
    const nlohmann::json jwe =
        nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (jwe.is_discarded() || !jwe.is_object()) {
      return make_error(ErrorCode::kMalformedResponse,
                        "{}: the response ({} bytes) is not a JWE JSON object", endpoint,
                        response.body.size());
    }
    auto secret = decrypt_jwe(jwe, session.key);
    if (!secret.ok()) return secret.status().with_context(endpoint);
    return secret;
  }
  // Only a gone session or token is worth a new handshake; a verdict (a policy denial, a missing
  // resource) does not depend on the session and would be given again.
  session_expired = broker_error_needs_new_session(response.status, response.body);
  return status_from_broker_error(endpoint, response.status, response.body);
}

Result<SecretBytes> TrusteeClient::get_resource(const ResourcePath& path) {
  CCFDE_ASSIGN_OR_RETURN(const ResourcePath checked,
                         parse_resource_path(path.plugin, path.to_string()));
  if (!session_) CCFDE_RETURN_IF_ERROR(attest());
  bool session_expired = false;
  auto secret = fetch_in_session(transport_, *session_, checked, session_expired);
  if (!session_expired) return secret;
  CCFDE_RETURN_IF_ERROR(attest());
  // A second 401 is final: its broker error is the answer.
  return fetch_in_session(transport_, *session_, checked, session_expired);
}

std::vector<Result<SecretBytes>> TrusteeClient::get_resources(
    std::span<const ResourcePath> paths, unsigned parallelism,
    const TransportFactory& make_transport) {
  std::vector<std::optional<Result<SecretBytes>>> slots(paths.size());
  std::vector<ResourcePath> checked(paths.size());
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto parsed = parse_resource_path(paths[i].plugin, paths[i].to_string());
    if (!parsed.ok()) {
      slots[i].emplace(parsed.status());
      continue;
    }
    checked[i] = std::move(parsed).value();
    pending.push_back(i);
  }
  if (!pending.empty() && !session_) {
    const Status attested = attest();
    if (!attested.ok()) {
      for (std::size_t i : pending) slots[i].emplace(attested);
      pending.clear();
    }
  }

  if (!pending.empty()) {
    const std::size_t workers =
        std::clamp<std::size_t>(parallelism == 0 ? 1 : parallelism, 1, pending.size());
    std::vector<std::unique_ptr<HttpTransport>> extra;
    if (make_transport) {
      while (extra.size() + 1 < workers) {
        auto transport = make_transport();
        if (!transport.ok() || *transport == nullptr) break;
        extra.push_back(std::move(transport).value());
      }
    }
    std::vector<char> expired(paths.size(), 0);
    std::atomic<std::size_t> next{0};
    const Session& session = *session_;
    const auto work = [&](HttpTransport& transport) {
      for (;;) {
        const std::size_t k = next.fetch_add(1);
        if (k >= pending.size()) return;
        const std::size_t i = pending[k];
        bool session_expired = false;
        slots[i].emplace(fetch_in_session(transport, session, checked[i], session_expired));
        expired[i] = session_expired ? 1 : 0;
      }
    };
    std::vector<std::thread> threads;
    for (const auto& transport : extra) {
      try {
        threads.emplace_back(work, std::ref(*transport));
      } catch (const std::system_error&) {
        break;  // no more threads: the ones running and the calling thread do the rest
      }
    }
    work(transport_);
    for (std::thread& thread : threads) thread.join();

    std::vector<std::size_t> retry;
    for (std::size_t i : pending) {
      if (expired[i] != 0) retry.push_back(i);
    }
    if (!retry.empty()) {
      const Status attested = attest();
      for (std::size_t i : retry) {
        if (!attested.ok()) {
          slots[i].emplace(attested);
          continue;
        }
        bool session_expired = false;
        slots[i].emplace(fetch_in_session(transport_, *session_, checked[i], session_expired));
      }
    }
  }

  std::vector<Result<SecretBytes>> results;
  results.reserve(paths.size());
  for (auto& slot : slots) {
    if (slot) {
      results.push_back(std::move(*slot));
    } else {
      results.emplace_back(make_error(ErrorCode::kInternal, "resource left without a result"));
    }
  }
  return results;
}

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/trustee_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/failover_transport.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/runtime_data.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr const char* kBase = "https://kbs.test:8080";
constexpr const char* kNonce = "9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=";

std::string error_body(std::string_view variant, std::string_view detail) {
  return make_error_information(variant, detail);
}

HttpResponse response(long status, std::string body, std::vector<HttpHeader> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// Virtual time: sleeping and sending advance it; nothing really waits.
struct FakeClock {
  SteadyClock::time_point now = SteadyClock::time_point() + std::chrono::hours(1);
  std::vector<milliseconds> sleeps;
  milliseconds total_sleep{0};
};

// A scripted broker. Each request is answered by the next scripted handler, or, when the script is
// empty, by a well-behaved Trustee: /auth issues a challenge and a cookie, /attest a token, GET
// resource a JWE of the stored secret encrypted to the JWK of the last /attest body.
class FakeBroker final : public HttpTransport {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

  explicit FakeBroker(FakeClock& clock) : clock_(clock) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    requests.push_back(request);
    clock_.now += milliseconds(10);  // every request takes some time
    if (!script.empty()) {
      Handler handler = std::move(script.front());
      script.pop_front();
      return handler(request);
    }
    return serve(request);
  }

  Result<HttpResponse> serve(const HttpRequest& request) {
    const std::string prefix = std::string(kBase) + "/kbs/v0/";
    if (request.method == "POST" && request.url == prefix + "auth") {
      ++sessions;
      cookie = fmt::format("{:032x}", sessions);
      return response(200, make_challenge({nonce, extra_params}),
                      {{"Set-Cookie", "kbs-session-id=" + cookie +
                                          "; Expires=Mon, 01 Jan 2035 "
                                          "00:00:00 GMT"}});
    }
    if (request.method == "POST" && request.url == prefix + "attest") {
      // As Trustee (kbs/src/attestation/backend.rs @ 78962cd416dc): a cookie of no session of
      // this broker fails the RCAR attest step, reported as an AttestationError.
      const bool known_session =
          std::any_of(request.headers.begin(), request.headers.end(), [this](const HttpHeader& h) {
            return h.name == "Cookie" && !cookie.empty() && h.value == "kbs-session-id=" + cookie;
          });
      if (!known_session) {
        return response(
            401, error_body("AttestationError", "Attestation error: RCAR handshake Attest failed"));
      }
      auto parsed = parse_attestation_request(request.body);
      if (!parsed.ok()) return response(401, error_body("SerdeError", "bad body"));
      jwk = parsed->tee_pubkey;
      return response(200, R"({"token":"header.claims.signature"})",
                      {{"Set-Cookie", "kbs-session-id=" + cookie}});
    }
    const std::string resource_prefix = prefix + "resource/";
    const std::string provisioner_prefix = prefix + "provisioner/";
    const bool provisioner = request.url.rfind(provisioner_prefix, 0) == 0;
    if (request.method == "GET" && (provisioner || request.url.rfind(resource_prefix, 0) == 0)) {
      const auto& store = provisioner ? provisioned : resources;
      const auto it = store.find(
          request.url.substr((provisioner ? provisioner_prefix : resource_prefix).size()));
      if (it == store.end()) {
        return response(401, error_body("PluginInternalError", "Plugin internal error"));
      }
      auto jwe = encrypt_jwe(as_bytes(it->second), jwk);
      if (!jwe.ok()) return jwe.status();
      return response(200, jwe->dump(), {{"Content-Type", "application/json"}});
    }
    return response(404, "");
  }

  std::vector<const HttpRequest*> requests_to(std::string_view suffix) const {
    std::vector<const HttpRequest*> out;
    for (const HttpRequest& request : requests) {
      if (request.url.size() >= suffix.size() &&
          request.url.compare(request.url.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(&request);
      }
    }
    return out;
  }

  std::vector<HttpRequest> requests;
  std::deque<Handler> script;
  std::map<std::string, std::string> resources = {{"default/fde/disk-key", "disk key bytes"},
                                                  {"default/fde/other", "second secret"}};
  // What the provisioner plugin serves, apart from the resource plugin's store.
  std::map<std::string, std::string> provisioned = {{"default/fde/disk-key", "provisioned key"}};
  std::string nonce = kNonce;
  json extra_params = "";
  json jwk;
  std::string cookie;
  unsigned sessions = 0;

 private:
  FakeClock& clock_;
};

std::optional<std::string> header(const HttpRequest& request, std::string_view name) {
  for (const HttpHeader& h : request.headers) {
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

class TrusteeClientTest : public ::testing::Test {
 protected:
  TrusteeClientTest() : broker_(clock_) {
    auto provider = make_evidence_provider(measure::TeeKind::kSample, nullptr);
    EXPECT_TRUE(provider.ok());
    provider_ = std::move(provider).value();
  }

  TrusteeClientOptions options(milliseconds budget = milliseconds(60000)) {
    TrusteeClientOptions o;
    o.base_url = std::string(kBase) + "/";
    o.deadline = clock_.now + budget;
    o.request_timeout = milliseconds(5000);
    o.now = [this] { return clock_.now; };
    o.sleep = [this](milliseconds delay) {
      clock_.sleeps.push_back(delay);
      clock_.total_sleep += delay;
      clock_.now += delay;
    };
    o.random = [this] { return random_(); };
    return o;
  }

  static ResourcePath path(std::string_view text) {
    auto parsed = parse_resource_path(text);
    EXPECT_TRUE(parsed.ok());
    return *parsed;
  }

  static std::string text(const SecretBytes& secret) {
    return std::string(as_chars(secret.span()));
  }

  FakeClock clock_;
  FakeBroker broker_;
  std::unique_ptr<EvidenceProvider> provider_;
  std::function<std::uint64_t()> random_ = [] { return std::uint64_t{0x8000000000000000}; };
};

TEST_F(TrusteeClientTest, FullFlowSendsExactRequestsAndBindsTheKey) {
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(text(*secret), "disk key bytes");
  EXPECT_EQ(client.token(), "header.claims.signature");
  ASSERT_EQ(broker_.requests.size(), 3u);

  const HttpRequest& auth = broker_.requests[0];
  EXPECT_EQ(auth.method, "POST");
  EXPECT_EQ(auth.url, "https://kbs.test:8080/kbs/v0/auth");
  EXPECT_EQ(header(auth, "Content-Type"), "application/json");
  EXPECT_EQ(header(auth, "Cookie"), std::nullopt);
  EXPECT_EQ(auth.body,
            R"({"version":"0.4.0","tee":"sample","extra-params":{"supported-hash-algorithms":)"
            R"(["sha256","sha384","sha512"]}})");
  EXPECT_LE(auth.deadline, clock_.now + milliseconds(5000));

  const HttpRequest& attest = broker_.requests[1];
  EXPECT_EQ(attest.method, "POST");
  EXPECT_EQ(attest.url, "https://kbs.test:8080/kbs/v0/attest");
  EXPECT_EQ(header(attest, "Content-Type"), "application/json");
  EXPECT_EQ(header(attest, "Cookie"), "kbs-session-id=00000000000000000000000000000001");
  const json body = json::parse(attest.body);
  ASSERT_EQ(body.size(), 3u);
  EXPECT_TRUE(body["init-data"].is_null());
  EXPECT_EQ(body["runtime-data"]["nonce"], kNonce);
  const json& jwk = body["runtime-data"]["tee-pubkey"];
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["alg"], "ECDH-ES+A256KW");
  EXPECT_EQ(jwk.size(), 5u);
  EXPECT_EQ(body["tee-evidence"]["additional_evidence"], "");
  // The binding: the evidence's report data is the sha384 runtime-data digest of what was sent.
  auto expected = runtime_data_digest(jwk, kNonce, "", DigestAlgorithm::kSha384);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(body["tee-evidence"]["primary_evidence"],
            json({{"svn", "1"}, {"report_data", base64_encode(*expected)}}));

  const HttpRequest& get = broker_.requests[2];
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.url, "https://kbs.test:8080/kbs/v0/resource/default/fde/disk-key");
  EXPECT_EQ(header(get, "Cookie"), "kbs-session-id=00000000000000000000000000000001");
  EXPECT_TRUE(get.body.empty());
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(TrusteeClientTest, ManyResourcesInOneSession) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  for (int i = 0; i < 3; ++i) {
    auto first = client.get_resource(path("default/fde/disk-key"));
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    EXPECT_EQ(text(*first), "disk key bytes");
    auto second = client.get_resource(path("default/fde/other"));
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_EQ(text(*second), "second secret");
  }
  EXPECT_EQ(broker_.requests_to("/auth").size(), 1u);
  EXPECT_EQ(broker_.requests_to("/attest").size(), 1u);
  EXPECT_EQ(broker_.requests.size(), 8u);
}

TEST_F(TrusteeClientTest, HashAlgorithmSelectedByTheChallengeIsUsed) {
  broker_.extra_params = {{"selected-hash-algorithm", "SHA512"}};
  broker_.nonce = "another-nonce-from-the-broker";
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  const json body = json::parse(broker_.requests_to("/attest").at(0)->body);
  EXPECT_EQ(body["runtime-data"]["nonce"], "another-nonce-from-the-broker");
  auto expected =
      runtime_data_digest(body["runtime-data"]["tee-pubkey"], "another-nonce-from-the-broker", "",
                          DigestAlgorithm::kSha512);
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(expected->size(), 64u);
  EXPECT_EQ(body["tee-evidence"]["primary_evidence"]["report_data"], base64_encode(*expected));
}

TEST_F(TrusteeClientTest, EachAttestationUsesAFreshKey) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  ASSERT_TRUE(client.attest().ok());
  const auto attests = broker_.requests_to("/attest");
  ASSERT_EQ(attests.size(), 2u);
  EXPECT_NE(json::parse(attests[0]->body)["runtime-data"]["tee-pubkey"],
            json::parse(attests[1]->body)["runtime-data"]["tee-pubkey"]);
}

TEST_F(TrusteeClientTest, Unauthorized401ReRunsTheHandshakeOnceThenSucceeds) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(
        response(401, error_body("TokenNotFound", "Attestation Token not found")));
  });
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(text(*secret), "disk key bytes");
  EXPECT_EQ(broker_.requests_to("/auth").size(), 2u);
  const auto gets = broker_.requests_to("/disk-key");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(header(*gets[1], "Cookie"), "kbs-session-id=00000000000000000000000000000002");
}

TEST_F(TrusteeClientTest, MissingResourceIsFinalWithoutANewSession) {
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(path("default/fde/missing"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kResourceNotFound);
  EXPECT_THAT(secret.status().message(), HasSubstr("Plugin internal error"));
  EXPECT_THAT(secret.status().message(),
              HasSubstr("GET https://kbs.test:8080/kbs/v0/resource/default/fde/missing"));
  EXPECT_EQ(broker_.requests_to("/auth").size(), 1u);
  EXPECT_EQ(broker_.requests_to("/missing").size(), 1u);
}

TEST_F(TrusteeClientTest, TokenRefusedAgainInANewSessionIsSessionRejected) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  for (int i = 0; i < 2; ++i) {
    broker_.script.push_back([](const HttpRequest&) {
      return Result<HttpResponse>(
          response(401, error_body("TokenVerifierError", "Token Verifier error")));
    });
    if (i == 0) {
      broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
      broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
    }
  }
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kSessionRejected);
  EXPECT_THAT(secret.status().message(), HasSubstr("TokenVerifierError"));
  EXPECT_EQ(broker_.requests_to("/auth").size(), 2u);
  EXPECT_EQ(broker_.requests_to("/disk-key").size(), 2u);
}

TEST_F(TrusteeClientTest, PolicyDenyIsNotRetried) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(401, error_body("PolicyDeny", "Access denied by policy")));
  });
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_THAT(secret.status().message(), HasSubstr("Access denied by policy"));
  EXPECT_EQ(broker_.requests.size(), 3u);  // auth, attest, one GET
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(TrusteeClientTest, PolicyDenyAfterAReHandshakeIsPolicyDenied) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(401, error_body("TokenNotFound", "session not found")));
  });
  broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
  broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(401, error_body("PolicyDeny", "Access denied by policy")));
  });
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_EQ(broker_.requests.size(), 6u);
}

TEST_F(TrusteeClientTest, NotFound404IsResourceNotFound) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(
        response(404, error_body("PluginNotFound", "Plugin resource not found")));
  });
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kResourceNotFound);
  EXPECT_THAT(secret.status().message(), HasSubstr("Plugin resource not found"));
}

TEST_F(TrusteeClientTest, ServiceUnavailableWithRetryAfterIsHonoured) {
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(503, "busy", {{"Retry-After", "2"}}));
  });
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  ASSERT_EQ(clock_.sleeps.size(), 1u);
  EXPECT_GE(clock_.sleeps[0], milliseconds(2000));
  EXPECT_LE(clock_.sleeps[0], milliseconds(2500));  // plus at most the first backoff window
  EXPECT_EQ(broker_.requests_to("/auth").size(), 2u);
}

TEST_F(TrusteeClientTest, RetryAfterBeyondTheDeadlineFailsWithoutSleeping) {
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(429, "slow down", {{"Retry-After", "120"}}));
  });
  TrusteeClient client(broker_, *provider_, options(milliseconds(30000)));
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("HTTP 429"));
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(TrusteeClientTest, UnreachableUntilTheDeadlineFailsAtTheDeadlineWithTheLastCause) {
  const milliseconds budget(20000);
  const auto deadline = clock_.now + budget;
  for (int i = 0; i < 1000; ++i) {
    broker_.script.push_back([](const HttpRequest& r) {
      return Result<HttpResponse>(
          make_error(ErrorCode::kUnreachable, "{} {}: Connection refused", r.method, r.url));
    });
  }
  // Random values at the top of each full-jitter window, so that growth is visible.
  std::vector<std::uint64_t> randoms;
  random_ = [&randoms] {
    randoms.push_back(std::uint64_t{500} << std::min<std::size_t>(randoms.size(), 20));
    return randoms.back();
  };
  TrusteeClient client(broker_, *provider_, options(budget));
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(secret.status().message(), HasSubstr("Connection refused"));
  EXPECT_THAT(secret.status().message(), HasSubstr("POST https://kbs.test:8080/kbs/v0/auth"));
  EXPECT_LE(clock_.total_sleep, budget);
  EXPECT_EQ(clock_.now, deadline);  // the last sleep ends exactly at the deadline, no later
  // Each sleep is the jittered backoff of its attempt (the last one cut at the deadline), and the
  // windows grow: 500, 1000, 2000, 4000, 8000 ms, then the rest of the budget.
  ASSERT_EQ(clock_.sleeps.size(), randoms.size());
  ASSERT_GE(clock_.sleeps.size(), 5u);
  for (std::size_t i = 0; i + 2 < clock_.sleeps.size(); ++i) {
    EXPECT_EQ(clock_.sleeps[i], backoff_delay(RetryPolicy{}, static_cast<unsigned>(i), randoms[i]))
        << i;
    EXPECT_LT(clock_.sleeps[i], clock_.sleeps[i + 1]) << i;
  }
  EXPECT_EQ(clock_.sleeps[0], milliseconds(500));
  EXPECT_EQ(clock_.sleeps[4], milliseconds(8000));
  for (const HttpRequest& request : broker_.requests) EXPECT_LE(request.deadline, deadline);
}

TEST_F(TrusteeClientTest, BackoffIsJittered) {
  for (int i = 0; i < 8; ++i) {
    broker_.script.push_back([](const HttpRequest&) {
      return Result<HttpResponse>(make_error(ErrorCode::kUnreachable, "connection reset"));
    });
  }
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  random_ = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  TrusteeClient client(broker_, *provider_, options(milliseconds(600000)));
  ASSERT_TRUE(client.attest().ok());
  ASSERT_EQ(clock_.sleeps.size(), 8u);
  bool below_ceiling = false;
  for (std::size_t i = 0; i < clock_.sleeps.size(); ++i) {
    const auto ceiling = std::min<std::int64_t>(500LL << i, 30000);
    EXPECT_LE(clock_.sleeps[i].count(), ceiling) << i;
    if (clock_.sleeps[i].count() < ceiling * 9 / 10) below_ceiling = true;
  }
  EXPECT_TRUE(below_ceiling) << "every delay sat at the top of its window: no jitter";
}

TEST_F(TrusteeClientTest, ADeadlineAlreadyPassedSendsNothing) {
  TrusteeClient client(broker_, *provider_, options(milliseconds(0)));
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(broker_.requests.empty());
}

TEST_F(TrusteeClientTest, NonTransientTransportErrorsAreNotRetried) {
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(
        make_error(ErrorCode::kTlsTrustFailure, "certificate verify failed"));
  });
  TrusteeClient client(broker_, *provider_, options());
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kTlsTrustFailure);
  EXPECT_EQ(broker_.requests.size(), 1u);
}

TEST_F(TrusteeClientTest, VersionMismatchIsReportedWithTheBrokerDetail) {
  const std::string detail =
      "Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect "
      "=0.5.0 while the request is 0.4.0";
  broker_.script.push_back([&](const HttpRequest&) {
    return Result<HttpResponse>(response(401, error_body("AttestationError", detail)));
  });
  TrusteeClient client(broker_, *provider_, options());
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kProtocolVersionMismatch);
  EXPECT_THAT(status.message(), HasSubstr(detail));
  EXPECT_THAT(status.message(), HasSubstr("POST https://kbs.test:8080/kbs/v0/auth"));
  EXPECT_EQ(broker_.requests.size(), 1u);
  EXPECT_FALSE(client.has_session());
}

TEST_F(TrusteeClientTest, AttestationRefusalIsNotRetried) {
  broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(
        response(401, error_body("AttestationError", "Verifier evaluate failed: bad quote")));
  });
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kAttestationRefused);
  EXPECT_THAT(secret.status().message(), HasSubstr("Verifier evaluate failed: bad quote"));
  EXPECT_THAT(secret.status().message(), HasSubstr("/kbs/v0/attest"));
  EXPECT_EQ(broker_.requests.size(), 2u);
}

// Two addresses of one broker service, each with its own sessions (no shared session store):
// `first` answers at kBase until it goes silent after answering /auth; `second` at kSecondBase.
constexpr const char* kSecondBase = "https://kbs-2.test:8080";

class TwoAddresses final : public HttpTransport {
 public:
  TwoAddresses(FakeBroker& first, FakeBroker& second) : first_(first), second_(second) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    const std::string second_base = kSecondBase;
    if (request.url.rfind(second_base, 0) == 0) {
      HttpRequest rewritten = request;  // the fake broker serves kBase URLs
      rewritten.url = std::string(kBase) + request.url.substr(second_base.size());
      return second_.send(rewritten);
    }
    if (first_silent) {
      return make_error(ErrorCode::kUnreachable, "{} {}: Connection refused", request.method,
                        request.url);
    }
    auto answer = first_.send(request);
    if (silent_after_auth && request.url.ends_with("/kbs/v0/auth")) first_silent = true;
    return answer;
  }

  bool silent_after_auth = false;
  bool first_silent = false;

 private:
  FakeBroker& first_;
  FakeBroker& second_;
};

TEST_F(TrusteeClientTest, AnAddressSilentAfterAuthMeansOneFullHandshakeAtTheNextAddress) {
  // The failover transport reads the real clock for the request deadline.
  clock_.now = SteadyClock::now();
  FakeBroker second(clock_);
  auto network = std::make_unique<TwoAddresses>(broker_, second);
  network->silent_after_auth = true;
  auto addresses = std::make_shared<BrokerAddresses>(std::vector<std::string>{kBase, kSecondBase});
  auto transport = make_failover_transport(std::move(network), addresses);
  TrusteeClient client(*transport, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(text(*secret), "disk key bytes");
  // The first address began a session and went silent; the second refused that session at
  // /attest (it never issued it), then ran a whole handshake of its own and released the key.
  ASSERT_EQ(broker_.requests.size(), 1u);
  EXPECT_EQ(second.requests.size(), 4u);
  EXPECT_EQ(second.requests_to("/kbs/v0/attest").size(), 2u);
  EXPECT_EQ(second.sessions, 1u);
  EXPECT_EQ(client.handshakes(), 1u);
  EXPECT_EQ(addresses->preferred(), 1u);
}

TEST_F(TrusteeClientTest, ARefusalByTheAddressThatBeganTheSessionIsFinal) {
  clock_.now = SteadyClock::now();
  FakeBroker second(clock_);
  auto network = std::make_unique<TwoAddresses>(broker_, second);
  auto addresses = std::make_shared<BrokerAddresses>(std::vector<std::string>{kBase, kSecondBase});
  auto transport = make_failover_transport(std::move(network), addresses);
  broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(
        response(401, error_body("AttestationError", "Verifier evaluate failed: bad quote")));
  });
  TrusteeClient client(*transport, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kAttestationRefused);
  EXPECT_EQ(broker_.requests.size(), 2u);
  EXPECT_TRUE(second.requests.empty());
}

struct MalformedCase {
  const char* name;
  int step;  // 0: /auth, 1: /attest, 2: GET
  long status;
  const char* body;
  ErrorCode code;
  const char* expected;
};

class TrusteeClientMalformed : public TrusteeClientTest,
                               public ::testing::WithParamInterface<MalformedCase> {};

TEST_P(TrusteeClientMalformed, IsReportedWithTheEndpoint) {
  const MalformedCase& c = GetParam();
  for (int i = 0; i < c.step; ++i) {
    broker_.script.push_back([this](const HttpRequest& r) { return broker_.serve(r); });
  }
  broker_.script.push_back([&c, this](const HttpRequest&) {
    std::vector<HttpHeader> headers;
    if (c.step == 0) headers.push_back({"Set-Cookie", "kbs-session-id=abc"});
    (void)this;
    return Result<HttpResponse>(response(c.status, c.body, headers));
  });
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), c.code) << secret.status().to_string();
  EXPECT_THAT(secret.status().message(), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TrusteeClientMalformed,
    ::testing::Values(
        MalformedCase{"ChallengeNotJson", 0, 200, "<html>", ErrorCode::kMalformedResponse,
                      "POST https://kbs.test:8080/kbs/v0/auth: challenge"},
        MalformedCase{"ChallengeWithoutNonce", 0, 200, R"({"extra-params":""})",
                      ErrorCode::kMalformedResponse, "\"nonce\" is missing"},
        MalformedCase{"UnknownHashAlgorithm", 0, 200,
                      R"({"nonce":"n","extra-params":{"selected-hash-algorithm":"md5"}})",
                      ErrorCode::kUnsupportedAlgorithm, "md5"},
        MalformedCase{"TokenMissing", 1, 200, R"({"tok":"x"})", ErrorCode::kMalformedResponse,
                      "/kbs/v0/attest: attestation response: member \"token\" is missing"},
        MalformedCase{"ErrorBodyNotErrorInformation", 1, 401, "Unauthorized",
                      ErrorCode::kMalformedResponse, "HTTP 401"},
        MalformedCase{"JweNotJson", 2, 200, "not json", ErrorCode::kMalformedResponse,
                      "is not a JWE JSON object"},
        MalformedCase{"JweEmptyObject", 2, 200, "{}", ErrorCode::kMalformedResponse,
                      "/kbs/v0/resource/default/fde/disk-key"}),
    [](const ::testing::TestParamInfo<MalformedCase>& test) { return test.param.name; });

TEST_F(TrusteeClientTest, MissingSessionCookieIsMalformed) {
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(200, make_challenge({kNonce, ""})));
  });
  TrusteeClient client(broker_, *provider_, options());
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(status.message(), HasSubstr("kbs-session-id"));
}

TEST_F(TrusteeClientTest, CookieValueWithHeaderInjectionIsRefused) {
  broker_.script.push_back([](const HttpRequest&) {
    return Result<HttpResponse>(response(200, make_challenge({kNonce, ""}),
                                         {{"Set-Cookie", "kbs-session-id=a\r\nX-Evil: 1"}}));
  });
  TrusteeClient client(broker_, *provider_, options());
  const Status status = client.attest();
  EXPECT_EQ(status.code(), ErrorCode::kMalformedResponse);
  EXPECT_EQ(broker_.requests.size(), 1u);
}

TEST_F(TrusteeClientTest, CorruptedJweTagIsDecryptionFailed) {
  TrusteeClient client(broker_, *provider_, options());
  ASSERT_TRUE(client.attest().ok());
  broker_.script.push_back([this](const HttpRequest& r) {
    auto good = broker_.serve(r);
    if (!good.ok()) return good;
    json jwe = json::parse(good->body);
    std::string tag = jwe["tag"].get<std::string>();
    tag[0] = tag[0] == 'A' ? 'B' : 'A';
    jwe["tag"] = tag;
    return Result<HttpResponse>(response(200, jwe.dump()));
  });
  auto secret = client.get_resource(path("default/fde/disk-key"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDecryptionFailed);
}

TEST_F(TrusteeClientTest, ProvisionerPluginPathIsRequestedAndDecryptedLikeAResource) {
  TrusteeClient client(broker_, *provider_, options());
  auto provisioned = parse_resource_path(KbsPlugin::kProvisioner, "default/fde/disk-key");
  ASSERT_TRUE(provisioned.ok());
  auto secret = client.get_resource(*provisioned);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(text(*secret), "provisioned key");
  ASSERT_EQ(broker_.requests.size(), 3u);
  EXPECT_EQ(broker_.requests[2].url,
            "https://kbs.test:8080/kbs/v0/provisioner/default/fde/disk-key");

  std::vector<ResourcePath> both = {path("default/fde/disk-key"), *provisioned};
  auto results = client.get_resources(both, 1, {});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  EXPECT_EQ(text(*results[0]), "disk key bytes");
  EXPECT_EQ(text(*results[1]), "provisioned key");
  ASSERT_EQ(broker_.requests.size(), 5u);
  EXPECT_EQ(broker_.requests[3].url, "https://kbs.test:8080/kbs/v0/resource/default/fde/disk-key");
  EXPECT_EQ(broker_.requests[4].url,
            "https://kbs.test:8080/kbs/v0/provisioner/default/fde/disk-key");
}

TEST_F(TrusteeClientTest, InvalidResourcePathSendsNothing) {
  TrusteeClient client(broker_, *provider_, options());
  auto secret = client.get_resource(ResourcePath{"default", "..", "key"});
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(broker_.requests.empty());
}

TEST(StatusFromBrokerError, BodiesThatAreNotErrorInformation) {
  EXPECT_EQ(status_from_broker_error("GET x", 404, "").code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(status_from_broker_error("POST a", 400, "{").code(), ErrorCode::kMalformedResponse);
  EXPECT_EQ(status_from_broker_error("POST a", 401, "Unauthorized").code(),
            ErrorCode::kMalformedResponse);
  EXPECT_TRUE(broker_error_needs_new_session(401, "Unauthorized"));
  EXPECT_FALSE(broker_error_needs_new_session(404, ""));
}

TEST(StatusFromBrokerError, BrokerTextIsEscaped) {
  const Status escaped =
      status_from_broker_error("POST a", 401, error_body("AttestationError", "a\x1b[31mb"));
  EXPECT_THAT(escaped.message(), HasSubstr("a\\x1b[31mb"));
}

// One row per variant of confidential-containers/trustee kbs/src/error.rs @ 78962cd4 that a client
// of /auth, /attest, GET /resource or the admin resource upload can meet, with the detail Trustee
// sends (its Display text) and the HTTP status it uses.
struct VariantCase {
  const char* variant;
  long http_status;
  const char* detail;
  ErrorCode code;
  const char* meaning;
  bool new_session;
};

class TrusteeVariantTest : public ::testing::TestWithParam<VariantCase> {};

TEST_P(TrusteeVariantTest, MapsToItsCodeAndMeaning) {
  const VariantCase& c = GetParam();
  const std::string body = error_body(c.variant, c.detail);
  const Status status = status_from_broker_error("GET https://kbs/x", c.http_status, body);
  EXPECT_EQ(status.code(), c.code) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr(c.meaning));
  EXPECT_THAT(status.message(), HasSubstr(c.variant));
  EXPECT_THAT(status.message(), HasSubstr(c.detail));
  EXPECT_THAT(status.message(), HasSubstr("GET https://kbs/x"));
  EXPECT_THAT(status.message(), HasSubstr(fmt::format("HTTP {}", c.http_status)));
  EXPECT_EQ(broker_error_needs_new_session(c.http_status, body), c.new_session);
  const TrusteeErrorKind* kind = find_trustee_error_kind(c.variant);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->new_session_helps, c.new_session);
}

INSTANTIATE_TEST_SUITE_P(
    Trustee, TrusteeVariantTest,
    ::testing::Values(
        VariantCase{"AdminAuthAccess", 401,
                    "admin access denied for endpoint resource-policy: unauthorized",
                    ErrorCode::kPolicyDenied, "refused the admin credentials", false},
        VariantCase{"AdminAuthInitialization", 401,
                    "failed to initialize [admin] configuration: token verification failed",
                    ErrorCode::kPolicyDenied, "refused the admin credentials", false},
        VariantCase{"AttestationError", 401, "Attestation error: RCAR handshake Attest failed",
                    ErrorCode::kAttestationRefused, "refused the attestation", false},
        VariantCase{"InvalidRequestPath", 404, "Request path  is invalid",
                    ErrorCode::kInvalidArgument, "refuses the request path", false},
        VariantCase{"JweError", 401, "JWE failed", ErrorCode::kUnsupportedAlgorithm,
                    "cannot encrypt the resource to the TEE key", false},
        VariantCase{"ParsePolicyError", 401,
                    "Failed to parse policy: Illegal SetPolicy Request Json",
                    ErrorCode::kInvalidArgument, "cannot parse the policy", false},
        VariantCase{"PluginInternalError", 401, "Plugin internal error",
                    ErrorCode::kResourceNotFound, "resource not found", false},
        VariantCase{"PluginNotFound", 404, "Plugin resource not found",
                    ErrorCode::kResourceNotFound, "no plugin for the path", false},
        VariantCase{"PolicyDeny", 401, "Access denied by policy", ErrorCode::kPolicyDenied,
                    "denied by the broker policy", false},
        VariantCase{"PolicyEngineError", 401, "Policy engine error: rego evaluation failed",
                    ErrorCode::kBrokerInternal, "policy engine failed", false},
        VariantCase{"SerdeError", 401, "Serialize/Deserialize failed", ErrorCode::kBrokerInternal,
                    "failed to serialise", false},
        VariantCase{"TokenNotFound", 401, "Attestation Token not found",
                    ErrorCode::kSessionRejected, "no attestation session or token", true},
        VariantCase{"TokenVerifierError", 401, "Token Verifier error", ErrorCode::kSessionRejected,
                    "does not accept the session's attestation token", true}),
    [](const ::testing::TestParamInfo<VariantCase>& row) { return row.param.variant; });

TEST(StatusFromBrokerError, VersionMismatchIsAnAttestationErrorDetail) {
  const Status status = status_from_broker_error(
      "POST a", 401,
      error_body("AttestationError",
                 "Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version "
                 "Mismatch: expect =0.5.0 while the request is 0.4.0"));
  EXPECT_EQ(status.code(), ErrorCode::kProtocolVersionMismatch);
  EXPECT_THAT(status.message(), HasSubstr("protocol version 0.4.0"));
  // The same words under another variant are that variant's verdict.
  EXPECT_EQ(
      status_from_broker_error("GET x", 401, error_body("PolicyDeny", "version mismatch")).code(),
      ErrorCode::kPolicyDenied);
}

TEST(StatusFromBrokerError, AnUnknownVariantIsAGenericRefusalNamingIt) {
  const std::string body = error_body("SomeFutureError", "something new");
  const Status status = status_from_broker_error("GET x", 401, body);
  EXPECT_EQ(status.code(), ErrorCode::kAttestationRefused);
  EXPECT_THAT(status.message(), HasSubstr("does not know"));
  EXPECT_THAT(status.message(),
              HasSubstr("https://github.com/confidential-containers/kbs/errors/SomeFutureError"));
  EXPECT_THAT(status.message(), HasSubstr("something new"));
  EXPECT_TRUE(broker_error_needs_new_session(401, body));
  EXPECT_FALSE(broker_error_needs_new_session(404, body));
  // Variants are matched exactly: a look-alike is unknown, not PolicyDeny.
  EXPECT_EQ(find_trustee_error_kind("policydeny"), nullptr);
  EXPECT_EQ(status_from_broker_error("GET x", 401, error_body("policydeny", "")).code(),
            ErrorCode::kAttestationRefused);
}

// The table covers every variant of Trustee's error.rs (those only a starting broker, its metrics
// or its reference value service produce included), each once, sorted for the look-up.
TEST(TrusteeErrorKinds, CoverEveryUpstreamVariant) {
  const std::vector<std::string_view> upstream = {"AdminAuthAccess",
                                                  "AdminAuthInitialization",
                                                  "AttestationError",
                                                  "HTTPFailed",
                                                  "HTTPSFailed",
                                                  "InvalidRequestPath",
                                                  "JweError",
                                                  "ParsePolicyError",
                                                  "PluginInternalError",
                                                  "PluginManagerInitialization",
                                                  "PluginNotFound",
                                                  "PolicyDeny",
                                                  "PolicyEngineError",
                                                  "PrometheusError",
                                                  "RvpsError",
                                                  "SerdeError",
                                                  "StorageBackendInitialization",
                                                  "TokenNotFound",
                                                  "TokenVerifierError"};
  std::vector<std::string_view> listed;
  for (const TrusteeErrorKind& kind : trustee_error_kinds()) {
    listed.push_back(kind.variant);
    ASSERT_EQ(find_trustee_error_kind(kind.variant), &kind);
    EXPECT_FALSE(kind.meaning.empty());
  }
  EXPECT_EQ(listed, upstream);
  for (std::string_view variant :
       {"HTTPFailed", "HTTPSFailed", "PluginManagerInitialization", "PrometheusError", "RvpsError",
        "StorageBackendInitialization"}) {
    EXPECT_EQ(find_trustee_error_kind(variant)->code, ErrorCode::kBrokerInternal) << variant;
  }
}

}  // namespace
}  // namespace ccfde::kbs_client

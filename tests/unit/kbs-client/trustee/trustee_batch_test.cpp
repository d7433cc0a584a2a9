// SPDX-License-Identifier: Apache-2.0
// TrusteeClient::get_resources: several resources in one attested session, fetched concurrently
// by workers with a transport each, against a thread-safe fake broker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/trustee_client.h"

namespace ccfde::kbs_client {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr const char* kBase = "https://kbs.test:8080";
constexpr const char* kNonce = "9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=";

HttpResponse response(long status, std::string body, std::vector<HttpHeader> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string cookie_of(const HttpRequest& request) {
  for (const HttpHeader& header : request.headers) {
    if (header.name == "Cookie") return header.value.substr(header.value.find('=') + 1);
  }
  return "";
}

// A well-behaved Trustee, safe to call from several threads. Each session has its own key; a
// resource is encrypted to the key of the session named by the request's cookie.
class SharedBroker {
 public:
  SharedBroker() {
    for (int i = 0; i < 16; ++i)
      resources[fmt::format("default/fde/key{}", i)] = fmt::format("secret {}", i);
  }

  Result<HttpResponse> serve(const HttpRequest& request, const void* transport) {
    std::unique_lock lock(mutex_);
    ++requests;
    transports_seen.insert(transport);
    const std::string prefix = std::string(kBase) + "/kbs/v0/";
    if (request.method == "POST" && request.url == prefix + "auth") {
      ++auths;
      if (!auth_status.ok()) return auth_status;
      current_cookie = fmt::format("{:032x}", auths);
      return response(200, make_challenge({kNonce, ""}),
                      {{"Set-Cookie", "kbs-session-id=" + current_cookie}});
    }
    if (request.method == "POST" && request.url == prefix + "attest") {
      ++attests;
      auto parsed = parse_attestation_request(request.body);
      if (!parsed.ok()) return response(401, make_error_information("SerdeError", "bad body"));
      session_keys[cookie_of(request)] = parsed->tee_pubkey;
      return response(200, R"({"token":"t"})");
    }
    const std::string resource_prefix = prefix + "resource/";
    if (request.method == "GET" && request.url.rfind(resource_prefix, 0) == 0) {
      const std::string name = request.url.substr(resource_prefix.size());
      ++gets[name];
      // Hold the first `gate` GETs until that many are in flight together: proof of concurrency.
      ++started;
      ++in_flight;
      max_in_flight = std::max(max_in_flight, in_flight);
      if (started <= gate) {
        changed_.notify_all();
        changed_.wait_for(lock, std::chrono::seconds(5), [this] { return started >= gate; });
      }
      --in_flight;
      if (expire_once.erase(name) > 0) {
        return response(401,
                        make_error_information("TokenNotFound", "Attestation Token not found"));
      }
      if (deny.count(name) > 0) {
        return response(401, make_error_information("PolicyDeny", "Access denied by policy"));
      }
      const auto key = session_keys.find(cookie_of(request));
      if (key == session_keys.end()) {
        return response(401,
                        make_error_information("TokenNotFound", "Attestation Token not found"));
      }
      const auto it = resources.find(name);
      if (it == resources.end()) {
        return response(401, make_error_information("PluginInternalError", "not found"));
      }
      auto jwe = encrypt_jwe(as_bytes(it->second), key->second);
      if (!jwe.ok()) return jwe.status();
      return response(200, jwe->dump());
    }
    return response(404, "");
  }

  std::map<std::string, std::string> resources;
  std::map<std::string, nlohmann::json> session_keys;
  std::set<std::string> expire_once;
  std::set<std::string> deny;
  std::map<std::string, int> gets;
  std::set<const void*> transports_seen;
  Status auth_status;
  std::string current_cookie;
  unsigned requests = 0, auths = 0, attests = 0;
  unsigned gate = 0, started = 0, in_flight = 0, max_in_flight = 0;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

class BrokerTransport final : public HttpTransport {
 public:
  explicit BrokerTransport(SharedBroker& broker) : broker_(broker) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    return broker_.serve(request, this);
  }

 private:
  SharedBroker& broker_;
};

class TrusteeBatchTest : public ::testing::Test {
 protected:
  TrusteeBatchTest() : main_(broker_) {
    auto provider = make_evidence_provider(measure::TeeKind::kSample, nullptr);
    EXPECT_TRUE(provider.ok());
    provider_ = std::move(provider).value();
  }

  TrusteeClientOptions options(milliseconds budget = milliseconds(20000)) const {
    TrusteeClientOptions o;
    o.base_url = kBase;
    o.deadline = SteadyClock::now() + budget;
    o.retry.initial_delay = milliseconds(1);
    o.retry.max_delay = milliseconds(5);
    return o;
  }

  TransportFactory factory() {
    return [this]() -> Result<std::unique_ptr<HttpTransport>> {
      ++factory_calls_;
      if (factory_fails_) return make_error(ErrorCode::kInternal, "no transport");
      return std::unique_ptr<HttpTransport>(std::make_unique<BrokerTransport>(broker_));
    };
  }

  static std::vector<ResourcePath> paths(std::initializer_list<std::string> names) {
    std::vector<ResourcePath> out;
    for (const std::string& name : names) {
      auto path = parse_resource_path(name);
      EXPECT_TRUE(path.ok()) << name;
      if (path.ok()) out.push_back(*path);
    }
    return out;
  }

  static std::vector<ResourcePath> first_keys(int count) {
    std::vector<ResourcePath> out;
    for (int i = 0; i < count; ++i) out.push_back({"default", "fde", fmt::format("key{}", i)});
    return out;
  }

  static std::string text(const Result<SecretBytes>& secret) {
    return std::string(as_chars(secret->span()));
  }

  SharedBroker broker_;
  BrokerTransport main_;
  std::unique_ptr<EvidenceProvider> provider_;
  unsigned factory_calls_ = 0;
  bool factory_fails_ = false;
};

TEST_F(TrusteeBatchTest, SixteenResourcesOneAttestationFourAtATime) {
  broker_.gate = 4;
  TrusteeClient client(main_, *provider_, options());
  const auto wanted = first_keys(16);
  auto results = client.get_resources(wanted, 4, factory());
  ASSERT_EQ(results.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(results[static_cast<std::size_t>(i)].ok())
        << i << ": " << results[static_cast<std::size_t>(i)].status().to_string();
    EXPECT_EQ(text(results[static_cast<std::size_t>(i)]), fmt::format("secret {}", i));
  }
  EXPECT_EQ(broker_.auths, 1u);
  EXPECT_EQ(broker_.attests, 1u);
  EXPECT_EQ(client.handshakes(), 1u);
  EXPECT_EQ(factory_calls_, 3u);
  EXPECT_EQ(broker_.max_in_flight, 4u);
  EXPECT_EQ(broker_.transports_seen.size(), 4u);
  EXPECT_EQ(broker_.requests, 18u);

  // A second batch reuses the session.
  auto again = client.get_resources(first_keys(2), 4, factory());
  ASSERT_TRUE(again[1].ok());
  EXPECT_EQ(broker_.attests, 1u);
  EXPECT_EQ(client.handshakes(), 1u);
}

TEST_F(TrusteeBatchTest, WithoutAFactoryTheCallingThreadFetchesAlone) {
  TrusteeClient client(main_, *provider_, options());
  auto results = client.get_resources(first_keys(3), 8, TransportFactory());
  for (const auto& result : results) ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(broker_.max_in_flight, 1u);
  EXPECT_EQ(broker_.transports_seen.size(), 1u);

  factory_fails_ = true;
  auto degraded = client.get_resources(first_keys(3), 8, factory());
  for (const auto& result : degraded) ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(factory_calls_, 1u);  // the first failure stops asking
  EXPECT_EQ(broker_.transports_seen.size(), 1u);
}

TEST_F(TrusteeBatchTest, ParallelismIsCappedByTheNumberOfResources) {
  TrusteeClient client(main_, *provider_, options());
  auto results = client.get_resources(first_keys(2), 32, factory());
  ASSERT_TRUE(results[0].ok());
  ASSERT_TRUE(results[1].ok());
  EXPECT_EQ(factory_calls_, 1u);
}

TEST_F(TrusteeBatchTest, PerResourceErrorsStayWithTheirResource) {
  broker_.deny.insert("default/fde/key2");
  TrusteeClient client(main_, *provider_, options());
  auto wanted =
      paths({"default/fde/key0", "default/fde/missing", "default/fde/key2", "default/fde/key3"});
  wanted.push_back({"default", "fde", "bad/tag"});
  auto results = client.get_resources(wanted, 4, factory());
  ASSERT_EQ(results.size(), 5u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_EQ(text(results[0]), "secret 0");
  EXPECT_EQ(results[1].status().code(), ErrorCode::kResourceNotFound);
  EXPECT_THAT(results[1].status().message(), HasSubstr("default/fde/missing"));
  EXPECT_EQ(results[2].status().code(), ErrorCode::kPolicyDenied);
  EXPECT_THAT(results[2].status().message(), HasSubstr("Access denied by policy"));
  ASSERT_TRUE(results[3].ok());
  EXPECT_EQ(text(results[3]), "secret 3");
  EXPECT_EQ(results[4].status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(broker_.gets.count("default/fde/bad/tag"), 0u);
  // Neither a missing resource (PluginInternalError) nor a policy denial depends on the session:
  // no new handshake, no retry.
  EXPECT_EQ(broker_.gets["default/fde/missing"], 1);
  EXPECT_EQ(broker_.gets["default/fde/key2"], 1);
  EXPECT_EQ(broker_.attests, 1u);
  EXPECT_EQ(client.handshakes(), 1u);
}

TEST_F(TrusteeBatchTest, ExpiredSessionsAreRetriedAfterOneNewHandshake) {
  broker_.expire_once = {"default/fde/key1", "default/fde/key5", "default/fde/key6"};
  TrusteeClient client(main_, *provider_, options());
  auto results = client.get_resources(first_keys(8), 3, factory());
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().to_string();
    EXPECT_EQ(text(results[i]), fmt::format("secret {}", i));
  }
  EXPECT_EQ(broker_.attests, 2u);  // three expiries, one re-handshake
  EXPECT_EQ(broker_.gets["default/fde/key1"], 2);
  EXPECT_EQ(broker_.gets["default/fde/key0"], 1);
}

TEST_F(TrusteeBatchTest, AFailedAttestationIsEveryResourcesError) {
  broker_.auth_status = make_error(ErrorCode::kTlsTrustFailure, "certificate verify failed");
  TrusteeClient client(main_, *provider_, options());
  auto wanted = first_keys(3);
  wanted.push_back({"bad segment", "fde", "x"});
  auto results = client.get_resources(wanted, 4, factory());
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i].status().code(), ErrorCode::kTlsTrustFailure);
    EXPECT_THAT(results[i].status().message(), HasSubstr("certificate verify failed"));
  }
  EXPECT_EQ(results[3].status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(broker_.gets.empty());
  EXPECT_EQ(factory_calls_, 0u);
  EXPECT_EQ(client.handshakes(), 0u);
}

TEST_F(TrusteeBatchTest, APassedDeadlineSendsNothing) {
  TrusteeClient client(main_, *provider_, options(milliseconds(0)));
  auto results = client.get_resources(first_keys(2), 2, factory());
  for (const auto& result : results)
    EXPECT_EQ(result.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(broker_.requests, 0u);

  client.set_deadline(SteadyClock::now() + std::chrono::seconds(10));
  auto later = client.get_resources(first_keys(2), 2, factory());
  for (const auto& result : later) EXPECT_TRUE(result.ok()) << result.status().to_string();
}

TEST_F(TrusteeBatchTest, EmptyInputDoesNothing) {
  TrusteeClient client(main_, *provider_, options());
  EXPECT_TRUE(client.get_resources({}, 4, factory()).empty());
  EXPECT_EQ(broker_.requests, 0u);
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// The key-broker client (make_curl_transport + TrusteeClient) against devkbs started in-process on
// 127.0.0.1 over HTTPS with its generated CA: full flows (sample, TDX with event log), broker-side
// refusals, transport trust, availability (down/up, never up, slow, 503s) and session expiry.
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <chrono>
#include <future>
#include <thread>

#include "ccfde/common/encoding.h"
#include "ccfde/devkbs/broker.h"
#include "ccfde/devkbs/server.h"
#include "ccfde/kbs-client/trustee_client.h"
#include "ccfde/testing/sample_evidence.h"
#include "ccfde/testing/testdata.h"
#include "integration_support.h"

namespace ccfde::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kAdminToken[] = "integration-admin-token-0123456789";
constexpr char kDiskKeyPath[] = "default/fde/disk-key";

Bytes random_secret(std::size_t size = 32) {
  Bytes bytes(size);
  EXPECT_EQ(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())), 1);
  return bytes;
}

kbs_client::ResourcePath resource(const std::string& text) {
  auto path = kbs_client::parse_resource_path(text);
  EXPECT_TRUE(path.ok()) << path.status().to_string();
  return path.ok() ? *path : kbs_client::ResourcePath{};
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Asserts an error `code` whose message contains every one of `parts` and none of `secret`.
void expect_error(const Status& status, ErrorCode code, const std::vector<std::string>& parts,
                  std::span<const std::uint8_t> secret) {
  ASSERT_FALSE(status.ok()) << "expected " << error_code_name(code);
  EXPECT_EQ(status.code(), code) << status.to_string();
  for (const std::string& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "message: " << status.message() << "\nexpected to contain: " << part;
  }
  expect_no_secret(status.to_string(), secret);
}

class KbsIntegrationTest : public ::testing::Test {
 protected:
  KbsIntegrationTest() : chain_(testing::build_sample_pck_chain()) {}

  void SetUp() override {
    options_.state_dir = dir_.path() / "state";
    options_.allow_sample = true;
    options_.tdx_root_pem = chain_.root_pem;
    options_.admin_token = kAdminToken;
    options_.now = [this] {
      return std::chrono::system_clock::now() + seconds(clock_offset_.load());
    };
  }

  void TearDown() override {
    // Close the client's kept-alive connections first: the server's stop() waits for its
    // connection threads, which otherwise sit out httplib's keep-alive timeout (5 s).
    counter_.reset();
    curl_.reset();
    if (server_) server_->stop();
  }

  // The broker and its generated TLS material (no server yet).
  void create_broker() {
    auto broker = devkbs::Broker::create(options_);
    ASSERT_TRUE(broker.ok()) << broker.status().to_string();
    broker_ = std::move(*broker);
    auto tls = devkbs::ensure_tls_material(options_.state_dir);
    ASSERT_TRUE(tls.ok()) << tls.status().to_string();
    tls_ = *tls;
  }

  // Serves the broker over HTTPS (the generated certificate unless `server_options` names one).
  void start(devkbs::ServerOptions server_options = {}) {
    if (!broker_) {
      ASSERT_NO_FATAL_FAILURE(create_broker());
    }
    if (server_options.certificate.empty()) {
      server_options.certificate = tls_.certificate;
      server_options.private_key = tls_.private_key;
    }
    auto server = devkbs::Server::start(*broker_, server_options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    port_ = server_->port();
  }

  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  // A curl transport trusting the devkbs CA (unless `options` says otherwise), wrapped in the
  // counting decorator counter_.
  void make_transport(kbs_client::TransportOptions options = {}) {
    if (options.ca_file.empty()) options.ca_file = tls_.ca_certificate;
    options.connect_timeout = milliseconds(2000);
    auto transport = kbs_client::make_curl_transport(options);
    ASSERT_TRUE(transport.ok()) << transport.status().to_string();
    curl_ = std::move(*transport);
    counter_ = std::make_unique<CountingTransport>(*curl_);
  }

  kbs_client::TrusteeClientOptions client_options(milliseconds deadline) const {
    kbs_client::TrusteeClientOptions options;
    options.base_url = base_url();
    options.retry.initial_delay = milliseconds(50);
    options.retry.max_delay = milliseconds(400);
    options.request_timeout = milliseconds(5000);
    options.deadline = SteadyClock::now() + deadline;
    return options;
  }

  static std::unique_ptr<kbs_client::EvidenceProvider> sample_provider() {
    auto provider = kbs_client::make_evidence_provider(measure::TeeKind::kSample, nullptr);
    EXPECT_TRUE(provider.ok()) << provider.status().to_string();
    return provider.ok() ? std::move(*provider) : nullptr;
  }

  devkbs::BrokerResponse admin(const std::string& method, const std::string& path,
                               const std::string& body) {
    return broker_->handle(
        {method, path, {{"Authorization", std::string("Bearer ") + kAdminToken}}, body});
  }

  // Through the Broker API (in-process, so that server test hooks such as fail_first do not see
  // the administration requests).
  void put_resource(const std::string& path, std::span<const std::uint8_t> bytes) {
    const auto reply = admin("POST", "/kbs/v0/resource/" + path, std::string(as_chars(bytes)));
    ASSERT_EQ(reply.status, 200) << reply.body;
  }

  void set_policy(const nlohmann::json& policy) {
    const auto reply = admin("POST", "/kbs/v0/resource-policy", policy.dump());
    ASSERT_EQ(reply.status, 200) << reply.body;
  }

  // A TDX policy entry requiring the generator's MRTD and the RTMRs of the default sample boot.
  static nlohmann::json tdx_reference_entry() {
    const auto rtmr = testing::replay_sample_events(testing::default_sample_events());
    nlohmann::json tdx = {{"mr_td", std::string(96, '2')}};
    for (std::size_t i = 0; i < 4; ++i) tdx["rtmr" + std::to_string(i)] = hex_encode(rtmr[i]);
    return {{"tees", {"tdx"}}, {"tdx", tdx}};
  }

  testing::TempDir dir_;
  testing::SamplePckChain chain_;
  devkbs::BrokerOptions options_;
  std::atomic<std::int64_t> clock_offset_{0};
  std::unique_ptr<devkbs::Broker> broker_;
  devkbs::TlsMaterial tls_;
  std::unique_ptr<devkbs::Server> server_;
  int port_ = 0;
  std::unique_ptr<kbs_client::HttpTransport> curl_;
  std::unique_ptr<CountingTransport> counter_;
};

// ---- 1. Full flows ----

TEST_F(KbsIntegrationTest, SampleFullFlowWithHttpAdmin) {
  start();
  make_transport();
  const Bytes secret = random_secret();

  // The administrator uploads the resource and the policy over HTTPS with the bearer token.
  const auto admin_request = [&](const std::string& path, std::string body) {
    kbs_client::HttpRequest request{"POST",
                                    base_url() + path,
                                    {{"Authorization", std::string("Bearer ") + kAdminToken},
                                     {"Content-Type", "application/octet-stream"}},
                                    std::move(body),
                                    SteadyClock::now() + seconds(5)};
    auto response = curl_->send(request);
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 200) << response->body;
  };
  admin_request(std::string("/kbs/v0/resource/") + kDiskKeyPath, std::string(as_chars(secret)));
  admin_request("/kbs/v0/resource-policy",
                nlohmann::json{{"resources", {{kDiskKeyPath, {{"tees", {"sample"}}}}}}}.dump());

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  auto key = client.get_resource(resource(kDiskKeyPath));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(key->size(), 32u);
  EXPECT_TRUE(key->equals(secret));
  EXPECT_TRUE(client.has_session());
  EXPECT_FALSE(client.token().empty());
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 1);
  EXPECT_EQ(counter_->count("POST /kbs/v0/attest"), 1);
  EXPECT_EQ(counter_->count(std::string("GET /kbs/v0/resource/") + kDiskKeyPath), 1);
}

TEST_F(KbsIntegrationTest, TdxFullFlowWithEventLog) {
  start();
  make_transport();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{kDiskKeyPath, tdx_reference_entry()}}}});

  SampleTdxProvider provider(chain_, {});
  kbs_client::TrusteeClient client(*counter_, provider, client_options(seconds(10)));
  auto key = client.get_resource(resource(kDiskKeyPath));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(key->equals(secret));
  EXPECT_EQ(provider.calls(), 1);
  EXPECT_EQ(counter_->total(), 3);
}

TEST_F(KbsIntegrationTest, SixteenResourcesInOneAttestedSession) {
  start();
  make_transport();
  std::vector<Bytes> secrets;
  for (int i = 0; i < 16; ++i) {
    secrets.push_back(random_secret());
    put_resource("default/fde/key-" + std::to_string(i), secrets.back());
  }
  set_policy({{"resources", {{"*", tdx_reference_entry()}}}});

  SampleTdxProvider provider(chain_, {});
  kbs_client::TrusteeClient client(*counter_, provider, client_options(seconds(20)));
  ASSERT_TRUE(client.attest().ok());
  for (int i = 0; i < 16; ++i) {
    auto key = client.get_resource(resource("default/fde/key-" + std::to_string(i)));
    ASSERT_TRUE(key.ok()) << i << ": " << key.status().to_string();
    EXPECT_TRUE(key->equals(secrets[static_cast<std::size_t>(i)])) << i;
  }
  EXPECT_EQ(provider.calls(), 1);
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 1);
  EXPECT_EQ(counter_->count("POST /kbs/v0/attest"), 1);
  EXPECT_EQ(counter_->count_prefix("/kbs/v0/resource/"), 16);
  EXPECT_EQ(counter_->total(), 18);
}

// ---- 3. Broker-side refusals ----

TEST_F(KbsIntegrationTest, PolicyDenialCarriesBrokerDetailAndIsNotRetried) {
  start();
  make_transport();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{kDiskKeyPath, {{"tees", {"tdx"}}}}}}});

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  auto key = client.get_resource(resource(kDiskKeyPath));
  expect_error(key.status(), ErrorCode::kPolicyDenied,
               {"denied by the broker policy", "PolicyDeny",
                std::string("TEE sample may not fetch resource ") + kDiskKeyPath},
               secret);
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 1);
  EXPECT_EQ(counter_->count_prefix("/kbs/v0/resource/"), 1);
}

TEST_F(KbsIntegrationTest, MissingResourceIsNotFound) {
  start();
  make_transport();
  set_policy({{"resources", {{"*", {{"tees", {"sample"}}}}}}});

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  auto key = client.get_resource(resource("default/fde/absent"));
  expect_error(key.status(), ErrorCode::kResourceNotFound,
               {"resource not found", "default/fde/absent", "not found"}, as_bytes("unused"));
  // devkbs answers 401 PluginInternalError, a verdict a new session would not change.
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 1);
  EXPECT_EQ(counter_->count("GET /kbs/v0/resource/default/fde/absent"), 1);
}

TEST_F(KbsIntegrationTest, TdxRtmrDisagreeingWithEventLogIsRefused) {
  start();
  make_transport();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", {{"tees", {"tdx"}}}}}}});

  SampleTdxProvider::Options bad;
  bad.corrupt_rtmr = 2;
  SampleTdxProvider provider(chain_, bad);
  kbs_client::TrusteeClient client(*counter_, provider, client_options(seconds(10)));
  auto key = client.get_resource(resource(kDiskKeyPath));
  expect_error(key.status(), ErrorCode::kAttestationRefused,
               {"POST " + base_url() + "/kbs/v0/attest", "AttestationError",
                "cc_eventlog replay does not match the quote's RTMRs", "RTMR2"},
               secret);
  EXPECT_FALSE(client.has_session());
  EXPECT_EQ(counter_->count_prefix("/kbs/v0/resource/"), 0);
}

TEST_F(KbsIntegrationTest, DebugTdIsDeniedByPolicy) {
  start();
  make_transport();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", tdx_reference_entry()}}}});

  SampleTdxProvider::Options debug;
  debug.td_attributes = 1;
  SampleTdxProvider provider(chain_, debug);
  kbs_client::TrusteeClient client(*counter_, provider, client_options(seconds(10)));
  auto key = client.get_resource(resource(kDiskKeyPath));
  expect_error(key.status(), ErrorCode::kPolicyDenied,
               {"PolicyDeny", "the tdx guest runs in debug mode"}, secret);
}

// A decorator that lets a test rewrite a request before it is sent or send it twice.
class TamperingTransport : public kbs_client::HttpTransport {
 public:
  TamperingTransport(kbs_client::HttpTransport& inner,
                     std::function<Result<kbs_client::HttpResponse>(kbs_client::HttpTransport&,
                                                                    const kbs_client::HttpRequest&)>
                         hook)
      : inner_(inner), hook_(std::move(hook)) {}
  Result<kbs_client::HttpResponse> send(const kbs_client::HttpRequest& request) override {
    return hook_(inner_, request);
  }

 private:
  kbs_client::HttpTransport& inner_;
  std::function<Result<kbs_client::HttpResponse>(kbs_client::HttpTransport&,
                                                 const kbs_client::HttpRequest&)>
      hook_;
};

bool is_attest(const kbs_client::HttpRequest& request) {
  return request.url.ends_with("/kbs/v0/attest");
}

TEST_F(KbsIntegrationTest, WrongNonceIsRefused) {
  start();
  make_transport();
  TamperingTransport tamper(
      *counter_, [](kbs_client::HttpTransport& inner, const kbs_client::HttpRequest& in) {
        if (!is_attest(in)) return inner.send(in);
        kbs_client::HttpRequest request = in;
        auto body = nlohmann::json::parse(request.body);
        body["runtime-data"]["nonce"] = "bm90IHRoZSBub25jZQ==";
        request.body = body.dump();
        return inner.send(request);
      });
  auto provider = sample_provider();
  kbs_client::TrusteeClient client(tamper, *provider, client_options(seconds(10)));
  expect_error(client.attest(), ErrorCode::kAttestationRefused,
               {"AttestationError", "nonce in the handshake session is different"},
               as_bytes("unused"));
}

TEST_F(KbsIntegrationTest, ReplayedNonceIsRefused) {
  start();
  make_transport();
  // The attestation is delivered twice (a replay of the same message in the same session): the
  // broker accepts the first and refuses the second, whose answer the client sees.
  TamperingTransport replay(
      *counter_, [](kbs_client::HttpTransport& inner, const kbs_client::HttpRequest& in) {
        if (!is_attest(in)) return inner.send(in);
        auto first = inner.send(in);
        EXPECT_TRUE(first.ok() && first->status == 200);
        return inner.send(in);
      });
  auto provider = sample_provider();
  kbs_client::TrusteeClient client(replay, *provider, client_options(seconds(10)));
  expect_error(client.attest(), ErrorCode::kAttestationRefused,
               {"AttestationError", "nonce of this"}, as_bytes("unused"));
  EXPECT_EQ(counter_->count("POST /kbs/v0/attest"), 2);
}

// ---- 4. Transport trust ----

TEST_F(KbsIntegrationTest, UntrustedCaIsTlsTrustFailure) {
  start();
  auto other = devkbs::ensure_tls_material(dir_.path() / "other-ca");
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  kbs_client::TransportOptions transport_options;
  transport_options.ca_file = other->ca_certificate;
  make_transport(transport_options);

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  const auto start_time = SteadyClock::now();
  expect_error(client.attest(), ErrorCode::kTlsTrustFailure,
               {"POST " + base_url() + "/kbs/v0/auth", "SSL certificate problem"},
               as_bytes("unused"));
  EXPECT_EQ(counter_->total(), 1);  // not transient: not retried
  EXPECT_LT(seconds_since(start_time), 2.0);
}

TEST_F(KbsIntegrationTest, HostNameMismatchIsTlsTrustFailure) {
  ASSERT_NO_FATAL_FAILURE(create_broker());
  const auto [certificate, key] =
      issue_server_certificate(tls_.ca_certificate, options_.state_dir / "ca-key.pem",
                               "other.invalid", dir_.path(), "other-invalid");
  devkbs::ServerOptions server_options;
  server_options.certificate = certificate;
  server_options.private_key = key;
  start(server_options);
  make_transport();  // trusts the devkbs CA that issued the other.invalid certificate

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  expect_error(client.attest(), ErrorCode::kTlsTrustFailure,
               {"POST " + base_url() + "/kbs/v0/auth",
                "no alternative certificate subject name matches target host name '127.0.0.1'"},
               as_bytes("unused"));
  EXPECT_EQ(counter_->total(), 1);
}

TEST_F(KbsIntegrationTest, PinMismatchAndCorrectPin) {
  start();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", {{"tees", {"sample"}}}}}}});
  auto provider = sample_provider();
  {
    kbs_client::TransportOptions transport_options;
    transport_options.pinned_public_keys = {spki_pin(tls_.ca_certificate)};  // not the server key
    make_transport(transport_options);
    kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
    auto key = client.get_resource(resource(kDiskKeyPath));
    expect_error(key.status(), ErrorCode::kPinMismatch,
                 {"POST " + base_url() + "/kbs/v0/auth", "pinned public key"}, secret);
    EXPECT_EQ(counter_->total(), 1);
  }
  {
    kbs_client::TransportOptions transport_options;
    transport_options.pinned_public_keys = {spki_pin(tls_.certificate)};
    make_transport(transport_options);
    kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
    auto key = client.get_resource(resource(kDiskKeyPath));
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_TRUE(key->equals(secret));
  }
}

// ---- 5. Availability ----

TEST_F(KbsIntegrationTest, BrokerDownThenUpWithinTheDeadline) {
  ASSERT_NO_FATAL_FAILURE(create_broker());
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", {{"tees", {"sample"}}}}}}});
  port_ = reserve_free_port();
  make_transport();

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(20)));
  const auto start_time = SteadyClock::now();
  auto pending =
      std::async(std::launch::async, [&] { return client.get_resource(resource(kDiskKeyPath)); });
  // The broker comes up only once the client has found nothing listening and is retrying within
  // its deadline: its second attempt has started, so the first was refused. Bounded, so that a
  // client that does not retry fails the test.
  const auto retried_until = SteadyClock::now() + seconds(10);
  while (counter_->count("POST /kbs/v0/auth") < 2 && SteadyClock::now() < retried_until) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_GE(counter_->count("POST /kbs/v0/auth"), 2) << "the client did not retry the broker";
  const double down_for = seconds_since(start_time);
  devkbs::ServerOptions server_options;
  server_options.port = port_;
  start(server_options);

  auto key = pending.get();
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(key->equals(secret));
  const double elapsed = seconds_since(start_time);
  EXPECT_GT(elapsed, down_for);
  EXPECT_LT(elapsed, down_for + 6.0);  // served by a retry soon after, not at the 20 s deadline
}

TEST_F(KbsIntegrationTest, BrokerNeverUpFailsAtTheDeadline) {
  ASSERT_NO_FATAL_FAILURE(create_broker());
  port_ = reserve_free_port();
  make_transport();

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(3)));
  const auto start_time = SteadyClock::now();
  const Status status = client.attest();
  const double elapsed = seconds_since(start_time);
  // The message names the real cause (nothing listening), not the last attempt cut short by the
  // deadline.
  expect_error(status, ErrorCode::kDeadlineExceeded,
               {"POST " + base_url() + "/kbs/v0/auth", "deadline exceeded after", "unreachable"},
               as_bytes("unused"));
  EXPECT_GE(elapsed, 2.9);
  EXPECT_LE(elapsed, 3.0 + 1.5);
  EXPECT_GE(counter_->total(), 2);  // retried while waiting
}

TEST_F(KbsIntegrationTest, SlowBrokerHitsTheDeadline) {
  devkbs::ServerOptions server_options;
  server_options.delay = seconds(3);
  start(server_options);
  make_transport();

  auto provider = sample_provider();
  kbs_client::TrusteeClientOptions options = client_options(milliseconds(2500));
  options.request_timeout = milliseconds(1000);
  kbs_client::TrusteeClient client(*counter_, *provider, options);
  const auto start_time = SteadyClock::now();
  const Status status = client.attest();
  const double elapsed = seconds_since(start_time);
  expect_error(
      status, ErrorCode::kDeadlineExceeded,
      {"POST " + base_url() + "/kbs/v0/auth", "deadline exceeded after", "the request deadline"},
      as_bytes("unused"));
  EXPECT_GE(elapsed, 2.4);
  EXPECT_LE(elapsed, 2.5 + 1.5);
  EXPECT_GE(counter_->total(), 2);  // the first 1 s request timed out and was retried
}

TEST_F(KbsIntegrationTest, ServiceUnavailableIsRetriedHonouringRetryAfter) {
  ASSERT_NO_FATAL_FAILURE(create_broker());
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", {{"tees", {"sample"}}}}}}});
  devkbs::ServerOptions server_options;
  server_options.fail_first = 2;
  start(server_options);
  make_transport();

  std::vector<milliseconds> sleeps;
  auto provider = sample_provider();
  kbs_client::TrusteeClientOptions options = client_options(seconds(10));
  options.sleep = [&sleeps](milliseconds delay) {
    sleeps.push_back(delay);
    std::this_thread::sleep_for(std::min(delay, milliseconds(20)));  // keep the suite fast
  };
  // The connection stays alive across the 503s (curl reuses it), as with a real broker.
  kbs_client::TrusteeClient client(*counter_, *provider, options);
  auto key = client.get_resource(resource(kDiskKeyPath));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(key->equals(secret));
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 3);
  ASSERT_EQ(sleeps.size(), 2u);
  for (const milliseconds delay : sleeps) EXPECT_GE(delay, seconds(1));  // Retry-After: 1
}

// ---- 6. Session expiry ----

TEST_F(KbsIntegrationTest, ExpiredSessionIsReattestedOnce) {
  options_.session_timeout = seconds(1);
  start();
  make_transport();
  const Bytes secret = random_secret();
  put_resource(kDiskKeyPath, secret);
  set_policy({{"resources", {{"*", {{"tees", {"sample"}}}}}}});

  auto provider = sample_provider();
  kbs_client::TrusteeClient client(*counter_, *provider, client_options(seconds(10)));
  ASSERT_TRUE(client.attest().ok());
  const std::string first_token = client.token();
  clock_offset_ += 5;  // the broker's clock: the session is now 5 s old
  auto key = client.get_resource(resource(kDiskKeyPath));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(key->equals(secret));
  EXPECT_EQ(counter_->count("POST /kbs/v0/auth"), 2);
  EXPECT_EQ(counter_->count("POST /kbs/v0/attest"), 2);
  EXPECT_EQ(counter_->count(std::string("GET /kbs/v0/resource/") + kDiskKeyPath), 2);
  EXPECT_NE(client.token(), first_token);
}

}  // namespace
}  // namespace ccfde::integration

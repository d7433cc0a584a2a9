// SPDX-License-Identifier: Apache-2.0
// Client-side checks against a rogue broker: an httplib::SSLServer on 127.0.0.1 with hand-written
// handlers and a test CA, answering what devkbs never would (other protocol versions, non-JSON,
// corrupted or truncated JWEs, oversized bodies, refusals).
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/rand.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "ccfde/common/encoding.h"
#include "ccfde/devkbs/server.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/trustee_client.h"
#include "ccfde/kbs-client/trustee_messages.h"
#include "ccfde/testing/testdata.h"
#include "integration_support.h"

namespace ccfde::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kResource[] = "default/fde/disk-key";

// The handlers of one endpoint: fill the response from the request.
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

class RogueBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tls = devkbs::ensure_tls_material(dir_.path() / "rogue");
    ASSERT_TRUE(tls.ok()) << tls.status().to_string();
    tls_ = *tls;
    secret_ = Bytes(32);
    ASSERT_EQ(RAND_bytes(secret_.data(), static_cast<int>(secret_.size())), 1);

    // Well-behaved defaults; each test replaces the handler it is about.
    auth_ = [](const httplib::Request&, httplib::Response& response) {
      response.set_header("Set-Cookie", "kbs-session-id=rogue0123; Path=/kbs/v0; HttpOnly");
      response.set_content(kbs_client::make_challenge({"cm9ndWUtbm9uY2U=", ""}),
                           "application/json");
    };
    attest_ = [this](const httplib::Request& request, httplib::Response& response) {
      auto parsed = kbs_client::parse_attestation_request(request.body);
      if (!parsed.ok()) {
        response.status = 400;
        return;
      }
      std::lock_guard lock(mutex_);
      tee_pubkey_ = parsed->tee_pubkey;
      response.set_content(R"({"token":"rogue.token.value"})", "application/json");
    };
    resource_ = [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(jwe().dump(), "application/json");
    };
  }

  void TearDown() override {
    // Close the client's kept-alive connections before stopping (see kbs_integration_test.cpp).
    counter_.reset();
    curl_.reset();
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  void start() {
    server_ =
        std::make_unique<httplib::SSLServer>(tls_.certificate.c_str(), tls_.private_key.c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Post("/kbs/v0/auth",
                  [this](const httplib::Request& q, httplib::Response& r) { auth_(q, r); });
    server_->Post("/kbs/v0/attest",
                  [this](const httplib::Request& q, httplib::Response& r) { attest_(q, r); });
    server_->Get("/kbs/v0/resource/.*",
                 [this](const httplib::Request& q, httplib::Response& r) { resource_(q, r); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // Bounded wait for the accept loop (stop() is a no-op before it runs).
    const auto running_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_->is_running() && std::chrono::steady_clock::now() < running_until) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    ASSERT_TRUE(server_->is_running()) << "the test broker did not start listening";

    kbs_client::TransportOptions options;
    options.ca_file = tls_.ca_certificate;
    options.connect_timeout = milliseconds(2000);
    options.max_response_size = kMaxResponse;
    auto transport = kbs_client::make_curl_transport(options);
    ASSERT_TRUE(transport.ok()) << transport.status().to_string();
    curl_ = std::move(*transport);
    counter_ = std::make_unique<CountingTransport>(*curl_);
    auto provider = kbs_client::make_evidence_provider(measure::TeeKind::kSample, nullptr);
    ASSERT_TRUE(provider.ok()) << provider.status().to_string();
    provider_ = std::move(*provider);
  }

  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  std::unique_ptr<kbs_client::TrusteeClient> client() {
    kbs_client::TrusteeClientOptions options;
    options.base_url = base_url();
    options.retry.initial_delay = milliseconds(50);
    options.retry.max_delay = milliseconds(200);
    options.request_timeout = milliseconds(3000);
    options.deadline = kbs_client::SteadyClock::now() + seconds(5);
    return std::make_unique<kbs_client::TrusteeClient>(*counter_, *provider_, options);
  }

  // The resource as a JWE encrypted to the key the client attested with.
  nlohmann::json jwe() {
    nlohmann::json key;
    {
      std::lock_guard lock(mutex_);
      key = tee_pubkey_;
    }
    auto encrypted = kbs_client::encrypt_jwe(secret_, key);
    EXPECT_TRUE(encrypted.ok()) << encrypted.status().to_string();
    return encrypted.ok() ? *encrypted : nlohmann::json::object();
  }

  void expect_failure(ErrorCode code, const std::vector<std::string>& parts) {
    auto key = client()->get_resource({"default", "fde", "disk-key"});
    ASSERT_FALSE(key.ok()) << "expected " << error_code_name(code);
    const Status status = key.status();
    EXPECT_EQ(status.code(), code) << status.to_string();
    for (const std::string& part : parts) {
      EXPECT_NE(status.message().find(part), std::string::npos)
          << "message: " << status.message() << "\nexpected to contain: " << part;
    }
    expect_no_secret(status.to_string(), secret_);
  }

  static constexpr std::size_t kMaxResponse = 64 * 1024;

  testing::TempDir dir_;
  devkbs::TlsMaterial tls_;
  Bytes secret_;
  Handler auth_, attest_, resource_;
  std::mutex mutex_;
  nlohmann::json tee_pubkey_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::unique_ptr<kbs_client::HttpTransport> curl_;
  std::unique_ptr<CountingTransport> counter_;
  std::unique_ptr<kbs_client::EvidenceProvider> provider_;
};

TEST_F(RogueBrokerTest, WellBehavedRogueServesTheResource) {
  start();
  auto key = client()->get_resource({"default", "fde", "disk-key"});
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(key->equals(secret_));
}

TEST_F(RogueBrokerTest, VersionMismatchOnAuth) {
  auth_ = [](const httplib::Request&, httplib::Response& response) {
    response.status = 401;
    // Trustee's answer to a Request of another version
    // (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.4).
    response.set_content(
        R"({"type":"https://github.com/confidential-containers/kbs/errors/AttestationError",)"
        R"("detail":"Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version )"
        R"(Mismatch: expect =0.5.0 while the request is 0.4.0"})",
        "application/json");
  };
  start();
  expect_failure(ErrorCode::kProtocolVersionMismatch,
                 {"POST " + base_url() + "/kbs/v0/auth", "0.4.0",
                  "KBS Client Protocol Version Mismatch: expect =0.5.0"});
  EXPECT_EQ(counter_->total(), 1);
}

TEST_F(RogueBrokerTest, NonJsonChallengeIsMalformed) {
  auth_ = [](const httplib::Request&, httplib::Response& response) {
    response.set_header("Set-Cookie", "kbs-session-id=rogue0123");
    response.set_content("<html>welcome to the captive portal</html>", "text/html");
  };
  start();
  expect_failure(ErrorCode::kMalformedResponse,
                 {"POST " + base_url() + "/kbs/v0/auth", "challenge", "not valid JSON"});
  EXPECT_EQ(counter_->count("POST /kbs/v0/attest"), 0);
}

TEST_F(RogueBrokerTest, CorruptedJweTagIsDecryptionFailure) {
  resource_ = [this](const httplib::Request&, httplib::Response& response) {
    nlohmann::json body = jwe();
    auto tag = base64url_decode(body.value("tag", ""));
    ASSERT_TRUE(tag.ok() && !tag->empty());
    (*tag)[0] ^= 0x01;
    body["tag"] = base64url_encode(*tag);
    response.set_content(body.dump(), "application/json");
  };
  start();
  expect_failure(
      ErrorCode::kDecryptionFailed,
      {std::string("GET ") + base_url() + "/kbs/v0/resource/" + kResource, "tag mismatch"});
}

TEST_F(RogueBrokerTest, TruncatedJweIsMalformed) {
  resource_ = [this](const httplib::Request&, httplib::Response& response) {
    const std::string body = jwe().dump();
    response.set_content(body.substr(0, body.size() / 2), "application/json");
  };
  start();
  expect_failure(ErrorCode::kMalformedResponse,
                 {std::string("GET ") + base_url() + "/kbs/v0/resource/" + kResource,
                  "not a JWE JSON object"});
}

TEST_F(RogueBrokerTest, OversizedBodyIsMalformed) {
  resource_ = [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(kMaxResponse * 3, 'A'), "application/json");
  };
  start();
  expect_failure(ErrorCode::kMalformedResponse,
                 {std::string("GET ") + base_url() + "/kbs/v0/resource/" + kResource,
                  "exceeds the cap of 65536 bytes"});
  EXPECT_EQ(counter_->count_prefix("/kbs/v0/resource/"), 1);  // not retried
}

TEST_F(RogueBrokerTest, AttestationErrorIsRefused) {
  attest_ = [](const httplib::Request&, httplib::Response& response) {
    response.status = 401;
    response.set_content(
        kbs_client::make_error_information(
            "AttestationError", "Attestation error: the rogue verifier refuses this evidence"),
        "application/json");
  };
  start();
  expect_failure(ErrorCode::kAttestationRefused,
                 {"POST " + base_url() + "/kbs/v0/attest", "AttestationError",
                  "the rogue verifier refuses this evidence"});
  EXPECT_EQ(counter_->count_prefix("/kbs/v0/resource/"), 0);
}

}  // namespace
}  // namespace ccfde::integration

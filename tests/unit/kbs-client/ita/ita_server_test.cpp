// SPDX-License-Identifier: Apache-2.0
// A round trip through the libcurl transport to a small HTTPS server (cpp-httplib) that speaks
// the ITA KBS key transfer: it issues a nonce, checks the request members, the nonce and the
// report-data binding (the test "quote" is the 64-byte report data itself), then wraps a fresh
// SWK to the client's user_data key and a secret under the SWK.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/sha.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "ccfde/kbs-client/ita_client.h"
#include "ccfde/testing/test_pki.h"
#include "ccfde/testing/testdata.h"
#include "ita_test_util.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kKeyId = "0b0a3f63-1c7e-4a5b-9d6e-2f4c8a1b7e90";

// subjectAltName: IP 127.0.0.1, DNS localhost.
const std::vector<std::uint8_t> kSanDer = {0x30, 0x11, 0x87, 0x04, 0x7f, 0x00, 0x00,
                                           0x01, 0x82, 0x09, 'l',  'o',  'c',  'a',
                                           'l',  'h',  'o',  's',  't'};

struct TestPki {
  EvpPkeyPtr root_key;
  X509Ptr root;
  EvpPkeyPtr server_key;
  X509Ptr server;
};

TestPki make_pki() {
  using std::chrono::hours;
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  TestPki pki;
  pki.root_key = ccfde::testing::generate_ec_key();
  pki.root =
      ccfde::testing::issue_certificate({"ITA test root", now - hours(1), now + hours(24), true},
                                        pki.root_key.get(), nullptr, nullptr);
  pki.server_key = ccfde::testing::generate_ec_key();
  pki.server = ccfde::testing::issue_certificate(
      {"127.0.0.1", now - hours(1), now + hours(24), false, {{"2.5.29.17", kSanDer}}},
      pki.server_key.get(), pki.root_key.get(), pki.root.get());
  return pki;
}

std::string error_body(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump();
}

class ItaTestServer {
 public:
  enum class Policy { kAllow, kDeny };

  ItaTestServer(X509* certificate, EVP_PKEY* key) : server_(certificate, key) {
    server_.Post(R"(/kbs/v1/keys/([^/]+)/transfer)",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   std::lock_guard lock(mutex_);
                   handle(request, response);
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Bounded wait for the accept loop (stop() is a no-op before it runs); a server that never
    // runs fails the test through running().
    const auto running_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < running_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  bool running() const { return server_.is_running(); }
  ~ItaTestServer() {
    server_.stop();
    thread_.join();
  }
  ItaTestServer(const ItaTestServer&) = delete;
  ItaTestServer& operator=(const ItaTestServer&) = delete;

  std::string base_url() const { return fmt::format("https://127.0.0.1:{}", port_); }
  void set_policy(Policy policy) {
    std::lock_guard lock(mutex_);
    policy_ = policy;
  }
  Bytes secret() const { return secret_; }
  std::optional<nlohmann::json> last_transfer_request() {
    std::lock_guard lock(mutex_);
    return last_transfer_request_;
  }
  int nonces_issued() {
    std::lock_guard lock(mutex_);
    return nonces_issued_;
  }

 private:
  void handle(const httplib::Request& request, httplib::Response& response) {
    auto fail = [&](int status, std::string_view message) {
      response.status = status;
      response.set_content(error_body(message), "application/json");
    };
    if (request.get_header_value("Accept") != "application/json") {
      return fail(415, "Invalid Accept type");
    }
    if (request.matches[1].str() != kKeyId)
      return fail(404, "Key with specified id does not exist");
    const std::string type = request.get_header_value("Attestation-Type");
    if (type.empty()) {
      if (!request.body.empty()) return fail(400, "passport mode is not served here");
      nonce_ = {testing::random_bytes(64), Bytes{'2', '0', '2', '6'}, testing::random_bytes(32)};
      ++nonces_issued_;
      response.set_header("Attestation-Type", "TDX");
      response.set_content(nlohmann::json{{"val", base64_encode(nonce_.val)},
                                          {"iat", base64_encode(nonce_.iat)},
                                          {"signature", base64_encode(nonce_.signature)}}
                               .dump(),
                           "application/json");
      return;
    }
    if (type != "TDX") return fail(401, "attestation-type does not match key-transfer policy");
    if (request.get_header_value("Content-Type") != "application/json") {
      return fail(415, "Invalid Content-Type");
    }
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object()) return fail(400, "Failed to decode json request body");
    const std::set<std::string> allowed = {"quote", "nonce", "user_data", "event_log"};
    for (const auto& [name, value] : body.items()) {
      if (allowed.count(name) == 0 || !(value.is_string() || name == "nonce")) {
        return fail(400, "Failed to decode json request body");
      }
    }
    last_transfer_request_ = body;
    if (!body.contains("quote") || !body.contains("user_data") || !body.contains("nonce")) {
      return fail(400, "missing members");
    }
    const nlohmann::json expected_nonce = {{"val", base64_encode(nonce_.val)},
                                           {"iat", base64_encode(nonce_.iat)},
                                           {"signature", base64_encode(nonce_.signature)}};
    if (body.at("nonce") != expected_nonce)
      return fail(401, "Failed to authenticate attestation-token");
    const auto user_data = base64_decode(body.at("user_data").get<std::string>());
    const auto quote = base64_decode(body.at("quote").get<std::string>());
    if (!user_data.ok() || !quote.ok() || user_data->size() <= 4 + 256) {
      return fail(400, "bad user_data");
    }
    Bytes hashed = nonce_.val;
    hashed.insert(hashed.end(), nonce_.iat.begin(), nonce_.iat.end());
    hashed.insert(hashed.end(), user_data->begin(), user_data->end());
    Bytes report_data(SHA512_DIGEST_LENGTH);
    SHA512(hashed.data(), hashed.size(), report_data.data());
    if (*quote != report_data) return fail(401, "Failed to authenticate attestation-token");
    nonce_ = {};  // single use
    if (policy_ == Policy::kDeny) {
      return fail(401, "Token claims validation against key-transfer-policy failed");
    }
    auto public_key = testing::public_key_from_user_data(*user_data);
    const Bytes swk = testing::random_bytes(32);
    response.set_content(
        nlohmann::json{
            {"wrapped_key",
             base64_encode(testing::seal_wrapped_key(swk, testing::random_bytes(12), secret_))},
            {"wrapped_swk", base64_encode(testing::rsa_oaep_sha256_encrypt(public_key.get(), swk))}}
            .dump(),
        "application/json");
  }

  struct Nonce {
    Bytes val, iat, signature;
  };

  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  Policy policy_ = Policy::kAllow;
  const Bytes secret_ = testing::random_bytes(32);
  Nonce nonce_;
  int nonces_issued_ = 0;
  std::optional<nlohmann::json> last_transfer_request_;
};

class ItaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = make_pki();
    ca_path_ = temp_.path() / "ca.pem";
    std::ofstream(ca_path_) << ccfde::testing::certificate_pem(pki_.root.get());
    server_ = std::make_unique<ItaTestServer>(pki_.server.get(), pki_.server_key.get());
    ASSERT_TRUE(server_->running()) << "the test ITA server did not start listening";
  }

  Result<SecretBytes> transfer(std::string_view key_id, const std::filesystem::path& ca) {
    TransportOptions transport_options;
    transport_options.ca_file = ca;
    auto transport = make_curl_transport(transport_options);
    if (!transport.ok()) return transport.status();
    ItaClientOptions options;
    options.base_url = server_->base_url();
    options.deadline = SteadyClock::now() + std::chrono::seconds(30);
    ItaKbsClient client(
        **transport,
        [](std::span<const std::uint8_t> report_data) -> Result<ItaEvidence> {
          return ItaEvidence{Bytes(report_data.begin(), report_data.end()), Bytes{1, 2, 3}};
        },
        options);
    return client.transfer_key(key_id);
  }

  ccfde::testing::TempDir temp_;
  TestPki pki_;
  std::filesystem::path ca_path_;
  std::unique_ptr<ItaTestServer> server_;
};

TEST_F(ItaServerTest, RoundTripOverHttps) {
  auto secret = transfer(kKeyId, ca_path_);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_TRUE(secret->equals(server_->secret()));
  EXPECT_EQ(server_->nonces_issued(), 1);
  const auto request = server_->last_transfer_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->at("event_log"), "AQID");
  EXPECT_EQ(base64_decode(request->at("user_data").get<std::string>())->size(), 388u);

  // A second transfer uses a new nonce and a new key.
  auto again = transfer(kKeyId, ca_path_);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->equals(server_->secret()));
  EXPECT_EQ(server_->nonces_issued(), 2);
  EXPECT_NE(server_->last_transfer_request()->at("user_data"), request->at("user_data"));
}

TEST_F(ItaServerTest, PolicyDenialAndUnknownKeyOverHttps) {
  server_->set_policy(ItaTestServer::Policy::kDeny);
  auto denied = transfer(kKeyId, ca_path_);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), ErrorCode::kPolicyDenied) << denied.status().to_string();
  EXPECT_THAT(denied.status().message(),
              HasSubstr("HTTP 401: Token claims validation against key-transfer-policy failed"));

  auto missing = transfer("11111111-2222-4333-8444-555555555555", ca_path_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kResourceNotFound) << missing.status().to_string();
  EXPECT_THAT(missing.status().message(), HasSubstr("Key with specified id does not exist"));
}

TEST_F(ItaServerTest, UntrustedServerCertificateIsRefused) {
  const TestPki other = make_pki();
  const auto other_ca = temp_.path() / "other-ca.pem";
  std::ofstream(other_ca) << ccfde::testing::certificate_pem(other.root.get());
  auto secret = transfer(kKeyId, other_ca);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kTlsTrustFailure) << secret.status().to_string();
  EXPECT_EQ(server_->nonces_issued(), 0);
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// ItaKbsClient over a scripted HttpTransport: the exact requests, the constructed vector end to
// end, and the error paths.
#include "ccfde/kbs-client/ita_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "ita_test_util.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::ElementsAre;
using testing::from_hex;
using ::testing::HasSubstr;

constexpr std::string_view kKeyId = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
constexpr std::string_view kUrl =
    "https://kbs.example:9443/kbs/v1/keys/3fa85f64-5717-4562-b3fc-2c963f66afa6/transfer";
constexpr std::string_view kReportDataHex =
    "a76fcf6aa53fc1f89ec18bf5932822d3992243af99f2a0e4914c5d59cbfa0eb4"
    "def7f269dc2332c9245d0a12747994e59783620a90477992984f0db9b6821109";
constexpr std::string_view kSecretHex =
    "38819ada2959a17ed59e039419164d0e0fce5a3203de1875a8265edf32c55ff7";
constexpr std::string_view kSignature = "c2lnbmF0dXJl";  // "signature"

::testing::Matcher<const HttpHeader&> Header(std::string name, std::string value) {
  return ::testing::AllOf(::testing::Field("name", &HttpHeader::name, name),
                          ::testing::Field("value", &HttpHeader::value, value));
}

class FakeTransport : public HttpTransport {
 public:
  Result<HttpResponse> send(const HttpRequest& request) override {
    requests.push_back(request);
    if (responses.empty()) return make_error(ErrorCode::kInternal, "unscripted request");
    auto next = std::move(responses.front());
    responses.pop_front();
    return next;
  }
  void reply(long status, std::string body, std::vector<HttpHeader> headers = {}) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    responses.emplace_back(std::move(response));
  }
  std::vector<HttpRequest> requests;
  std::deque<Result<HttpResponse>> responses;
};

class ItaClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = testing::load_ita_vector();
    ASSERT_TRUE(loaded) << "constructed/kbs-constructed-vectors.json absent";
    vector_ = *loaded;
    const auto& nonce = vector_.at("verifier_nonce");
    nonce_body_ = nlohmann::json{
        {"val", nonce.at("val")},
        {"iat", nonce.at("iat")},
        {"signature",
         kSignature}}.dump();
    transfer_body_ = vector_.at("response").dump();
    options_.base_url = "https://kbs.example:9443/";
    options_.key_factory = [this] {
      return ItaKey::from_private_pem(vector_.at("rsa_private_key_pem_pkcs1").get<std::string>());
    };
  }

  ItaKbsClient client() {
    return ItaKbsClient(
        transport_,
        [this](std::span<const std::uint8_t> report_data) -> Result<ItaEvidence> {
          seen_report_data_.assign(report_data.begin(), report_data.end());
          if (!evidence_status_.ok()) return evidence_status_;
          return ItaEvidence{Bytes{0x51, 0x55, 0x4f}, event_log_};
        },
        options_);
  }

  void script_success() {
    transport_.reply(200, nonce_body_, {{"Attestation-Type", "TDX"}});
    transport_.reply(200, transfer_body_);
  }

  nlohmann::json vector_;
  std::string nonce_body_;
  std::string transfer_body_;
  ItaClientOptions options_;
  FakeTransport transport_;
  Bytes seen_report_data_;
  Status evidence_status_;
  std::optional<Bytes> event_log_ = Bytes{0xcc, 0xe1};
};

TEST_F(ItaClientTest, ConstructedVectorEndToEnd) {
  script_success();
  auto secret = client().transfer_key(kKeyId);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_TRUE(secret->equals(from_hex(kSecretHex)));
  EXPECT_EQ(hex_encode(seen_report_data_), kReportDataHex);

  ASSERT_EQ(transport_.requests.size(), 2u);
  const HttpRequest& first = transport_.requests[0];
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.url, kUrl);
  EXPECT_EQ(first.body, "");
  EXPECT_THAT(first.headers, ElementsAre(Header("Accept", "application/json")));

  const HttpRequest& second = transport_.requests[1];
  EXPECT_EQ(second.method, "POST");
  EXPECT_EQ(second.url, kUrl);
  EXPECT_THAT(second.headers, ElementsAre(Header("Accept", "application/json"),
                                          Header("Content-Type", "application/json"),
                                          Header("Attestation-Type", "TDX")));
  const nlohmann::json expected = {
      {"quote", "UVVP"},
      {"nonce",
       {{"val", vector_.at("verifier_nonce").at("val")},
        {"iat", vector_.at("verifier_nonce").at("iat")},
        {"signature", kSignature}}},
      {"user_data", vector_.at("user_data_b64")},
      {"event_log", "zOE="},
  };
  EXPECT_EQ(nlohmann::json::parse(second.body), expected);
}

TEST_F(ItaClientTest, OmitsEventLogWhenAbsentAndAcceptsMissingTypeHeader) {
  event_log_.reset();
  transport_.reply(200, nonce_body_);
  transport_.reply(200, transfer_body_);
  auto secret = client().transfer_key(kKeyId);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  ASSERT_EQ(transport_.requests.size(), 2u);
  const auto body = nlohmann::json::parse(transport_.requests[1].body);
  EXPECT_FALSE(body.contains("event_log"));
  EXPECT_EQ(body.size(), 3u);
}

TEST_F(ItaClientTest, RequestDeadlineIsCappedByTimeoutAndOverallDeadline) {
  options_.request_timeout = std::chrono::milliseconds(1000);
  options_.deadline = SteadyClock::now() + std::chrono::hours(1);
  script_success();
  const auto before = SteadyClock::now();
  ASSERT_TRUE(client().transfer_key(kKeyId).ok());
  for (const auto& request : transport_.requests) {
    EXPECT_GT(request.deadline, before);
    EXPECT_LE(request.deadline, SteadyClock::now() + std::chrono::milliseconds(1000));
  }

  transport_.requests.clear();
  options_.request_timeout = std::chrono::hours(2);
  options_.deadline = SteadyClock::now() + std::chrono::minutes(5);
  script_success();
  ASSERT_TRUE(client().transfer_key(kKeyId).ok());
  for (const auto& request : transport_.requests) EXPECT_EQ(request.deadline, options_.deadline);
}

TEST_F(ItaClientTest, PastDeadlineSendsNothing) {
  options_.deadline = SteadyClock::now() - std::chrono::seconds(1);
  script_success();
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(ItaClientTest, RejectsKeyIdsThatAreNotUuids) {
  for (std::string_view id :
       {"", "key", "3fa85f64-5717-4562-b3fc-2c963f66afa", "../../admin",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6/x", "3fa85f64x5717-4562-b3fc-2c963f66afa6"}) {
    auto secret = client().transfer_key(id);
    ASSERT_FALSE(secret.ok());
    EXPECT_EQ(secret.status().code(), ErrorCode::kInvalidArgument) << id;
  }
  EXPECT_TRUE(transport_.requests.empty());
}

struct HttpErrorCase {
  int step;  // which request fails
  long status;
  std::string body;
  ErrorCode code;
  std::string text;
};

void PrintTo(const HttpErrorCase& c, std::ostream* os) {
  *os << "step " << c.step << " HTTP " << c.status;
}

class ItaClientHttpErrorTest : public ItaClientTest,
                               public ::testing::WithParamInterface<HttpErrorCase> {};

TEST_P(ItaClientHttpErrorTest, MapsBrokerErrors) {
  const auto& c = GetParam();
  if (c.step == 1) {
    transport_.reply(c.status, c.body);
  } else {
    transport_.reply(200, nonce_body_, {{"Attestation-Type", "TDX"}});
    transport_.reply(c.status, c.body);
  }
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), c.code) << secret.status().to_string();
  EXPECT_THAT(secret.status().message(), HasSubstr(c.text));
  EXPECT_EQ(transport_.requests.size(), static_cast<std::size_t>(c.step));
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, ItaClientHttpErrorTest,
    ::testing::Values(
        HttpErrorCase{1, 404, R"({"error":"Key with specified id does not exist"})",
                      ErrorCode::kResourceNotFound,
                      "nonce request: HTTP 404: Key with specified id does not exist"},
        HttpErrorCase{1, 502, R"({"error":"Error retrieving nonce from appraisal service"})",
                      ErrorCode::kUnreachable, "HTTP 502: Error retrieving nonce"},
        HttpErrorCase{1, 415, R"({"error":"Invalid Accept type"})", ErrorCode::kInvalidArgument,
                      "HTTP 415"},
        HttpErrorCase{2, 401, R"({"error":"Failed to authenticate attestation-token"})",
                      ErrorCode::kAttestationRefused,
                      "key transfer: HTTP 401: Failed to authenticate attestation-token"},
        HttpErrorCase{2, 401,
                      R"({"error":"Token claims validation against key-transfer-policy failed"})",
                      ErrorCode::kPolicyDenied, "key-transfer-policy failed"},
        HttpErrorCase{2, 404, R"({"error":"Key with specified id does not exist"})",
                      ErrorCode::kResourceNotFound, "HTTP 404"},
        HttpErrorCase{2, 500, "<html>oops</html>", ErrorCode::kUnreachable,
                      "HTTP 500: <html>oops</html>"},
        HttpErrorCase{2, 400, R"({"error":"Failed to decode json request body"})",
                      ErrorCode::kInvalidArgument, "decode json"}),
    // Stable names (step and status), so ctest's discovered names do not depend on memory bytes.
    [](const ::testing::TestParamInfo<HttpErrorCase>& param_info) {
      return "Step" + std::to_string(param_info.param.step) + "Http" +
             std::to_string(param_info.param.status) + "Case" + std::to_string(param_info.index);
    });

TEST_F(ItaClientTest, MalformedBrokerBodies) {
  transport_.reply(200, "not json");
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(secret.status().message(), HasSubstr("ITA KBS nonce request: ITA nonce response"));

  transport_.reply(200, R"({"val":"AAAA","iat":"AAAA"})");
  secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_THAT(secret.status().message(), HasSubstr("member \"signature\" is missing"));

  transport_.reply(200, nonce_body_);
  transport_.reply(200, R"({"wrapped_key":"AAAA"})");
  secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(secret.status().message(), HasSubstr("member \"wrapped_swk\" is missing"));
}

TEST_F(ItaClientTest, CorruptedWrappedKeyFailsDecryption) {
  auto response = vector_.at("response");
  auto wrapped = *base64_decode(response.at("wrapped_key").get<std::string>());
  wrapped.back() ^= 0x40;
  response["wrapped_key"] = base64_encode(wrapped);
  transport_.reply(200, nonce_body_);
  transport_.reply(200, response.dump());
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDecryptionFailed);
  EXPECT_THAT(secret.status().message(), HasSubstr(kKeyId));
}

TEST_F(ItaClientTest, FreshKeyCannotOpenTheVectorResponse) {
  options_.key_factory = nullptr;  // a generated key, not the one the vector was wrapped to
  script_success();
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDecryptionFailed);
  // The generated key went out as user_data.
  const auto body = nlohmann::json::parse(transport_.requests.at(1).body);
  EXPECT_NE(body.at("user_data"), vector_.at("user_data_b64"));
  EXPECT_EQ(base64_decode(body.at("user_data").get<std::string>())->size(), 388u);
}

TEST_F(ItaClientTest, OtherAttestationTypeIsRefusedBeforeQuoting) {
  transport_.reply(200, nonce_body_, {{"attestation-type", "SGX"}});
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_THAT(secret.status().message(), HasSubstr("\"SGX\""));
  EXPECT_TRUE(seen_report_data_.empty());
  EXPECT_EQ(transport_.requests.size(), 1u);
}

TEST_F(ItaClientTest, EvidenceAndTransportErrorsPropagate) {
  evidence_status_ = make_error(ErrorCode::kDeviceError, "configfs-tsm refused");
  transport_.reply(200, nonce_body_);
  auto secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kDeviceError);
  EXPECT_THAT(secret.status().message(), HasSubstr("ITA evidence: configfs-tsm refused"));
  EXPECT_EQ(transport_.requests.size(), 1u);

  evidence_status_ = Status();
  transport_.requests.clear();
  transport_.responses.emplace_back(make_error(ErrorCode::kTlsTrustFailure, "bad cert"));
  secret = client().transfer_key(kKeyId);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), ErrorCode::kTlsTrustFailure);
  EXPECT_THAT(secret.status().message(), HasSubstr("ITA KBS nonce request: bad cert"));
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/failover_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>

namespace ccfde::kbs_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kA = "https://a.test:8080";
constexpr const char* kB = "https://b.test:8080";
constexpr const char* kC = "https://c.test";

// Answers per base address: an HTTP status, or a transport error; records every URL sent.
class FakeNetwork final : public HttpTransport {
 public:
  Result<HttpResponse> send(const HttpRequest& request) override {
    sent.push_back(request.url);
    for (const auto& [base, answer] : answers) {
      if (request.url.rfind(base, 0) == 0) return answer(request);
    }
    return make_error(ErrorCode::kInternal, "no answer scripted for {}", request.url);
  }

  void answer(const std::string& base, long status) {
    answers[base] = [status](const HttpRequest&) -> Result<HttpResponse> {
      HttpResponse response;
      response.status = status;
      response.body = "body";
      return response;
    };
  }
  void fail(const std::string& base, ErrorCode code, std::string message) {
    answers[base] = [code, message](const HttpRequest& r) -> Result<HttpResponse> {
      return make_error(code, "{} {}: {}", r.method, r.url, message);
    };
  }

  std::map<std::string, std::function<Result<HttpResponse>(const HttpRequest&)>> answers;
  std::vector<std::string> sent;
};

class FailoverTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpTransport> make(std::vector<std::string> bases) {
    addresses_ = std::make_shared<BrokerAddresses>(std::move(bases));
    auto inner = std::make_unique<FakeNetwork>();
    network_ = inner.get();
    return make_failover_transport(std::move(inner), addresses_);
  }

  static HttpRequest get(std::string path) {
    HttpRequest request;
    request.method = "GET";
    request.url = std::string(kA) + path;
    request.deadline = SteadyClock::now() + std::chrono::seconds(30);
    return request;
  }

  std::shared_ptr<BrokerAddresses> addresses_;
  FakeNetwork* network_ = nullptr;
};

TEST_F(FailoverTransportTest, AnUnreachableFirstAddressMovesToTheSecondAndIsRemembered) {
  auto transport = make({kA, kB});
  network_->fail(kA, ErrorCode::kUnreachable, "Couldn't connect to server");
  network_->answer(kB, 200);
  auto response = transport->send(get("/kbs/v0/auth"));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(network_->sent,
              ElementsAre(std::string(kA) + "/kbs/v0/auth", std::string(kB) + "/kbs/v0/auth"));
  EXPECT_EQ(addresses_->preferred(), 1u);
  const auto notes = addresses_->take_notes();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], HasSubstr(std::string(kA) + " is unreachable"));
  EXPECT_THAT(notes[0], HasSubstr("Couldn't connect to server"));
  EXPECT_THAT(notes[1], HasSubstr(std::string(kB) + " answered"));
  EXPECT_TRUE(addresses_->take_notes().empty());

  // The next request (and any other transport sharing the memory) goes straight to the second.
  network_->sent.clear();
  ASSERT_TRUE(transport->send(get("/kbs/v0/resource/default/fde/k")).ok());
  EXPECT_THAT(network_->sent, ElementsAre(std::string(kB) + "/kbs/v0/resource/default/fde/k"));
  auto inner = std::make_unique<FakeNetwork>();
  FakeNetwork* other_network = inner.get();
  other_network->answer(kB, 200);
  auto other = make_failover_transport(std::move(inner), addresses_);
  ASSERT_TRUE(other->send(get("/x")).ok());
  EXPECT_THAT(other_network->sent, ElementsAre(std::string(kB) + "/x"));
  EXPECT_TRUE(addresses_->take_notes().empty());
}

TEST_F(FailoverTransportTest, ABrokerVerdictIsNeverTakenToAnotherAddress) {
  for (long status : {401L, 404L, 500L, 503L}) {
    auto transport = make({kA, kB});
    network_->answer(kA, status);
    network_->answer(kB, 200);
    auto response = transport->send(get("/kbs/v0/resource/default/fde/k"));
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, status);
    EXPECT_THAT(network_->sent, ElementsAre(std::string(kA) + "/kbs/v0/resource/default/fde/k"))
        << status;
    EXPECT_EQ(addresses_->preferred(), 0u);
  }
}

TEST_F(FailoverTransportTest, TrustAndDeadlineFailuresAreNotRoutedAround) {
  for (ErrorCode code : {ErrorCode::kTlsTrustFailure, ErrorCode::kPinMismatch,
                         ErrorCode::kDeadlineExceeded, ErrorCode::kMalformedResponse}) {
    auto transport = make({kA, kB});
    network_->fail(kA, code, "refused");
    network_->answer(kB, 200);
    auto response = transport->send(get("/kbs/v0/auth"));
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), code);
    EXPECT_THAT(network_->sent, ElementsAre(std::string(kA) + "/kbs/v0/auth"));
  }
}

TEST_F(FailoverTransportTest, EveryAddressUnreachableNamesThemAll) {
  auto transport = make({kA, kB, kC});
  network_->fail(kA, ErrorCode::kUnreachable, "connection refused");
  network_->fail(kB, ErrorCode::kUnreachable, "no connection within the connect timeout");
  network_->fail(kC, ErrorCode::kUnreachable, "Could not resolve host");
  auto response = transport->send(get("/kbs/v0/auth"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kUnreachable);
  const std::string message = response.status().message();
  EXPECT_THAT(message, HasSubstr("no broker address answered"));
  EXPECT_THAT(message, HasSubstr("connection refused"));
  EXPECT_THAT(message, HasSubstr("connect timeout"));
  EXPECT_THAT(message, HasSubstr("Could not resolve host"));
  EXPECT_EQ(network_->sent.size(), 3u);
  EXPECT_EQ(addresses_->preferred(), 0u);
}

TEST_F(FailoverTransportTest, ARememberedAddressThatDiesFallsBackToTheOthersInOrder) {
  auto transport = make({kA, kB, kC});
  addresses_->answered(1);
  network_->fail(kB, ErrorCode::kUnreachable, "connection reset");
  network_->fail(kC, ErrorCode::kUnreachable, "connection refused");
  network_->answer(kA, 200);
  ASSERT_TRUE(transport->send(get("/p")).ok());
  EXPECT_THAT(network_->sent,
              ElementsAre(std::string(kB) + "/p", std::string(kC) + "/p", std::string(kA) + "/p"));
  EXPECT_EQ(addresses_->preferred(), 0u);
}

TEST_F(FailoverTransportTest, NoAddressIsTriedOnceTheDeadlinePassed) {
  auto transport = make({kA, kB});
  network_->fail(kA, ErrorCode::kUnreachable, "connection refused");
  network_->answer(kB, 200);
  HttpRequest request = get("/p");
  request.deadline = SteadyClock::now();
  auto response = transport->send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kUnreachable);
  EXPECT_THAT(network_->sent, ElementsAre(std::string(kA) + "/p"));
  EXPECT_THAT(response.status().message(),
              HasSubstr(std::string(kB) + ": not tried before the deadline"));
}

TEST_F(FailoverTransportTest, OneAddressAndOtherUrlsPassThrough) {
  auto single = make({kA});
  network_->fail(kA, ErrorCode::kUnreachable, "connection refused");
  auto failed = single->send(get("/p"));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), Not(HasSubstr("no broker address answered")));

  auto transport = make({kA, kB});
  network_->answer("https://elsewhere.test", 200);
  network_->answer(kB, 200);
  HttpRequest request = get("");
  request.url = "https://elsewhere.test/p";
  ASSERT_TRUE(transport->send(request).ok());
  // A host that merely starts like the first address is not it.
  request.url = std::string(kA) + "0/p";
  network_->answer(std::string(kA) + "0", 200);
  ASSERT_TRUE(transport->send(request).ok());
  EXPECT_THAT(network_->sent, ElementsAre("https://elsewhere.test/p", std::string(kA) + "0/p"));
}

}  // namespace
}  // namespace ccfde::kbs_client

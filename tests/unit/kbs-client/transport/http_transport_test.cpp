// SPDX-License-Identifier: Apache-2.0
// The libcurl transport against real servers on 127.0.0.1 started by each test.
#include "ccfde/kbs-client/http_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <thread>

#include "ccfde/testing/testdata.h"
#include "https_test_server.h"

namespace ccfde::kbs_client {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testing::Identity;
using testing::TestServer;

Deadline in(milliseconds duration) {
  return SteadyClock::now() + duration;
}

HttpRequest get(const std::string& url, milliseconds timeout = milliseconds(10000)) {
  return {"GET", url, {}, "", in(timeout)};
}

// A CA, a server certificate for 127.0.0.1 and localhost, and the CA as a PEM file.
class TransportTest : public ::testing::Test {
 protected:
  TransportTest()
      : ca_(testing::make_ca("transport test CA")),
        server_identity_(
            testing::issue_leaf(ca_, "kbs.test", {"127.0.0.1"}, {"localhost", "kbs.test"})),
        ca_file_(temp_.path() / "ca.pem") {
    testing::write_certificate_pem(ca_file_, ca_.certificate.get());
  }

  std::unique_ptr<HttpTransport> transport(TransportOptions options) {
    auto made = make_curl_transport(options);
    EXPECT_TRUE(made.ok()) << made.status().to_string();
    return made.ok() ? std::move(*made) : nullptr;
  }

  TransportOptions trusted_options() const {
    TransportOptions options;
    options.ca_file = ca_file_;
    return options;
  }

  // An HTTPS server with `identity` answering GET /hello.
  std::unique_ptr<TestServer> hello_server(const Identity& identity) {
    auto server = std::make_unique<TestServer>(identity);
    server->server().Get("/hello", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("hello", "text/plain");
    });
    EXPECT_TRUE(server->start());
    return server;
  }

  ccfde::testing::TempDir temp_;
  Identity ca_;
  Identity server_identity_;
  std::filesystem::path ca_file_;
};

TEST_F(TransportTest, PostRoundTripCarriesHeadersAndBody) {
  TestServer server(server_identity_);
  std::string seen_body;
  std::string seen_content_type;
  std::string seen_cookie;
  server.server().Post("/kbs/v0/auth",
                       [&](const httplib::Request& request, httplib::Response& response) {
                         seen_body = request.body;
                         seen_content_type = request.get_header_value("Content-Type");
                         seen_cookie = request.get_header_value("Cookie");
                         response.status = 201;
                         response.set_header("Set-Cookie", "kbs-session-id=abc123; Max-Age=300");
                         response.set_header("X-Multi", "first");
                         response.set_content(R"({"nonce":"n"})", "application/json");
                       });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);

  // Larger than 1 KiB, so that libcurl would otherwise use "Expect: 100-continue".
  const std::string body =
      R"({"version":"0.4.0","tee":"sample","pad":")" + std::string(4000, 'x') + "\"}";
  const HttpRequest request{
      "POST",
      server.url("/kbs/v0/auth"),
      {{"Content-Type", "application/json"}, {"Cookie", "kbs-session-id=old"}},
      body,
      in(milliseconds(10000))};
  auto response = client->send(request);
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"nonce":"n"})");
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("SET-COOKIE"), "kbs-session-id=abc123; Max-Age=300");
  EXPECT_EQ(response->header("x-multi"), "first");
  EXPECT_EQ(response->header("X-Absent"), std::nullopt);
  EXPECT_EQ(seen_body, body);
  EXPECT_EQ(seen_content_type, "application/json");
  EXPECT_EQ(seen_cookie, "kbs-session-id=old");
}

TEST_F(TransportTest, GetAndDeleteRoundTripsReuseTheTransport) {
  TestServer server(server_identity_);
  int deletes = 0;
  server.server().Get(
      "/kbs/v0/resource/a/b/c", [](const httplib::Request& request, httplib::Response& response) {
        response.set_content("get:" + request.get_header_value("Authorization"), "text/plain");
      });
  server.server().Delete("/kbs/v0/resource/a/b/c",
                         [&](const httplib::Request&, httplib::Response& response) {
                           ++deletes;
                           response.status = 204;
                         });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 3; ++i) {
    HttpRequest request = get(server.url("/kbs/v0/resource/a/b/c"));
    request.headers.push_back({"Authorization", "Bearer t" + std::to_string(i)});
    auto response = client->send(request);
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "get:Bearer t" + std::to_string(i));
  }
  auto deleted = client->send(
      {"DELETE", server.url("/kbs/v0/resource/a/b/c"), {}, "", in(milliseconds(10000))});
  ASSERT_TRUE(deleted.ok()) << deleted.status().to_string();
  EXPECT_EQ(deleted->status, 204);
  EXPECT_EQ(deletes, 1);
}

TEST_F(TransportTest, ErrorStatusesAreResponsesNotErrors) {
  TestServer server(server_identity_);
  server.server().Get("/denied", [](const httplib::Request&, httplib::Response& response) {
    response.status = 401;
    response.set_content(R"({"type":"PolicyDeny","detail":"no"})", "application/json");
  });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server.url("/denied")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(response->body, R"({"type":"PolicyDeny","detail":"no"})");
}

TEST_F(TransportTest, LocalhostNameVerifies) {
  auto server = hello_server(server_identity_);
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello", "localhost")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "hello");
}

TEST_F(TransportTest, CaDirectoryIsAnAlternativeToCaFile) {
  auto server = hello_server(server_identity_);
  // An OpenSSL hashed directory: <subject hash>.0
  char hash[16];
  std::snprintf(hash, sizeof(hash), "%08lx.0", X509_subject_name_hash(ca_.certificate.get()));
  const auto dir = temp_.path() / "cadir";
  std::filesystem::create_directory(dir);
  testing::write_certificate_pem(dir / hash, ca_.certificate.get());
  TransportOptions options;
  options.ca_dir = dir;
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "hello");
}

TEST_F(TransportTest, UntrustedCaIsATlsTrustFailure) {
  auto server = hello_server(server_identity_);
  const Identity other_ca = testing::make_ca("some other CA");
  const auto other_ca_file = temp_.path() / "other-ca.pem";
  testing::write_certificate_pem(other_ca_file, other_ca.certificate.get());
  TransportOptions options;
  options.ca_file = other_ca_file;
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello")));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kTlsTrustFailure) << response.status().to_string();
  // The method, the URL and curl's error buffer are in the message.
  EXPECT_THAT(response.status().message(), HasSubstr("GET https://127.0.0.1:"));
  EXPECT_THAT(response.status().message(), HasSubstr("SSL certificate problem"));
}

TEST_F(TransportTest, HostNameMismatchIsATlsTrustFailure) {
  const Identity elsewhere = testing::issue_leaf(ca_, "elsewhere", {}, {"elsewhere.example"});
  auto server = hello_server(elsewhere);
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello")));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kTlsTrustFailure) << response.status().to_string();
  EXPECT_THAT(response.status().message(), HasSubstr("127.0.0.1"));
}

TEST_F(TransportTest, MatchingPinPasses) {
  auto server = hello_server(server_identity_);
  TransportOptions options = trusted_options();
  const Identity unrelated = testing::make_ca("unrelated");
  // Any one of several pins may match.
  options.pinned_public_keys = {testing::public_key_pin(unrelated.key.get()),
                                testing::public_key_pin(server_identity_.key.get())};
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "hello");
}

TEST_F(TransportTest, WrongPinIsAPinMismatch) {
  auto server = hello_server(server_identity_);
  TransportOptions options = trusted_options();
  // The CA's key is in the chain but is not the server's key: pins name the leaf key.
  options.pinned_public_keys = {testing::public_key_pin(ca_.key.get())};
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server->url("/hello")));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kPinMismatch) << response.status().to_string();
  EXPECT_THAT(response.status().message(), HasSubstr("public key"));
}

TEST_F(TransportTest, NothingListeningIsUnreachable) {
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  const std::string url =
      "https://127.0.0.1:" + std::to_string(testing::unused_loopback_port()) + "/hello";
  auto response = client->send(get(url));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kUnreachable) << response.status().to_string();
  EXPECT_THAT(response.status().message(), HasSubstr(url));
  EXPECT_THAT(response.status().message(), HasSubstr("onnect"));
}

TEST_F(TransportTest, SlowHandlerHitsTheDeadlineNearTheDeadline) {
  TestServer server(server_identity_);
  std::atomic<bool> release{false};
  server.server().Get("/slow", [&](const httplib::Request&, httplib::Response& response) {
    // The stall is the behaviour under test (a server slower than the deadline), not a wait for
    // a condition; `release` ends it early once the client has given up.
    for (int i = 0; i < 200 && !release; ++i) std::this_thread::sleep_for(milliseconds(25));
    response.set_content("late", "text/plain");
  });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  const auto start = SteadyClock::now();
  auto response = client->send(get(server.url("/slow"), milliseconds(700)));
  const auto elapsed = SteadyClock::now() - start;
  release = true;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kDeadlineExceeded)
      << response.status().to_string();
  EXPECT_THAT(response.status().message(), HasSubstr("deadline"));
  EXPECT_GE(elapsed, milliseconds(600));
  EXPECT_LT(elapsed, milliseconds(700) + std::chrono::seconds(2));
}

TEST_F(TransportTest, PastDeadlineFailsWithoutSending) {
  TestServer server(server_identity_);
  std::atomic<int> hits{0};
  server.server().Get("/hello", [&](const httplib::Request&, httplib::Response& response) {
    ++hits;
    response.set_content("hello", "text/plain");
  });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  HttpRequest request = get(server.url("/hello"));
  request.deadline = SteadyClock::now() - milliseconds(1);
  auto response = client->send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(response.status().message(), HasSubstr("before it was sent"));
  // A request that does go out afterwards is the first one the server sees.
  auto later = client->send(get(server.url("/hello")));
  ASSERT_TRUE(later.ok()) << later.status().to_string();
  EXPECT_EQ(hits, 1);
}

TEST_F(TransportTest, ResponseOverTheCapIsMalformed) {
  TestServer server(server_identity_);
  server.server().Get("/big", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(4096, 'a'), "text/plain");
  });
  server.server().Get("/big-chunked", [](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider("text/plain",
                                          [](std::size_t offset, httplib::DataSink& sink) {
                                            if (offset >= 8192) {
                                              sink.done();
                                              return true;
                                            }
                                            const std::string chunk(512, 'b');
                                            return sink.write(chunk.data(), chunk.size());
                                          });
  });
  server.server().Get("/exact", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(1000, 'c'), "text/plain");
  });
  ASSERT_TRUE(server.start());
  TransportOptions options = trusted_options();
  options.max_response_size = 1000;
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  for (const char* path : {"/big", "/big-chunked"}) {
    auto response = client->send(get(server.url(path)));
    ASSERT_FALSE(response.ok()) << path;
    EXPECT_EQ(response.status().code(), ErrorCode::kMalformedResponse)
        << path << ": " << response.status().to_string();
    EXPECT_THAT(response.status().message(), HasSubstr("cap of 1000 bytes"));
    EXPECT_THAT(response.status().message(), HasSubstr("max_response_size"));
  }
  // Exactly at the cap is fine.
  auto exact = client->send(get(server.url("/exact")));
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  EXPECT_EQ(exact->body.size(), 1000u);
}

TEST_F(TransportTest, RedirectIsReturnedNotFollowed) {
  TestServer server(server_identity_);
  std::atomic<int> target_hits{0};
  server.server().Get("/from", [](const httplib::Request&, httplib::Response& response) {
    response.set_redirect("/to", 302);
  });
  server.server().Get("/to", [&](const httplib::Request&, httplib::Response& response) {
    ++target_hits;
    response.set_content("moved", "text/plain");
  });
  ASSERT_TRUE(server.start());
  auto client = transport(trusted_options());
  ASSERT_NE(client, nullptr);
  auto response = client->send(get(server.url("/from")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->header("location"), "/to");
  EXPECT_EQ(target_hits, 0);
}

TEST_F(TransportTest, PlainHttpNeedsInsecureHttp) {
  TestServer server;
  server.server().Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("plain", "text/plain");
  });
  ASSERT_TRUE(server.start());
  const std::string url = server.url("/hello");
  ASSERT_EQ(url.rfind("http://", 0), 0u);

  auto strict = transport(trusted_options());
  ASSERT_NE(strict, nullptr);
  auto refused = strict->send(get(url));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("insecure_http"));
  // Upper-case schemes are the same scheme.
  auto upper = strict->send(get("HTTP://127.0.0.1:" + std::to_string(server.port()) + "/hello"));
  ASSERT_FALSE(upper.ok());
  EXPECT_EQ(upper.status().code(), ErrorCode::kInvalidArgument);

  TransportOptions options;  // no CA needed for plain HTTP
  options.insecure_http = true;
  auto insecure = transport(options);
  ASSERT_NE(insecure, nullptr);
  auto response = insecure->send(get(url));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "plain");
  // ...but https:// without a CA still cannot be verified.
  auto no_ca = insecure->send(get("https://127.0.0.1:1/hello"));
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_ca.status().message(), HasSubstr("no CA configured"));
}

TEST_F(TransportTest, OtherSchemesAndBadRequestsAreRefused) {
  TransportOptions options = trusted_options();
  options.insecure_http = true;
  auto client = transport(options);
  ASSERT_NE(client, nullptr);
  for (const char* url :
       {"ftp://127.0.0.1/x", "file:///etc/passwd", "/kbs/v0/auth", "", "https://"}) {
    auto response = client->send(get(url));
    ASSERT_FALSE(response.ok()) << url;
    EXPECT_EQ(response.status().code(), ErrorCode::kInvalidArgument) << url;
  }
  auto bad_method =
      client->send({"PATCH", "https://127.0.0.1:1/x", {}, "", in(milliseconds(1000))});
  ASSERT_FALSE(bad_method.ok());
  EXPECT_EQ(bad_method.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_method.status().message(), HasSubstr("PATCH"));
  // Header injection.
  HttpRequest injected = get("https://127.0.0.1:1/x");
  injected.headers.push_back({"Cookie", "a=b\r\nX-Evil: 1"});
  auto refused = client->send(injected);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("Cookie"));
  HttpRequest bad_name = get("https://127.0.0.1:1/x");
  bad_name.headers.push_back({"Bad Name", "v"});
  auto refused_name = client->send(bad_name);
  ASSERT_FALSE(refused_name.ok());
  EXPECT_EQ(refused_name.status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(TransportTest, MutualTls) {
  const Identity client_ca = testing::make_ca("client CA");
  const Identity client_identity = testing::issue_leaf(client_ca, "vm-1", {}, {"vm-1.example"});
  const auto certificate_file = temp_.path() / "client.pem";
  const auto key_file = temp_.path() / "client.key";
  testing::write_certificate_pem(certificate_file, client_identity.certificate.get());
  testing::write_private_key_pem(key_file, client_identity.key.get());

  TestServer server(server_identity_, client_ca.certificate.get());
  server.server().Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello client", "text/plain");
  });
  ASSERT_TRUE(server.start());

  TransportOptions options = trusted_options();
  options.client_certificate = certificate_file;
  options.client_key = key_file;
  auto with_certificate = transport(options);
  ASSERT_NE(with_certificate, nullptr);
  auto response = with_certificate->send(get(server.url("/hello")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "hello client");

  auto without_certificate = transport(trusted_options());
  ASSERT_NE(without_certificate, nullptr);
  auto refused = without_certificate->send(get(server.url("/hello")));
  ASSERT_FALSE(refused.ok());
  // With TLS 1.3 the server's refusal (alert "certificate required") comes after the client's
  // side of the handshake; the client sees either the alert (kTlsTrustFailure) or, when the
  // server has already closed the socket, a failed send (kUnreachable).
  EXPECT_THAT(refused.status().code(),
              ::testing::AnyOf(ErrorCode::kTlsTrustFailure, ErrorCode::kUnreachable))
      << refused.status().to_string();
}

TEST_F(TransportTest, EnvironmentProxiesAreIgnoredAndConfiguredProxiesUsed) {
  auto server = hello_server(server_identity_);
  const std::string dead_proxy =
      "http://127.0.0.1:" + std::to_string(testing::unused_loopback_port());
  struct RestoreEnvironment {
    ~RestoreEnvironment() {
      unsetenv("https_proxy");
      unsetenv("HTTPS_PROXY");
      unsetenv("all_proxy");
      unsetenv("ALL_PROXY");
    }
  } restore;
  setenv("https_proxy", dead_proxy.c_str(), 1);
  setenv("HTTPS_PROXY", dead_proxy.c_str(), 1);
  setenv("all_proxy", dead_proxy.c_str(), 1);
  setenv("ALL_PROXY", dead_proxy.c_str(), 1);
  auto direct = transport(trusted_options());
  ASSERT_NE(direct, nullptr);
  auto response = direct->send(get(server->url("/hello")));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->body, "hello");

  TransportOptions options = trusted_options();
  options.proxy = dead_proxy;
  auto proxied = transport(options);
  ASSERT_NE(proxied, nullptr);
  auto refused = proxied->send(get(server->url("/hello")));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnreachable) << refused.status().to_string();
}

TEST_F(TransportTest, OptionsAreValidated) {
  TransportOptions none;
  auto no_ca = make_curl_transport(none);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_ca.status().message(), HasSubstr("ca_file or ca_dir"));

  TransportOptions missing = trusted_options();
  missing.ca_file = temp_.path() / "absent.pem";
  auto absent = make_curl_transport(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(absent.status().message(), HasSubstr("absent.pem"));

  for (const std::string pin :
       {"sha256//", "sha256//not base64!", "sha1//AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAA=" /* 20 bytes */, "/path/to/key.pem"}) {
    TransportOptions pinned = trusted_options();
    pinned.pinned_public_keys = {pin};
    auto refused = make_curl_transport(pinned);
    ASSERT_FALSE(refused.ok()) << pin;
    EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument) << pin;
    EXPECT_THAT(refused.status().message(), HasSubstr("pinned_public_keys[0]"));
  }

  TransportOptions half = trusted_options();
  half.client_certificate = ca_file_;
  auto half_mtls = make_curl_transport(half);
  ASSERT_FALSE(half_mtls.ok());
  EXPECT_EQ(half_mtls.status().code(), ErrorCode::kInvalidArgument);

  TransportOptions zero_cap = trusted_options();
  zero_cap.max_response_size = 0;
  EXPECT_EQ(make_curl_transport(zero_cap).status().code(), ErrorCode::kInvalidArgument);
  TransportOptions zero_timeout = trusted_options();
  zero_timeout.connect_timeout = milliseconds(0);
  EXPECT_EQ(make_curl_transport(zero_timeout).status().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpResponseHeader, IsCaseInsensitiveAndReturnsTheFirstMatch) {
  HttpResponse response;
  response.headers = {
      {"Content-Type", "application/json"}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}};
  EXPECT_EQ(response.header("content-type"), "application/json");
  EXPECT_EQ(response.header("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(response.header("Set-Cookie"), "a=1");
  EXPECT_EQ(response.header("Content-Typ"), std::nullopt);
  EXPECT_EQ(response.header(""), std::nullopt);
}

}  // namespace
}  // namespace ccfde::kbs_client

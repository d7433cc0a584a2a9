// SPDX-License-Identifier: Apache-2.0
// make_key_broker and upload_resource against a real devkbs on 127.0.0.1 (in-process, HTTPS with
// its generated CA, `sample` evidence allowed). devkbs's request log counts the attestations it
// saw on the server side.
#include "ccfde/agent/key_broker.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "ccfde/common/encoding.h"
#include "ccfde/devkbs/broker.h"
#include "ccfde/devkbs/server.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kAdminToken[] = "broker-test-admin-token-0123456789";

Bytes random_key() {
  Bytes bytes(32);
  EXPECT_EQ(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())), 1);
  return bytes;
}

// A loopback port nothing listens on (bound, then closed): connecting to it is refused.
int closed_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class KeyBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    devkbs::BrokerOptions options;
    options.state_dir = dir_.path() / "state";
    options.allow_sample = true;
    options.admin_token = kAdminToken;
    auto broker = devkbs::Broker::create(options);
    ASSERT_TRUE(broker.ok()) << broker.status().to_string();
    broker_ = std::move(*broker);
    auto tls = devkbs::ensure_tls_material(options.state_dir);
    ASSERT_TRUE(tls.ok()) << tls.status().to_string();
    tls_ = *tls;
    admin("POST", "/kbs/v0/resource-policy", R"({"resources":{"*":{"tees":["sample"]}}})");

    evidence_.tee = measure::TeeKind::kSample;
    evidence_.platform_root = dir_.path() / "guest";  // nothing of the real machine is read
  }

  void TearDown() override {
    key_broker_.reset();  // its kept-alive connections first, or stop() waits for them
    if (server_) server_->stop();
  }

  void start(milliseconds delay = milliseconds(0)) {
    devkbs::ServerOptions options;
    options.certificate = tls_.certificate;
    options.private_key = tls_.private_key;
    options.delay = delay;
    options.log = [this](const std::string& line) {
      {
        std::lock_guard lock(log_mutex_);
        log_.push_back(line);
      }
      log_changed_.notify_all();
    };
    auto server = devkbs::Server::start(*broker_, options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    profile_.name = "default";
    profile_.urls = {"https://127.0.0.1:" + std::to_string(server_->port())};
    profile_.ca_file = tls_.ca_certificate;
    profile_.connect_timeout = seconds(2);
    profile_.request_timeout = seconds(5);
  }

  void admin(const std::string& method, const std::string& path, const std::string& body) {
    const auto reply = broker_->handle(
        {method, path, {{"Authorization", std::string("Bearer ") + kAdminToken}}, body});
    ASSERT_EQ(reply.status, 200) << reply.body;
  }

  Bytes put(const std::string& path) {
    Bytes key = random_key();
    admin("POST", "/kbs/v0/resource/" + path, std::string(as_chars(key)));
    return key;
  }

  std::size_t server_saw(std::string_view prefix) {
    std::lock_guard lock(log_mutex_);
    return count_locked(prefix);
  }

  // devkbs logs a request after answering it, so the log of the last requests may lag a little.
  std::size_t server_saw_settled(std::string_view prefix, std::size_t expected) {
    std::unique_lock lock(log_mutex_);
    log_changed_.wait_for(lock, seconds(2), [&] { return count_locked(prefix) >= expected; });
    return count_locked(prefix);
  }

  std::size_t count_locked(std::string_view prefix) const {
    return static_cast<std::size_t>(
        std::count_if(log_.begin(), log_.end(),
                      [&](const std::string& line) { return line.rfind(prefix, 0) == 0; }));
  }

  KeyBroker& make(unsigned parallel = 4) {
    auto made = make_key_broker(profile_, evidence_, parallel);
    EXPECT_TRUE(made.ok()) << made.status().to_string();
    key_broker_ = std::move(made).value();
    return *key_broker_;
  }

  std::filesystem::path token_file(const std::string& token, mode_t mode) {
    const auto path = dir_.path() / ("token-" + std::to_string(++token_files_));
    {
      std::ofstream out(path);
      out << token << "\n";
    }
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  static SteadyClock::time_point in(milliseconds budget) { return SteadyClock::now() + budget; }

  testing::TempDir dir_;
  std::unique_ptr<devkbs::Broker> broker_;
  devkbs::TlsMaterial tls_;
  std::unique_ptr<devkbs::Server> server_;
  BrokerProfile profile_;
  EvidenceConfig evidence_;
  std::unique_ptr<KeyBroker> key_broker_;
  std::mutex log_mutex_;
  std::condition_variable log_changed_;  // notified after each line devkbs logs
  std::vector<std::string> log_;
  int token_files_ = 0;
};

TEST_F(KeyBrokerTest, OneResourceOneAttestation) {
  start();
  const Bytes key = put("default/fde/disk-key");
  KeyBroker& broker = make();
  EXPECT_EQ(broker.tee(), measure::TeeKind::kSample);
  EXPECT_EQ(broker.attestations(), 0u);
  const std::vector<std::string> wanted = {"default/fde/disk-key"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[0]->equals(key));
  EXPECT_EQ(broker.attestations(), 1u);
  EXPECT_EQ(server_saw("POST /kbs/v0/attest "), 1u);
}

TEST_F(KeyBrokerTest, SixteenResourcesOneAttestation) {
  start();
  std::vector<std::string> wanted;
  std::vector<Bytes> keys;
  for (int i = 0; i < 16; ++i) {
    wanted.push_back("default/fde/volume-" + std::to_string(i));
    keys.push_back(put(wanted.back()));
  }
  KeyBroker& broker = make(4);
  auto results = broker.fetch(wanted, in(seconds(20)));
  ASSERT_EQ(results.size(), 16u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().to_string();
    EXPECT_TRUE(results[i]->equals(keys[i])) << i;
  }
  EXPECT_EQ(broker.attestations(), 1u);
  EXPECT_EQ(server_saw("POST /kbs/v0/attest "), 1u);
  EXPECT_EQ(server_saw("POST /kbs/v0/auth "), 1u);
  EXPECT_EQ(server_saw_settled("GET /kbs/v0/resource/", 16), 16u);

  // The session is kept for the next batch.
  auto again = broker.fetch(std::span(wanted).first(3), in(seconds(10)));
  for (const auto& result : again) EXPECT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(server_saw("POST /kbs/v0/attest "), 1u);
}

TEST_F(KeyBrokerTest, AMissingResourceFailsAloneAndABadNameIsInvalid) {
  start();
  const Bytes first = put("default/fde/a");
  const Bytes last = put("default/fde/c");
  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {"default/fde/a", "default/fde/b", "default/fde/c",
                                           "not a path"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[0]->equals(first));
  EXPECT_EQ(results[1].status().code(), ErrorCode::kResourceNotFound)
      << results[1].status().to_string();
  EXPECT_THAT(results[1].status().message(), HasSubstr("default/fde/b"));
  ASSERT_TRUE(results[2].ok()) << results[2].status().to_string();
  EXPECT_TRUE(results[2]->equals(last));
  EXPECT_EQ(results[3].status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(results[3].status().message(), HasSubstr("\"not a path\""));
}

// Resource references (kbs-client/resource_reference.h): a kbs URI is the same secret as its
// path; a provisioner URI goes to the provisioner plugin, which refuses a guest whose init-data
// does not bind the path (sample evidence has none); "init-data" without init-data is refused here,
// before anything is sent for it.
TEST_F(KeyBrokerTest, ResourceReferencesReachTheirPluginAndInitDataNeedsInitData) {
  constexpr std::string_view kVmUuid = "6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b";
  start();
  const Bytes key = put("default/fde/a");
  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {
      "kbs:///default/fde/a", "kbs+provisioner:///default/" + std::string(kVmUuid) + "/root",
      "init-data"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[0]->equals(key));
  EXPECT_EQ(results[1].status().code(), ErrorCode::kPolicyDenied)
      << results[1].status().to_string();
  EXPECT_THAT(results[1].status().message(), HasSubstr("trustee.kbs.resource"));
  EXPECT_EQ(
      server_saw_settled("GET /kbs/v0/provisioner/default/" + std::string(kVmUuid) + "/root", 1),
      1u);
  EXPECT_EQ(results[2].status().code(), ErrorCode::kInvalidArgument)
      << results[2].status().to_string();
  EXPECT_THAT(results[2].status().message(), HasSubstr("no init-data"));
  EXPECT_EQ(server_saw("GET /kbs/v0/resource/"), 1u);
  EXPECT_EQ(server_saw("GET /kbs/v0/provisioner/"), 1u);
}

TEST_F(KeyBrokerTest, ADeadFirstAddressFailsOverToTheNextAndLaterBrokersStartThere) {
  start();
  const Bytes key = put("default/fde/disk-key");
  const std::string dead = "https://127.0.0.1:" + std::to_string(closed_loopback_port());
  const std::string live = profile_.urls.front();
  profile_.urls = {dead, live};
  const std::vector<std::string> wanted = {"default/fde/disk-key"};

  KeyBroker& broker = make();
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[0]->equals(key));
  EXPECT_EQ(broker.attestations(), 1u);
  const auto notes = broker.take_notes();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], HasSubstr(dead + " is unreachable"));
  EXPECT_THAT(notes[0], HasSubstr("trying " + live));
  EXPECT_THAT(notes[1], HasSubstr(live + " answered"));
  EXPECT_EQ(server_saw("POST /kbs/v0/auth "), 1u);

  // A later volume of the same profile in this process: straight to the address that answered.
  KeyBroker& later = make();
  auto again = later.fetch(wanted, in(seconds(10)));
  ASSERT_TRUE(again[0].ok()) << again[0].status().to_string();
  EXPECT_TRUE(again[0]->equals(key));
  EXPECT_TRUE(later.take_notes().empty());
}

TEST_F(KeyBrokerTest, AVerdictAtTheFirstAddressIsFinal) {
  start();
  const std::string live = profile_.urls.front();
  const std::string dead = "https://127.0.0.1:" + std::to_string(closed_loopback_port());
  profile_.urls = {live, dead};
  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {"default/fde/absent"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].status().code(), ErrorCode::kResourceNotFound)
      << results[0].status().to_string();
  EXPECT_TRUE(broker.take_notes().empty());
}

TEST_F(KeyBrokerTest, NoAddressAnsweringNamesEveryAddress) {
  const std::string first = "https://127.0.0.1:" + std::to_string(closed_loopback_port());
  const std::string second = "https://127.0.0.1:" + std::to_string(closed_loopback_port());
  auto tls = devkbs::ensure_tls_material(dir_.path() / "state");
  ASSERT_TRUE(tls.ok());
  profile_.name = "default";
  profile_.ca_file = tls->ca_certificate;
  profile_.connect_timeout = seconds(1);
  profile_.request_timeout = seconds(2);
  profile_.urls = {first, second};
  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {"default/fde/disk-key"};
  auto results = broker.fetch(wanted, in(milliseconds(1500)));
  ASSERT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].status().code(), ErrorCode::kDeadlineExceeded)
      << results[0].status().to_string();
  EXPECT_THAT(results[0].status().message(), HasSubstr("no broker address answered"));
  EXPECT_THAT(results[0].status().message(), HasSubstr(first));
  EXPECT_THAT(results[0].status().message(), HasSubstr(second));
}

TEST_F(KeyBrokerTest, WrongCaIsTlsTrustFailureAndNoResource) {
  start();
  put("default/fde/disk-key");
  auto other = devkbs::ensure_tls_material(dir_.path() / "other-ca");
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  profile_.ca_file = other->ca_certificate;
  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {"default/fde/disk-key", "default/fde/disk-key"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  for (const auto& result : results) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::kTlsTrustFailure) << result.status().to_string();
  }
  EXPECT_EQ(broker.attestations(), 0u);
  EXPECT_EQ(server_saw("POST /kbs/v0/attest "), 0u);
  EXPECT_EQ(server_saw("GET "), 0u);
}

TEST_F(KeyBrokerTest, DeadlineIsHonouredAgainstASlowBroker) {
  start(milliseconds(3000));
  put("default/fde/disk-key");
  KeyBroker& broker = make();
  const auto started = SteadyClock::now();
  const std::vector<std::string> wanted = {"default/fde/disk-key"};
  auto results = broker.fetch(wanted, in(milliseconds(800)));
  const auto elapsed = SteadyClock::now() - started;
  ASSERT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].status().code(), ErrorCode::kDeadlineExceeded)
      << results[0].status().to_string();
  EXPECT_LT(elapsed, milliseconds(2000));
}

TEST_F(KeyBrokerTest, UploadThenFetchGivesTheSameBytes) {
  start();
  const Bytes key = random_key();
  const auto token = token_file(kAdminToken, 0600);
  ASSERT_TRUE(upload_resource(profile_, "default/fde/uploaded", key, token, in(seconds(10))).ok());

  // Replacing works, and the profile's token file is used when none is given.
  const Bytes replaced = random_key();
  profile_.admin_token_file = token;
  const Status again =
      upload_resource(profile_, "default/fde/uploaded", replaced, {}, in(seconds(10)));
  ASSERT_TRUE(again.ok()) << again.to_string();

  KeyBroker& broker = make();
  const std::vector<std::string> wanted = {"default/fde/uploaded"};
  auto results = broker.fetch(wanted, in(seconds(10)));
  ASSERT_TRUE(results[0].ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[0]->equals(replaced));
}

TEST_F(KeyBrokerTest, UploadRefusals) {
  start();
  const Bytes key = random_key();
  const auto deadline = in(seconds(10));

  const Status refused =
      upload_resource(profile_, "default/fde/k", key, token_file("not-the-token", 0600), deadline);
  EXPECT_EQ(refused.code(), ErrorCode::kPolicyDenied) << refused.to_string();
  EXPECT_THAT(refused.message(), HasSubstr("refused the admin token"));
  EXPECT_THAT(refused.message(), ::testing::Not(HasSubstr("not-the-token")));

  const auto readable = token_file(kAdminToken, 0644);
  const Status mode = upload_resource(profile_, "default/fde/k", key, readable, deadline);
  EXPECT_EQ(mode.code(), ErrorCode::kConfigInvalid) << mode.to_string();
  EXPECT_THAT(mode.message(), HasSubstr("mode 0644"));
  EXPECT_THAT(mode.message(), HasSubstr(readable.string()));

  const Status none = upload_resource(profile_, "default/fde/k", key, {}, deadline);
  EXPECT_EQ(none.code(), ErrorCode::kConfigInvalid);

  const Status absent =
      upload_resource(profile_, "default/fde/k", key, dir_.path() / "absent", deadline);
  EXPECT_EQ(absent.code(), ErrorCode::kNotFound);

  const Status empty =
      upload_resource(profile_, "default/fde/k", key, token_file("", 0600), deadline);
  EXPECT_EQ(empty.code(), ErrorCode::kConfigInvalid);

  const auto token = token_file(kAdminToken, 0600);
  const Status bad_path = upload_resource(profile_, "default/fde", key, token, deadline);
  EXPECT_EQ(bad_path.code(), ErrorCode::kInvalidArgument);

  BrokerProfile ita = profile_;
  ita.protocol = BrokerProtocol::kIta;
  EXPECT_EQ(upload_resource(ita, "default/fde/k", key, token, deadline).code(),
            ErrorCode::kUnsupported);
}

TEST_F(KeyBrokerTest, UnusableProfilesAreRefusedAtCreation) {
  start();
  BrokerProfile missing_ca = profile_;
  missing_ca.ca_file = dir_.path() / "no-such-ca.pem";
  auto made = make_key_broker(missing_ca, evidence_, 4);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), ErrorCode::kConfigInvalid) << made.status().to_string();
  EXPECT_THAT(made.status().message(), HasSubstr("\"default\""));

  BrokerProfile bad_pin = profile_;
  bad_pin.pins = {"md5//abc"};
  auto pinned = make_key_broker(bad_pin, evidence_, 4);
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.status().code(), ErrorCode::kConfigInvalid);

  BrokerProfile ita = profile_;
  ita.protocol = BrokerProtocol::kIta;
  auto sample_ita = make_key_broker(ita, evidence_, 4);
  ASSERT_FALSE(sample_ita.ok());
  EXPECT_EQ(sample_ita.status().code(), ErrorCode::kUnsupported);

  EvidenceConfig auto_tee = evidence_;
  auto_tee.tee = std::nullopt;  // auto: the empty platform root has no TEE
  auto undetected = make_key_broker(profile_, auto_tee, 4);
  ASSERT_FALSE(undetected.ok());
  EXPECT_EQ(undetected.status().code(), ErrorCode::kUnsupported);

  EvidenceConfig no_tee = evidence_;
  no_tee.tee = measure::TeeKind::kNone;  // only a hand-built configuration can say this
  auto none = make_key_broker(profile_, no_tee, 4);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(none.status().message(), HasSubstr("evidence tee \"none\" is not auto"));
}

}  // namespace
}  // namespace ccfde::agent

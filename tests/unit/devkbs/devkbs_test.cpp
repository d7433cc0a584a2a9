// SPDX-License-Identifier: Apache-2.0
// devkbs over HTTPS on loopback: the broker and server in-process (port 0, generated CA), a
// cpp-httplib client trusting that CA, and the kbs-client crypto and message helpers on the
// client side. Quotes come from the synthetic TDX quote generator of tests/support.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/devkbs/broker.h"
#include "ccfde/devkbs/server.h"
#include "ccfde/kbs-client/confdata.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/runtime_data.h"
#include "ccfde/kbs-client/tee_key.h"
#include "ccfde/kbs-client/trustee_messages.h"
#include "ccfde/measure/runtime_event.h"
#include "ccfde/testing/jwcrypto.h"
#include "ccfde/testing/sample_collateral.h"
#include "ccfde/testing/sample_evidence.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::devkbs {
namespace {

constexpr char kAdminToken[] = "test-admin-token-0123456789";
constexpr char kResourcePath[] = "default/fde/disk-key";
constexpr char kSecret[] = "disk key \x01\x02 for the test";

struct Reply {
  int status = 0;
  std::string body;
  httplib::Headers headers;

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

// One client-side RCAR session: cookie, challenge nonce, TEE key and runtime-data digest.
struct ClientSession {
  std::string cookie;  // "kbs-session-id=<hex>"
  std::string nonce;
  kbs_client::TeeKey key;
  Bytes digest;
};

mode_t file_mode(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

std::array<std::uint8_t, 64> padded(const Bytes& digest) {
  std::array<std::uint8_t, 64> out{};
  std::copy(digest.begin(), digest.end(), out.begin());
  return out;
}

// The UUID Trustee's provisioner derives for vm_name "vm-1" in namespace "default": UUID v5 of
// "default/vm-1" in its namespace feab5599-6854-52bc-95f0-0241c03e620a (which is
// uuid5(NAMESPACE_URL, "provisioner_plugin")), computed independently with Python's uuid.uuid5.
constexpr char kVmName[] = "vm-1";
constexpr char kVmUuid[] = "09e85a47-3fe8-5ba0-8a0e-58f96fbcae73";
constexpr char kOtherVmUuid[] = "5a1b2c3d-0000-4000-8000-00000000beef";

class DevkbsTest : public ::testing::Test {
 protected:
  DevkbsTest() : chain_(testing::build_sample_pck_chain()) {}

  void SetUp() override {
    options_.state_dir = dir_.path() / "state";
    options_.allow_sample = true;
    options_.tdx_root_pem = chain_.root_pem;
    options_.admin_token = kAdminToken;
    options_.now = [this] {
      return std::chrono::system_clock::now() + std::chrono::seconds(clock_offset_.load());
    };
  }

  void TearDown() override {
    client_.reset();
    if (server_) server_->stop();
  }

  void start(ServerOptions server_options = {}) {
    auto broker = Broker::create(options_);
    ASSERT_TRUE(broker.ok()) << broker.status().to_string();
    broker_ = std::move(*broker);
    auto tls = ensure_tls_material(options_.state_dir);
    ASSERT_TRUE(tls.ok()) << tls.status().to_string();
    tls_ = *tls;
    server_options.certificate = tls_.certificate;
    server_options.private_key = tls_.private_key;
    auto server = Server::start(*broker_, server_options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    client_ = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    client_->set_ca_cert_path(tls_.ca_certificate.c_str());
    client_->enable_server_certificate_verification(true);
  }

  Reply send(const std::string& method, const std::string& path, const std::string& body = "",
             const httplib::Headers& headers = {}) {
    httplib::Result result = method == "GET" ? client_->Get(path, headers)
                             : method == "POST"
                                 ? client_->Post(path, headers, body, "application/json")
                                 : client_->Delete(path, headers);
    EXPECT_TRUE(result) << method << " " << path << ": " << httplib::to_string(result.error());
    if (!result) return {};
    return {result->status, result->body, result->headers};
  }

  static httplib::Headers admin_headers(const std::string& token = kAdminToken) {
    return {{"Authorization", "Bearer " + token}};
  }

  void put_resource(const std::string& path, const std::string& bytes) {
    const Reply reply = send("POST", "/kbs/v0/resource/" + path, bytes, admin_headers());
    ASSERT_EQ(reply.status, 200) << reply.body;
  }

  // POST /kbs/v0/provisioner/provision for `vm_name`: the response's JSON.
  nlohmann::json provision(const std::string& vm_name) {
    const Reply reply = send("POST", "/kbs/v0/provisioner/provision",
                             nlohmann::json{{"vm_name", vm_name}}.dump(), admin_headers());
    EXPECT_EQ(reply.status, 200) << reply.body;
    return nlohmann::json::parse(reply.body, nullptr, false);
  }

  void set_policy(const std::string& json) {
    const Reply reply = send("POST", "/kbs/v0/resource-policy", json, admin_headers());
    ASSERT_EQ(reply.status, 200) << reply.body;
  }

  Reply auth(const std::string& tee, const std::string& version = "0.4.0") {
    return send("POST", "/kbs/v0/auth",
                nlohmann::json{{"version", version}, {"tee", tee}, {"extra-params", ""}}.dump());
  }

  ClientSession open_session(const std::string& tee) {
    const Reply reply = auth(tee);
    EXPECT_EQ(reply.status, 200) << reply.body;
    auto challenge = kbs_client::parse_challenge(reply.body);
    EXPECT_TRUE(challenge.ok()) << reply.body;
    auto key = kbs_client::TeeKey::generate(kbs_client::TeeKeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    const std::string set_cookie = reply.header("Set-Cookie");
    ClientSession session{
        set_cookie.substr(0, set_cookie.find(';')), challenge->nonce, std::move(*key), {}};
    auto digest = kbs_client::runtime_data_digest(session.key.public_jwk(), session.nonce, "",
                                                  DigestAlgorithm::kSha384);
    EXPECT_TRUE(digest.ok());
    session.digest = *digest;
    return session;
  }

  Reply attest(const ClientSession& session, const nlohmann::json& evidence,
               const std::optional<std::string>& nonce = std::nullopt,
               std::string_view init_data_toml = {}) {
    auto body = kbs_client::make_attestation_request(
        session.key.public_jwk(), nonce.value_or(session.nonce), evidence, init_data_toml);
    EXPECT_TRUE(body.ok());
    return send("POST", "/kbs/v0/attest", *body, {{"Cookie", session.cookie}});
  }

  static nlohmann::json sample_evidence(const Bytes& digest) {
    return {{"svn", "1"}, {"report_data", base64_encode(digest)}};
  }

  // TDX evidence: a quote signed through chain_ whose RTMRs are the replay of the default sample
  // events (as `rtmr_override` says otherwise), bound to `report_data`, with the matching log.
  nlohmann::json tdx_evidence(const std::array<std::uint8_t, 64>& report_data,
                              std::uint64_t td_attributes = 0,
                              std::optional<std::size_t> corrupt_rtmr = std::nullopt,
                              const testing::SamplePckChain* chain = nullptr) {
    const auto events = testing::default_sample_events();
    testing::SampleQuoteSpec spec;
    spec.rtmr = testing::replay_sample_events(events);
    if (corrupt_rtmr) spec.rtmr[*corrupt_rtmr][0] ^= 0x01;
    spec.report_data = report_data;
    spec.td_attributes = td_attributes;
    const auto quote = testing::build_sample_tdx_quote(spec, chain ? *chain : chain_);
    return {{"cc_eventlog", base64_encode(testing::build_sample_event_log(events, 16))},
            {"quote", base64_encode(quote.quote)}};
  }

  // TDX evidence as a guest that extended RTMR3 at run time sends it: the firmware log of the
  // default sample events, the AAEL records of `runtime_texts` appended as guest-components does
  // (kbs_client::build_cc_eventlog), and a quote whose RTMR3 is those records extended from zero.
  // With `mr_config_id` (48 bytes) the quote's MRCONFIGID is that.
  nlohmann::json tdx_evidence_with_runtime_log(const std::array<std::uint8_t, 64>& report_data,
                                               const std::vector<std::string>& runtime_texts,
                                               const Bytes& mr_config_id = {}) {
    std::vector<measure::AaelRecord> records;
    for (const auto& text : runtime_texts) {
      auto record = measure::make_aael_record(text);
      EXPECT_TRUE(record.ok());
      if (record.ok()) records.push_back(std::move(*record));
    }
    return tdx_evidence_with_runtime_records(report_data, records, mr_config_id);
  }

  // As tdx_evidence_with_runtime_log, from the records themselves: RTMR3 is their `digest`s
  // extended from zero, whatever their bytes say.
  nlohmann::json tdx_evidence_with_runtime_records(const std::array<std::uint8_t, 64>& report_data,
                                                   const std::vector<measure::AaelRecord>& records,
                                                   const Bytes& mr_config_id = {}) {
    const auto events = testing::default_sample_events();
    testing::SampleQuoteSpec spec;
    spec.rtmr = testing::replay_sample_events(events);
    Bytes runtime_log;
    Bytes rtmr3(48, 0);
    for (const auto& record : records) {
      runtime_log.insert(runtime_log.end(), record.bytes.begin(), record.bytes.end());
      auto extended = digest(DigestAlgorithm::kSha384, {rtmr3, record.digest});
      EXPECT_TRUE(extended.ok());
      rtmr3 = *extended;
    }
    std::copy(rtmr3.begin(), rtmr3.end(), spec.rtmr[3].begin());
    spec.report_data = report_data;
    if (!mr_config_id.empty()) {
      std::array<std::uint8_t, 48> config_id{};
      std::copy_n(mr_config_id.begin(), std::min<std::size_t>(48, mr_config_id.size()),
                  config_id.begin());
      spec.mr_config_id = config_id;
    }
    const auto quote = testing::build_sample_tdx_quote(spec, chain_);
    auto log =
        kbs_client::build_cc_eventlog(testing::build_sample_event_log(events, 16), runtime_log);
    EXPECT_TRUE(log.ok()) << log.status().to_string();
    return {{"cc_eventlog", base64_encode(*log)}, {"quote", base64_encode(quote.quote)}};
  }

  // TDX evidence (default sample events and log) whose quote has MRCONFIGID `mr_config_id`.
  nlohmann::json tdx_evidence_with_config_id(const std::array<std::uint8_t, 64>& report_data,
                                             const Bytes& mr_config_id) {
    const auto events = testing::default_sample_events();
    testing::SampleQuoteSpec spec;
    spec.rtmr = testing::replay_sample_events(events);
    spec.report_data = report_data;
    std::array<std::uint8_t, 48> config_id{};
    std::copy_n(mr_config_id.begin(), std::min<std::size_t>(48, mr_config_id.size()),
                config_id.begin());
    spec.mr_config_id = config_id;
    const auto quote = testing::build_sample_tdx_quote(spec, chain_);
    return {{"cc_eventlog", base64_encode(testing::build_sample_event_log(events, 16))},
            {"quote", base64_encode(quote.quote)}};
  }

  // Synthetic collateral for chain_, current around the broker's clock.
  measure::TdxCollateral collateral_for(testing::SampleCollateralSpec spec) {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    spec.issued = now - std::chrono::hours(24);
    spec.next_update = now + std::chrono::hours(24 * 30);
    const auto sample = testing::build_sample_collateral(chain_, spec);
    const auto bytes = [](std::string_view text) { return Bytes(text.begin(), text.end()); };
    return {bytes(sample.tcb_info),
            bytes(sample.tcb_info_issuer_chain),
            bytes(sample.qe_identity),
            bytes(sample.qe_identity_issuer_chain),
            sample.pck_crl,
            bytes(sample.pck_crl_issuer_chain),
            sample.root_ca_crl};
  }

  static void expect_error(const Reply& reply, int status, const std::string& variant,
                           const std::string& detail_part) {
    EXPECT_EQ(reply.status, status) << reply.body;
    auto info = kbs_client::parse_error_information(reply.body);
    ASSERT_TRUE(info.ok()) << reply.body;
    EXPECT_EQ(info->type, std::string(kbs_client::kTrusteeErrorTypePrefix) + variant) << reply.body;
    EXPECT_NE(info->detail.find(detail_part), std::string::npos)
        << "detail: " << info->detail << "\nexpected to contain: " << detail_part;
  }

  void expect_resource(const ClientSession& session, const std::string& path,
                       const std::string& expected) {
    const Reply reply = send("GET", "/kbs/v0/resource/" + path, "", {{"Cookie", session.cookie}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.body.find(kSecret), std::string::npos);
    const auto jwe = nlohmann::json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(jwe.is_object()) << reply.body;
    auto plaintext = kbs_client::decrypt_jwe(jwe, session.key);
    ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string();
    EXPECT_TRUE(plaintext->equals(as_bytes(expected)));
  }

  // A TDX session attested with init-data `toml` (bound through MRCONFIGID), or without init-data
  // when `toml` is empty.
  ClientSession attested_tdx_session(const std::string& toml) {
    ClientSession session = open_session("tdx");
    Bytes config_id(48, 0);
    if (!toml.empty()) {
      auto parsed = kbs_client::parse_init_data(toml);
      EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
      auto bound = kbs_client::init_data_register_value(*parsed, 48);
      EXPECT_TRUE(bound.ok());
      config_id = *bound;
    }
    const Reply reply =
        attest(session, tdx_evidence_with_config_id(padded(session.digest), config_id),
               std::nullopt, toml);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return session;
  }

  // A TDX session attested with init-data `toml` (bound through MRCONFIGID) and a runtime event
  // log of the AAEL records of `runtime_texts`, which RTMR3 carries.
  ClientSession attested_tdx_session_with_runtime_log(
      const std::string& toml, const std::vector<std::string>& runtime_texts) {
    ClientSession session = open_session("tdx");
    auto parsed = kbs_client::parse_init_data(toml);
    EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
    auto bound = kbs_client::init_data_register_value(*parsed, 48);
    EXPECT_TRUE(bound.ok());
    const Reply reply = attest(
        session, tdx_evidence_with_runtime_log(padded(session.digest), runtime_texts, *bound),
        std::nullopt, toml);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return session;
  }

  static std::string provisioner_init_data(const std::string& claim) {
    return "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"trustee.kbs.resource\" = \"" +
           claim + "\"\n";
  }

  // What the first-boot tests share about the sample VM (kVmUuid) and its provisioner key.
  struct FirstBootVm {
    std::string path;              // default/<uuid>/root
    std::string url;               // its GET URL
    std::string init_data;         // init-data binding the guest to it
    std::filesystem::path record;  // devkbs's first-boot record of the VM
  };
  // Starts devkbs with every resource released to TDX evidence (not yet provisioned).
  FirstBootVm start_for_first_boot() {
    start();
    set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
    FirstBootVm vm;
    vm.path = std::string("default/") + kVmUuid + "/root";
    vm.url = "/kbs/v0/provisioner/" + vm.path;
    vm.init_data = provisioner_init_data("kbs+provisioner:///" + vm.path);
    vm.record = options_.state_dir / "provisioner/default" / kVmUuid / "first-boot.json";
    return vm;
  }

  // The plaintext of a successful GET of `url` in `session`.
  std::string fetch_plaintext(const ClientSession& session, const std::string& url) {
    const Reply reply = send("GET", url, "", {{"Cookie", session.cookie}});
    EXPECT_EQ(reply.status, 200) << reply.body;
    const auto jwe = nlohmann::json::parse(reply.body, nullptr, false);
    EXPECT_TRUE(jwe.is_object()) << reply.body;
    if (!jwe.is_object()) return {};
    auto plaintext = kbs_client::decrypt_jwe(jwe, session.key);
    EXPECT_TRUE(plaintext.ok()) << plaintext.status().to_string();
    if (!plaintext.ok()) return {};
    return std::string(reinterpret_cast<const char*>(plaintext->data()), plaintext->size());
  }

  testing::TempDir dir_;
  testing::SamplePckChain chain_;
  BrokerOptions options_;
  std::atomic<std::int64_t> clock_offset_{0};
  std::unique_ptr<Broker> broker_;
  TlsMaterial tls_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::SSLClient> client_;
};

TEST_F(DevkbsTest, SampleFlowServesJweOfStoredResource) {
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"default/fde/disk-key": {"tees": ["sample"]}}})");

  const Reply reply = auth("sample");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto challenge = nlohmann::json::parse(reply.body);
  EXPECT_EQ(challenge["extra-params"], "");
  const std::string nonce = challenge["nonce"];
  EXPECT_EQ(nonce.size(), 44u);
  auto nonce_bytes = base64_decode(nonce);
  ASSERT_TRUE(nonce_bytes.ok());
  EXPECT_EQ(nonce_bytes->size(), 32u);
  const std::string set_cookie = reply.header("Set-Cookie");
  ASSERT_TRUE(set_cookie.starts_with("kbs-session-id=")) << set_cookie;
  const std::string id = set_cookie.substr(15, set_cookie.find(';') - 15);
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_NE(set_cookie.find("; Expires="), std::string::npos);
  EXPECT_TRUE(set_cookie.ends_with(" GMT")) << set_cookie;

  ClientSession session = open_session("sample");
  const Reply attested = attest(session, sample_evidence(session.digest));
  ASSERT_EQ(attested.status, 200) << attested.body;
  auto token = kbs_client::parse_attestation_token(attested.body);
  ASSERT_TRUE(token.ok()) << attested.body;
  EXPECT_EQ(std::count(token->begin(), token->end(), '.'), 2);
  EXPECT_TRUE(attested.header("Set-Cookie").starts_with(session.cookie + ";"));

  expect_resource(session, kResourcePath, kSecret);
  // Many resources in one session.
  put_resource("default/fde/other", "second");
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  expect_resource(session, kResourcePath, kSecret);
  expect_resource(session, "default/fde/other", "second");

  const auto file = options_.state_dir / "resources/default/fde/disk-key";
  EXPECT_EQ(file_mode(file), 0600u);
  auto stored = read_file(file);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(std::string(as_chars(*stored)), kSecret);
  EXPECT_EQ(file_mode(options_.state_dir / "policy.json"), 0600u);
  EXPECT_EQ(file_mode(tls_.private_key), 0600u);
  EXPECT_EQ(file_mode(options_.state_dir / "ca-key.pem"), 0600u);
}

TEST_F(DevkbsTest, RsaAndP521KeysGetJwe) {
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  for (const auto type : {kbs_client::TeeKeyType::kEcP521, kbs_client::TeeKeyType::kRsaOaep256}) {
    ClientSession session = open_session("sample");
    auto key = kbs_client::TeeKey::generate(type);
    ASSERT_TRUE(key.ok());
    session.key = std::move(*key);
    auto digest = kbs_client::runtime_data_digest(session.key.public_jwk(), session.nonce, "",
                                                  DigestAlgorithm::kSha384);
    ASSERT_TRUE(digest.ok());
    ASSERT_EQ(attest(session, sample_evidence(*digest)).status, 200);
    expect_resource(session, kResourcePath, kSecret);
  }
}

// Issue acceptance: JWEs produced by devkbs decrypt with an independent implementation
// (Debian's python3-jwcrypto), for every key type a client may send.
TEST_F(DevkbsTest, JwesDecryptWithJwcrypto) {
  CCFDE_SKIP_WITHOUT_JWCRYPTO();
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  for (const char* kind : {"EC-P-256", "EC-P-521", "RSA-3072"}) {
    SCOPED_TRACE(kind);
    const auto private_jwk = (dir_.path() / "private.jwk").string();
    const auto public_jwk = (dir_.path() / "public.jwk").string();
    ASSERT_EQ(testing::run_jwcrypto({"genkey", kind, private_jwk, public_jwk}), 0);
    auto private_bytes = read_file(private_jwk);
    ASSERT_TRUE(private_bytes.ok());
    auto key = kbs_client::TeeKey::from_private_jwk(
        nlohmann::json::parse(private_bytes->begin(), private_bytes->end()));
    ASSERT_TRUE(key.ok()) << key.status().to_string();

    ClientSession session = open_session("sample");
    session.key = std::move(*key);
    auto digest = kbs_client::runtime_data_digest(session.key.public_jwk(), session.nonce, "",
                                                  DigestAlgorithm::kSha384);
    ASSERT_TRUE(digest.ok());
    ASSERT_EQ(attest(session, sample_evidence(*digest)).status, 200);
    const Reply reply = send("GET", std::string("/kbs/v0/resource/") + kResourcePath, "",
                             {{"Cookie", session.cookie}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto jwe_path = (dir_.path() / "resource.jwe").string();
    const auto plaintext_path = (dir_.path() / "plaintext").string();
    ASSERT_TRUE(write_file(jwe_path, as_bytes(reply.body)).ok());
    ASSERT_EQ(testing::run_jwcrypto({"decrypt", private_jwk, jwe_path, plaintext_path}), 0);
    auto plaintext = read_file(plaintext_path);
    ASSERT_TRUE(plaintext.ok());
    EXPECT_EQ(as_chars(*plaintext), kSecret);
  }
}

TEST_F(DevkbsTest, RefusesOtherProtocolVersion) {
  start();
  expect_error(auth("sample", "0.2.0"), 401, "AttestationError",
               "KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is 0.2.0");
  expect_error(auth("sample", "0.4.1"), 401, "AttestationError", "the request is 0.4.1");
}

TEST_F(DevkbsTest, RefusesUnknownTeeAndMalformedRequest) {
  start();
  expect_error(auth("sgx"), 401, "AttestationError", "TEE sgx is not supported");
  expect_error(auth("none"), 401, "AttestationError", "TEE none is not supported");
  expect_error(auth("TDX"), 401, "AttestationError", "TEE TDX is not supported");
  expect_error(auth(""), 401, "AttestationError", "RCAR handshake Auth failed");
  expect_error(send("POST", "/kbs/v0/auth", "{not json"), 401, "AttestationError",
               "RCAR handshake Auth failed");
}

TEST_F(DevkbsTest, RefusesSampleUnlessAllowed) {
  options_.allow_sample = false;
  start();
  expect_error(auth("sample"), 401, "AttestationError", "--allow-sample");
}

TEST_F(DevkbsTest, RefusesWrongNonce) {
  start();
  ClientSession session = open_session("sample");
  ClientSession other = open_session("sample");
  expect_error(attest(session, sample_evidence(session.digest), other.nonce), 401,
               "AttestationError", "nonce in the handshake session is different");
}

TEST_F(DevkbsTest, NonceIsSingleUse) {
  start();
  ClientSession session = open_session("sample");
  ASSERT_EQ(attest(session, sample_evidence(session.digest)).status, 200);
  expect_error(attest(session, sample_evidence(session.digest)), 401, "AttestationError",
               "nonce of this session was already used");
}

TEST_F(DevkbsTest, RefusedAttemptConsumesTheNonce) {
  start();
  ClientSession session = open_session("sample");
  expect_error(attest(session, sample_evidence(Bytes(48, 0))), 401, "AttestationError",
               "does not match the runtime data digest");
  expect_error(attest(session, sample_evidence(session.digest)), 401, "AttestationError",
               "already used");
}

TEST_F(DevkbsTest, RefusesSampleReportDataOfAnotherDigest) {
  start();
  ClientSession session = open_session("sample");
  Bytes wrong = session.digest;
  wrong[47] ^= 0x80;
  expect_error(attest(session, sample_evidence(wrong)), 401, "AttestationError",
               "report_data " + hex_encode(wrong));
  // The 64-byte padded form is not the sample form either.
  ClientSession second = open_session("sample");
  Bytes long_form = second.digest;
  long_form.resize(64, 0);
  expect_error(attest(second, sample_evidence(long_form)), 401, "AttestationError",
               "does not match the runtime data digest");
}

TEST_F(DevkbsTest, ExpiredSessionIsRefused) {
  options_.session_timeout = std::chrono::seconds(60);
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  ClientSession waiting = open_session("sample");
  ClientSession attested = open_session("sample");
  ASSERT_EQ(attest(attested, sample_evidence(attested.digest)).status, 200);
  EXPECT_EQ(broker_->session_count(), 2u);
  clock_offset_ = 61;
  expect_error(attest(waiting, sample_evidence(waiting.digest)), 401, "AttestationError",
               "session");
  expect_error(send("GET", std::string("/kbs/v0/resource/") + kResourcePath, "",
                    {{"Cookie", attested.cookie}}),
               401, "TokenNotFound", "session");
  EXPECT_EQ(broker_->session_count(), 0u);
}

TEST_F(DevkbsTest, AttestNeedsCookieAndKnownSession) {
  start();
  ClientSession session = open_session("sample");
  auto body = kbs_client::make_attestation_request(session.key.public_jwk(), session.nonce,
                                                   sample_evidence(session.digest));
  ASSERT_TRUE(body.ok());
  expect_error(send("POST", "/kbs/v0/attest", *body), 401, "AttestationError",
               "cookie kbs-session-id not found");
  expect_error(send("POST", "/kbs/v0/attest", *body,
                    {{"Cookie", "kbs-session-id=00000000000000000000000000000000"}}),
               401, "AttestationError", "session not found");
}

TEST_F(DevkbsTest, ResourceNeedsAttestedSession) {
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  const std::string path = std::string("/kbs/v0/resource/") + kResourcePath;
  expect_error(send("GET", path), 401, "TokenNotFound", "no kbs-session-id cookie");
  ClientSession session = open_session("sample");
  expect_error(send("GET", path, "", {{"Cookie", session.cookie}}), 401, "TokenNotFound",
               "not attested");
}

TEST_F(DevkbsTest, TdxQuoteWithEventLogServesResource) {
  start();
  const auto rtmr = testing::replay_sample_events(testing::default_sample_events());
  nlohmann::json tdx = {{"mr_td", std::string(96, '2')}};
  for (std::size_t i = 0; i < 4; ++i) tdx["rtmr" + std::to_string(i)] = hex_encode(rtmr[i]);
  set_policy(
      nlohmann::json{{"resources", {{kResourcePath, {{"tees", {"tdx"}}, {"tdx", tdx}}}}}}.dump());
  put_resource(kResourcePath, kSecret);

  ClientSession session = open_session("tdx");
  const Reply reply = attest(session, tdx_evidence(padded(session.digest)));
  ASSERT_EQ(reply.status, 200) << reply.body;
  expect_resource(session, kResourcePath, kSecret);
}

// Init-data as Trustee handles it: the TOML digest must be in MRCONFIGID, its data table becomes
// claims, and a policy can require a claim (the provisioner's resource binding).
TEST_F(DevkbsTest, InitDataIsBoundToMrConfigIdAndItsClaimsGateResources) {
  start();
  const std::string resource_claim = "kbs+provisioner:///default/vm-1/root";
  const std::string init_data =
      "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n"
      "\"trustee.kbs.resource\" = \"" +
      resource_claim + "\"\n";
  auto parsed = kbs_client::parse_init_data(init_data);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  auto bound = kbs_client::init_data_register_value(*parsed, 48);
  ASSERT_TRUE(bound.ok());
  set_policy(nlohmann::json{
      {"resources",
       {{"default/vm-1/root",
         {{"tees", {"tdx"}}, {"init_data", {{"trustee.kbs.resource", resource_claim}}}}},
        {"default/vm-2/root",
         {{"tees", {"tdx"}},
          {"init_data", {{"trustee.kbs.resource", "kbs+provisioner:///default/vm-2/root"}}}}}}}}
                 .dump());
  put_resource("default/vm-1/root", kSecret);
  put_resource("default/vm-2/root", "another VM's key");
  const Reply stored = send("GET", "/kbs/v0/resource-policy", "", admin_headers());
  ASSERT_EQ(stored.status, 200);
  EXPECT_EQ(nlohmann::json::parse(
                stored.body)["resources"]["default/vm-1/root"]["init_data"]["trustee.kbs.resource"],
            resource_claim);

  ClientSession session = open_session("tdx");
  const Reply reply = attest(session, tdx_evidence_with_config_id(padded(session.digest), *bound),
                             std::nullopt, init_data);
  ASSERT_EQ(reply.status, 200) << reply.body;
  expect_resource(session, "default/vm-1/root", kSecret);
  expect_error(send("GET", "/kbs/v0/resource/default/vm-2/root", "", {{"Cookie", session.cookie}}),
               401, "PolicyDeny", "init-data claim trustee.kbs.resource is \"" + resource_claim);

  // Without init-data the same quote gets no claims: the resource is denied.
  ClientSession bare = open_session("tdx");
  ASSERT_EQ(attest(bare, tdx_evidence_with_config_id(padded(bare.digest), *bound)).status, 200);
  expect_error(send("GET", "/kbs/v0/resource/default/vm-1/root", "", {{"Cookie", bare.cookie}}),
               401, "PolicyDeny", "the guest sent no init-data");
}

TEST_F(DevkbsTest, ProvisionerServesOneConfdataKeyPerVmToTheBoundGuest) {
  start();
  const std::string path = std::string("default/") + kVmUuid + "/root";
  EXPECT_EQ(provision(kVmName), (nlohmann::json{{"uuid", kVmUuid}, {"resource_path", path}}));
  const std::string url = "/kbs/v0/provisioner/" + path;
  set_policy(nlohmann::json{{"resources", {{"provisioner/" + path, {{"tees", {"tdx"}}}}}}}.dump());
  const std::string init_data = provisioner_init_data("kbs+provisioner:///" + path);
  const auto file = options_.state_dir / "provisioner" / path;

  ClientSession first = attested_tdx_session(init_data);
  const std::string document = fetch_plaintext(first, url);
  // Trustee's generate_confdata_toml layout, with a 32-character alphanumeric key.
  const std::string head = "version = \"0.1.0\"\n\n[data]\n\"io.cryptsetup.key.text.root\" = \"";
  ASSERT_EQ(document.size(), head.size() + 32 + 2) << document;
  EXPECT_EQ(document.substr(0, head.size()), head);
  EXPECT_EQ(document.substr(head.size() + 32), "\"\n");
  auto key = kbs_client::parse_confdata_key(as_bytes(document), kbs_client::kConfdataRootKey);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  const std::string key_text(reinterpret_cast<const char*>(key->data()), key->size());
  EXPECT_EQ(key_text.size(), 32u);
  EXPECT_EQ(
      key_text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
      std::string::npos)
      << key_text;
  EXPECT_EQ(file_mode(file), 0600u);
  EXPECT_EQ(file_mode(file.parent_path()), 0700u);

  // Another session of the same VM, and the same after a restart: the same key.
  ClientSession second = attested_tdx_session(init_data);
  EXPECT_EQ(fetch_plaintext(second, url), document);
  client_.reset();
  server_->stop();
  server_.reset();
  broker_.reset();
  start();
  ClientSession third = attested_tdx_session(init_data);
  EXPECT_EQ(fetch_plaintext(third, url), document);

  // Another VM gets its own key.
  const std::string other = provision("vm-2")["resource_path"].get<std::string>();
  set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
  ClientSession other_vm =
      attested_tdx_session(provisioner_init_data("kbs+provisioner:///" + other));
  const std::string other_document = fetch_plaintext(other_vm, "/kbs/v0/provisioner/" + other);
  EXPECT_EQ(other_document.size(), document.size());
  EXPECT_NE(other_document, document);
}

TEST_F(DevkbsTest, ProvisionerRefusesGuestsNotBoundToThePath) {
  start();
  set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
  const std::string path = std::string("default/") + kVmUuid + "/root";
  const std::string url = "/kbs/v0/provisioner/" + path;
  const std::string other_claim =
      std::string("kbs+provisioner:///default/") + kOtherVmUuid + "/root";

  // Bound to another VM's path.
  ClientSession other = attested_tdx_session(provisioner_init_data(other_claim));
  expect_error(send("GET", url, "", {{"Cookie", other.cookie}}), 401, "PolicyDeny",
               "init-data claim trustee.kbs.resource is \"" + other_claim +
                   "\", not \"kbs+provisioner:///" + path + "\"");
  // The resource plugin's URI form is not the provisioner's.
  ClientSession resource_form = attested_tdx_session(provisioner_init_data("kbs:///" + path));
  expect_error(send("GET", url, "", {{"Cookie", resource_form.cookie}}), 401, "PolicyDeny",
               "trustee.kbs.resource is \"kbs:///" + path + "\"");
  // Init-data without the claim.
  ClientSession unclaimed = attested_tdx_session(
      "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"other\" = \"x\"\n");
  expect_error(send("GET", url, "", {{"Cookie", unclaimed.cookie}}), 401, "PolicyDeny",
               "the guest's init-data has no such claim");
  // No init-data at all.
  ClientSession bare = attested_tdx_session("");
  expect_error(send("GET", url, "", {{"Cookie", bare.cookie}}), 401, "PolicyDeny",
               "the guest sent no init-data");
  // Not attested.
  ClientSession unattested = open_session("tdx");
  expect_error(send("GET", url, "", {{"Cookie", unattested.cookie}}), 401, "TokenNotFound",
               "not attested");
  // No refusal provisioned a key.
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "provisioner" / path));
}

TEST_F(DevkbsTest, ProvisionerKeysFollowTheResourcePolicy) {
  start();
  provision(kVmName);
  const std::string path = std::string("default/") + kVmUuid + "/root";
  const std::string url = "/kbs/v0/provisioner/" + path;
  ClientSession session = attested_tdx_session(provisioner_init_data("kbs+provisioner:///" + path));
  const httplib::Headers cookie = {{"Cookie", session.cookie}};

  expect_error(send("GET", url, "", cookie), 401, "PolicyDeny",
               "no policy entry for resource provisioner/" + path);
  // An entry for the resource plugin's path of the same name does not cover the provisioner's.
  set_policy(nlohmann::json{{"resources", {{path, {{"tees", {"tdx"}}}}}}}.dump());
  expect_error(send("GET", url, "", cookie), 401, "PolicyDeny",
               "no policy entry for resource provisioner/" + path);
  set_policy(nlohmann::json{{"resources", {{"provisioner/" + path, {{"tees", {"snp"}}}}}}}.dump());
  expect_error(send("GET", url, "", cookie), 401, "PolicyDeny", "TEE tdx may not fetch");
  set_policy(nlohmann::json{
      {"resources",
       {{"provisioner/" + path, {{"tees", {"tdx"}}, {"tdx", {{"mr_td", std::string(96, '3')}}}}}}}}
                 .dump());
  expect_error(send("GET", url, "", cookie), 401, "PolicyDeny",
               "tdx mr_td is " + std::string(96, '2'));
  set_policy(nlohmann::json{
      {"resources",
       {{"provisioner/" + path, {{"tees", {"tdx"}}, {"tdx", {{"mr_td", std::string(96, '2')}}}}}}}}
                 .dump());
  EXPECT_FALSE(fetch_plaintext(session, url).empty());
}

TEST_F(DevkbsTest, ProvisionerPathsAreDefaultUuidRoot) {
  start();
  set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
  const std::string uuid = kVmUuid;
  std::string upper = uuid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       {"other/" + uuid + "/root", "default/" + uuid + "/home", "default/" + upper + "/root",
        std::string("default/vm-1/root"), "default/" + uuid.substr(1) + "0/root"}) {
    ClientSession session =
        attested_tdx_session(provisioner_init_data("kbs+provisioner:///" + bad));
    expect_error(send("GET", "/kbs/v0/provisioner/" + bad, "", {{"Cookie", session.cookie}}), 401,
                 "PluginInternalError", "provisioner resource " + bad + " not found");
  }
  ClientSession session = attested_tdx_session("");
  expect_error(send("GET", "/kbs/v0/provisioner/default/" + uuid + "/root/x", "",
                    {{"Cookie", session.cookie}}),
               401, "PluginInternalError", "found 4");
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "provisioner"));
}

// Only the operator makes keys (POST provision, admin auth); an attested, bound GET of a VM never
// provisioned finds nothing, as in Trustee, and makes nothing.
TEST_F(DevkbsTest, ProvisioningIsTheOperatorsAndAGetNeverMakesAKey) {
  start();
  set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
  const std::string path = std::string("default/") + kVmUuid + "/root";
  const std::string url = "/kbs/v0/provisioner/" + path;
  ClientSession session = attested_tdx_session(provisioner_init_data("kbs+provisioner:///" + path));
  const httplib::Headers cookie = {{"Cookie", session.cookie}};
  expect_error(send("GET", url, "", cookie), 401, "PluginInternalError",
               "provisioner resource not found: " + path);
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "provisioner"));

  const std::string body = nlohmann::json{{"vm_name", kVmName}}.dump();
  expect_error(send("POST", "/kbs/v0/provisioner/provision", body), 401, "AdminAuthAccess",
               "Bearer <admin token>");
  expect_error(send("POST", "/kbs/v0/provisioner/provision", body, admin_headers("wrong")), 401,
               "AdminAuthAccess", "does not match");
  for (const std::string bad : {"", "[]", "{}", R"({"vm_name": ""})", R"({"vm_name": 3})",
                                R"({"vm_name": "a", "namespace": 1})"}) {
    expect_error(send("POST", "/kbs/v0/provisioner/provision", bad, admin_headers()), 401,
                 "PluginInternalError", "invalid JSON body");
  }
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "provisioner"));

  // Provisioned: the guest gets the key; provisioning again keeps it.
  EXPECT_EQ(provision(kVmName)["uuid"], kVmUuid);
  const std::string document = fetch_plaintext(session, url);
  EXPECT_FALSE(document.empty());
  EXPECT_EQ(provision(kVmName)["uuid"], kVmUuid);
  EXPECT_EQ(fetch_plaintext(session, url), document);
  // The namespace is part of the identity (uuid.uuid5 of "tenant-a/web-0", as above).
  const Reply namespaced =
      send("POST", "/kbs/v0/provisioner/provision",
           R"({"vm_name": "web-0", "namespace": "tenant-a"})", admin_headers());
  EXPECT_EQ(namespaced.status, 200) << namespaced.body;
  EXPECT_EQ(nlohmann::json::parse(namespaced.body, nullptr, false)["uuid"],
            "a36f21e8-9e1a-5411-a9d3-381965bc3c61");

  // Deprovisioned: gone, and deleting again is no error (as Trustee ignores it).
  const std::string deprovision = std::string("/kbs/v0/provisioner/provision/") + kVmUuid;
  expect_error(send("DELETE", deprovision), 401, "AdminAuthAccess", "Bearer <admin token>");
  for (int i = 0; i < 2; ++i) {
    const Reply deleted = send("DELETE", deprovision, "", admin_headers());
    EXPECT_EQ(deleted.status, 200) << deleted.body;
    EXPECT_EQ(deleted.body, R"({"status":"deleted"})");
  }
  expect_error(send("GET", url, "", cookie), 401, "PluginInternalError",
               "provisioner resource not found");
  expect_error(send("DELETE", "/kbs/v0/provisioner/provision/../../x", "", admin_headers()), 401,
               "PluginInternalError", "is not a UUID");
  expect_error(send("DELETE", "/kbs/v0/provisioner/provision", "", admin_headers()), 404,
               "InvalidRequestPath", "DELETE provisioner/provision");
}

// The first-boot rule of provisioner keys (first_boot.h): one first boot per VM, none after the
// VM's first normal unlock, a DELETE provision starting afresh.
constexpr char kFirstBootX[] = "0123456789abcdef0123456789abcdef";
constexpr char kFirstBootY[] = "fedcba9876543210fedcba9876543210";

std::string first_boot_text(const std::string& id) {
  auto text = measure::first_boot_event_text(id);
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : std::string();
}

std::string file_text(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  EXPECT_TRUE(bytes.ok()) << path;
  return bytes.ok() ? std::string(as_chars(*bytes)) : std::string();
}

TEST_F(DevkbsTest, ProvisionerKeyServesOneFirstBootPerVm) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  provision(kVmName);
  const std::string unlock = "cc-fde unlock 1234 root";
  const std::string phase_end(measure::kPhaseEndEventText);

  // The first boot (X): released and recorded.
  ClientSession first =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX), unlock});
  const std::string document = fetch_plaintext(first, url);
  EXPECT_FALSE(document.empty());
  const std::string recorded_x =
      std::string(R"({"established":false,"id":")") + kFirstBootX + "\"}\n";
  EXPECT_EQ(file_text(record), recorded_x);
  EXPECT_EQ(file_mode(record), 0600u);

  // The same first boot again (a boot interrupted before its volume was complete): released.
  ClientSession retry =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  EXPECT_EQ(fetch_plaintext(retry, url), document);
  EXPECT_EQ(file_text(record), recorded_x);

  // Another first boot (Y) before the VM ever unlocked normally: refused, nothing changes.
  ClientSession other =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootY)});
  expect_error(send("GET", url, "", {{"Cookie", other.cookie}}), 401, "PolicyDeny",
               std::string("Access denied by policy: provisioner resource ") + path +
                   ": first boot " + kFirstBootX +
                   " was already started for this VM; a new first-boot id " + kFirstBootY +
                   " is refused");
  EXPECT_EQ(file_text(record), recorded_x);

  // The first normal unlock (no first-boot event): released, and it ends the first boot.
  ClientSession normal = attested_tdx_session_with_runtime_log(init_data, {unlock, phase_end});
  EXPECT_EQ(fetch_plaintext(normal, url), document);
  const std::string established =
      std::string(R"({"established":true,"id":")") + kFirstBootX + "\"}\n";
  EXPECT_EQ(file_text(record), established);

  // A blank volume at a later boot is not a first boot, whatever its id.
  for (const char* id : {kFirstBootX, kFirstBootY}) {
    ClientSession later = attested_tdx_session_with_runtime_log(init_data, {first_boot_text(id)});
    expect_error(send("GET", url, "", {{"Cookie", later.cookie}}), 401, "PolicyDeny",
                 std::string("Access denied by policy: provisioner resource ") + path +
                     ": first boot " + id +
                     " is refused: the VM already completed its first boot and unlocked its "
                     "volume normally; a blank volume at a later boot is not a first boot");
    EXPECT_EQ(file_text(record), established);
  }
  // The record outlives a restart of the broker.
  client_.reset();
  server_->stop();
  server_.reset();
  broker_.reset();
  start();
  ClientSession after_restart =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  expect_error(send("GET", url, "", {{"Cookie", after_restart.cookie}}), 401, "PolicyDeny",
               "already completed its first boot");
  // Normal boots go on being served.
  ClientSession normal_again = attested_tdx_session_with_runtime_log(init_data, {unlock});
  EXPECT_EQ(fetch_plaintext(normal_again, url), document);
  EXPECT_EQ(file_text(record), established);
}

TEST_F(DevkbsTest, FirstBootWithoutAnEarlierRecordAndNormalBootFirst) {
  const auto [path, url, init_data, record] = start_for_first_boot();

  // Not provisioned: the first boot finds no key and leaves no record.
  ClientSession early =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  expect_error(send("GET", url, "", {{"Cookie", early.cookie}}), 401, "PluginInternalError",
               "provisioner resource not found: " + path);
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "provisioner"));
  // A guest bound to another VM's path leaves no record either.
  provision(kVmName);
  ClientSession unbound = attested_tdx_session_with_runtime_log(
      provisioner_init_data(std::string("kbs+provisioner:///default/") + kOtherVmUuid + "/root"),
      {first_boot_text(kFirstBootX)});
  expect_error(send("GET", url, "", {{"Cookie", unbound.cookie}}), 401, "PolicyDeny",
               "init-data claim trustee.kbs.resource is");
  EXPECT_FALSE(std::filesystem::exists(record));

  // A VM whose volume exists before its key is first fetched (no first boot): established at once.
  ClientSession normal = attested_tdx_session(init_data);
  EXPECT_FALSE(fetch_plaintext(normal, url).empty());
  EXPECT_EQ(file_text(record), "{\"established\":true}\n");
  ClientSession later =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  expect_error(send("GET", url, "", {{"Cookie", later.cookie}}), 401, "PolicyDeny",
               std::string("first boot ") + kFirstBootX + " is refused: the VM already completed");
  EXPECT_EQ(file_text(record), "{\"established\":true}\n");
}

TEST_F(DevkbsTest, DeprovisioningStartsTheFirstBootAfresh) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  provision(kVmName);
  ClientSession first =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  const std::string old_document = fetch_plaintext(first, url);
  ClientSession normal = attested_tdx_session(init_data);
  EXPECT_EQ(fetch_plaintext(normal, url), old_document);
  EXPECT_EQ(file_text(record),
            std::string(R"({"established":true,"id":")") + kFirstBootX + "\"}\n");

  const Reply deleted =
      send("DELETE", std::string("/kbs/v0/provisioner/provision/") + kVmUuid, "", admin_headers());
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_FALSE(std::filesystem::exists(record));
  provision(kVmName);
  ClientSession fresh =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootY)});
  const std::string new_document = fetch_plaintext(fresh, url);
  EXPECT_FALSE(new_document.empty());
  EXPECT_NE(new_document, old_document);
  EXPECT_EQ(file_text(record),
            std::string(R"({"established":false,"id":")") + kFirstBootY + "\"}\n");

  // A record left without its key (the key removed by hand) does not bind the next key.
  ASSERT_EQ(std::filesystem::remove(options_.state_dir / "provisioner" / path), true);
  ASSERT_TRUE(write_file(record, as_bytes(R"({"established":true})")).ok());
  provision(kVmName);
  EXPECT_FALSE(std::filesystem::exists(record));
  ClientSession again =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  EXPECT_FALSE(fetch_plaintext(again, url).empty());
}

TEST_F(DevkbsTest, ADamagedFirstBootRecordReleasesNothing) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  provision(kVmName);
  ClientSession first_boot =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  ClientSession normal = attested_tdx_session(init_data);
  struct Case {
    std::string text;
    std::string problem;
  };
  const Case cases[] = {
      {"{\"established\": tru", "not JSON"},
      {"", "not JSON"},
      {"[]", "expected {\"id\""},
      {R"({"id": "0123456789abcdef0123456789abcdef"})", "\"established\" is missing"},
      {R"({"established": "yes"})", "\"established\" must be a boolean"},
      {R"({"established": false, "id": "0123456789ABCDEF0123456789ABCDEF"})",
       "\"id\" must be a string of 32 lowercase hex digits"},
      {R"({"established": false, "id": 7})", "\"id\" must be a string of 32"},
      {R"({"established": false, "id": null})", "\"id\" must be a string of 32"},
      {R"({"established": false, "window": 1})", "unknown member \"window\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ASSERT_TRUE(write_file(record, as_bytes(c.text)).ok());
    for (const ClientSession* session : {&first_boot, &normal}) {
      expect_error(send("GET", url, "", {{"Cookie", session->cookie}}), 401, "PluginInternalError",
                   "Plugin internal error: the first-boot record of provisioner resource " + path +
                       " (provisioner/" + path.substr(0, path.size() - 4) +
                       "first-boot.json in the state directory) is damaged: " + c.problem);
      EXPECT_EQ(file_text(record), c.text);
    }
  }
  // Not a regular file: refused as well (O_NOFOLLOW).
  std::filesystem::remove(record);
  std::filesystem::create_symlink(options_.state_dir / "policy.json", record);
  expect_error(send("GET", url, "", {{"Cookie", normal.cookie}}), 401, "PluginInternalError",
               "first-boot.json in the state directory) is damaged: cannot open it");
  EXPECT_TRUE(std::filesystem::is_symlink(record));
}

// A log with two different first-boot ids is refused for the provisioner key; the same id twice is
// one first boot.
TEST_F(DevkbsTest, TwoFirstBootIdsInOneLogAreRefused) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  provision(kVmName);
  ClientSession both = attested_tdx_session_with_runtime_log(
      init_data, {first_boot_text(kFirstBootX), first_boot_text(kFirstBootY)});
  expect_error(send("GET", url, "", {{"Cookie", both.cookie}}), 401, "PolicyDeny",
               std::string("Access denied by policy: provisioner resource ") + path +
                   ": the runtime log holds two first-boot events with different ids (" +
                   kFirstBootX + " and " + kFirstBootY + ")");
  EXPECT_FALSE(std::filesystem::exists(record));
  ClientSession twice = attested_tdx_session_with_runtime_log(
      init_data, {first_boot_text(kFirstBootX), first_boot_text(kFirstBootX)});
  EXPECT_FALSE(fetch_plaintext(twice, url).empty());
  EXPECT_EQ(file_text(record),
            std::string(R"({"established":false,"id":")") + kFirstBootX + "\"}\n");
}

// The rule is the provisioner's: a shared resource fetched in the same session ignores the event,
// also after the VM's per-VM key refuses it.
TEST_F(DevkbsTest, SharedResourcesIgnoreFirstBootEvents) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  put_resource("default/fde/root", kSecret);
  provision(kVmName);
  ClientSession normal = attested_tdx_session(init_data);
  EXPECT_FALSE(fetch_plaintext(normal, url).empty());

  ClientSession later =
      attested_tdx_session_with_runtime_log(init_data, {first_boot_text(kFirstBootX)});
  expect_error(send("GET", url, "", {{"Cookie", later.cookie}}), 401, "PolicyDeny",
               "already completed its first boot");
  expect_resource(later, "default/fde/root", kSecret);
  ClientSession conflicting = attested_tdx_session_with_runtime_log(
      init_data, {first_boot_text(kFirstBootX), first_boot_text(kFirstBootY)});
  expect_resource(conflicting, "default/fde/root", kSecret);
  EXPECT_FALSE(
      std::filesystem::exists(options_.state_dir / "resources/default/fde/first-boot.json"));
}

// Only a verified record of a log replayed against the quote is a first boot: an event in RTMR3
// but not in the log refuses the attestation; evidence without a log shows no first boot (its GET
// is a normal unlock); a record whose data is not what its digest extended shows none either.
TEST_F(DevkbsTest, OnlyVerifiedReplayedRecordsAreFirstBoots) {
  const auto [path, url, init_data, record] = start_for_first_boot();
  auto parsed = kbs_client::parse_init_data(init_data);
  ASSERT_TRUE(parsed.ok());
  auto bound = kbs_client::init_data_register_value(*parsed, 48);
  ASSERT_TRUE(bound.ok());
  provision(kVmName);

  ClientSession mismatch = open_session("tdx");
  nlohmann::json with_event = tdx_evidence_with_runtime_log(padded(mismatch.digest),
                                                            {first_boot_text(kFirstBootX)}, *bound);
  with_event["cc_eventlog"] =
      tdx_evidence_with_runtime_log(padded(mismatch.digest), {}, *bound)["cc_eventlog"];
  expect_error(attest(mismatch, with_event, std::nullopt, init_data), 401, "AttestationError",
               "RTMR3");

  // A record claiming first boot X whose digest is that of another text: RTMR3 matches the log,
  // but the text is not what was extended.
  auto forged = measure::make_aael_record(first_boot_text(kFirstBootX));
  auto other = measure::make_aael_record("cc-fde unlock 1234 root");
  ASSERT_TRUE(forged.ok() && other.ok());
  std::copy(other->digest.begin(), other->digest.end(), forged->bytes.begin() + 14);
  forged->digest = other->digest;
  ClientSession forged_session = open_session("tdx");
  ASSERT_EQ(
      attest(forged_session,
             tdx_evidence_with_runtime_records(padded(forged_session.digest), {*forged}, *bound),
             std::nullopt, init_data)
          .status,
      200);
  EXPECT_FALSE(fetch_plaintext(forged_session, url).empty());
  EXPECT_EQ(file_text(record), "{\"established\":true}\n");

  ASSERT_TRUE(std::filesystem::remove(record));
  ClientSession unlogged = open_session("tdx");
  nlohmann::json evidence = tdx_evidence_with_runtime_log(padded(unlogged.digest),
                                                          {first_boot_text(kFirstBootX)}, *bound);
  evidence["cc_eventlog"] = nullptr;
  ASSERT_EQ(attest(unlogged, evidence, std::nullopt, init_data).status, 200);
  EXPECT_FALSE(fetch_plaintext(unlogged, url).empty());
  EXPECT_EQ(file_text(record), "{\"established\":true}\n");
}

TEST_F(DevkbsTest, InitDataThatIsNotInTheRegisterIsRefused) {
  start();
  const std::string init_data = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n";
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence_with_config_id(padded(session.digest), Bytes(48, 0)),
                      std::nullopt, init_data),
               401, "AttestationError", "but MRCONFIGID holds 0000");
}

TEST_F(DevkbsTest, InitDataOfAnotherFormatOrShapeIsRefused) {
  start();
  ClientSession session = open_session("tdx");
  auto body = kbs_client::make_attestation_request(session.key.public_jwk(), session.nonce,
                                                   tdx_evidence(padded(session.digest)));
  ASSERT_TRUE(body.ok());
  auto request = nlohmann::json::parse(*body);
  request["init-data"] = {{"format", "json"}, {"body", "{}"}};
  expect_error(send("POST", "/kbs/v0/attest", request.dump(), {{"Cookie", session.cookie}}), 401,
               "AttestationError", "Unsupported initdata format: json");

  ClientSession second = open_session("tdx");
  body = kbs_client::make_attestation_request(second.key.public_jwk(), second.nonce,
                                              tdx_evidence(padded(second.digest)));
  ASSERT_TRUE(body.ok());
  request = nlohmann::json::parse(*body);
  request["init-data"] = "version = \"0.1.0\"";
  expect_error(send("POST", "/kbs/v0/attest", request.dump(), {{"Cookie", second.cookie}}), 401,
               "AttestationError", "init-data must be an object");

  ClientSession third = open_session("tdx");
  expect_error(attest(third, tdx_evidence(padded(third.digest)), std::nullopt,
                      "version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n"),
               401, "AttestationError", "algorithm \"md5\"");
}

TEST_F(DevkbsTest, TdxQuoteWithoutEventLogIsAccepted) {
  start();
  ClientSession session = open_session("tdx");
  nlohmann::json evidence = tdx_evidence(padded(session.digest), 0, 2);
  evidence["cc_eventlog"] = nullptr;  // no log: nothing to replay, the quote alone counts
  EXPECT_EQ(attest(session, evidence).status, 200);
}

// The release window through the real request path: a root key released only during the
// initramfs unlock phase, a data-volume key only after it, decided by the phase-end event in the
// replayed runtime event log.
TEST_F(DevkbsTest, ReleaseWindowFollowsThePhaseEndEventInTheReplayedLog) {
  start();
  const auto rtmr = testing::replay_sample_events(testing::default_sample_events());
  const nlohmann::json pins = {{"rtmr1", hex_encode(rtmr[1])}, {"rtmr2", hex_encode(rtmr[2])}};
  set_policy(nlohmann::json{
      {"resources",
       {{"default/fde/root", {{"tees", {"tdx"}}, {"tdx", pins}, {"release_window", "initramfs"}}},
        {"default/fde/data",
         {{"tees", {"tdx"}}, {"tdx", pins}, {"release_window", "after_initramfs"}}}}}}
                 .dump());
  put_resource("default/fde/root", kSecret);
  put_resource("default/fde/data", "data volume key");
  const Reply stored = send("GET", "/kbs/v0/resource-policy", "", admin_headers());
  ASSERT_EQ(stored.status, 200);
  EXPECT_EQ(nlohmann::json::parse(stored.body)["resources"]["default/fde/root"]["release_window"],
            "initramfs");
  const std::string phase_end(measure::kPhaseEndEventText);
  // The record number of the second runtime record: after the header (0) and the firmware events.
  const std::size_t phase_end_record = testing::default_sample_events().size() + 2;

  // In the initramfs: a runtime record, but not the phase-end event.
  ClientSession initramfs = open_session("tdx");
  ASSERT_EQ(attest(initramfs, tdx_evidence_with_runtime_log(padded(initramfs.digest),
                                                            {"cc-fde unlock 1234 root"}))
                .status,
            200);
  expect_resource(initramfs, "default/fde/root", kSecret);
  expect_error(send("GET", "/kbs/v0/resource/default/fde/data", "", {{"Cookie", initramfs.cookie}}),
               401, "PolicyDeny",
               "resource default/fde/data is released only after the initramfs unlock phase, and "
               "the replayed runtime event log has no '" +
                   phase_end + "' event");

  // After switch-root: the phase-end event is in the log and in RTMR3.
  ClientSession booted = open_session("tdx");
  ASSERT_EQ(attest(booted, tdx_evidence_with_runtime_log(padded(booted.digest),
                                                         {"cc-fde unlock 1234 root", phase_end}))
                .status,
            200);
  expect_error(send("GET", "/kbs/v0/resource/default/fde/root", "", {{"Cookie", booted.cookie}}),
               401, "PolicyDeny",
               "resource default/fde/root is released only during the initramfs unlock phase, and "
               "the runtime event log shows '" +
                   phase_end + "' (RTMR3 event " + std::to_string(phase_end_record) + ")");
  expect_resource(booted, "default/fde/data", "data volume key");

  // No event log at all: neither window can be shown.
  ClientSession unlogged = open_session("tdx");
  nlohmann::json evidence = tdx_evidence_with_runtime_log(padded(unlogged.digest), {phase_end});
  evidence["cc_eventlog"] = nullptr;
  ASSERT_EQ(attest(unlogged, evidence).status, 200);
  expect_error(send("GET", "/kbs/v0/resource/default/fde/root", "", {{"Cookie", unlogged.cookie}}),
               401, "PolicyDeny", "the evidence has no runtime event log");
  expect_error(send("GET", "/kbs/v0/resource/default/fde/data", "", {{"Cookie", unlogged.cookie}}),
               401, "PolicyDeny", "the evidence has no runtime event log");
}

// A log that claims the phase-end event but whose RTMR3 does not carry it is refused at
// attestation, so the event cannot be hidden or faked by editing the log.
TEST_F(DevkbsTest, PhaseEndEventMustBeInRtmr3) {
  start();
  const std::string phase_end(measure::kPhaseEndEventText);
  ClientSession session = open_session("tdx");
  nlohmann::json with_event = tdx_evidence_with_runtime_log(padded(session.digest), {phase_end});
  const nlohmann::json without_event = tdx_evidence_with_runtime_log(padded(session.digest), {});
  // The log without the record next to a quote whose RTMR3 carries it.
  with_event["cc_eventlog"] = without_event["cc_eventlog"];
  expect_error(attest(session, with_event), 401, "AttestationError", "RTMR3");
}

TEST_F(DevkbsTest, RefusesTdxRtmrThatDisagreesWithEventLog) {
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest), 0, 2)), 401, "AttestationError",
               "cc_eventlog replay does not match the quote's RTMRs");
  ClientSession again = open_session("tdx");
  expect_error(attest(again, tdx_evidence(padded(again.digest), 0, 3)), 401, "AttestationError",
               "RTMR3");
}

TEST_F(DevkbsTest, RefusesTdxReportDataMismatch) {
  start();
  ClientSession session = open_session("tdx");
  auto report_data = padded(session.digest);
  report_data[63] = 1;  // the padding must be zero
  expect_error(attest(session, tdx_evidence(report_data)), 401, "AttestationError",
               "REPORTDATA " + hex_encode(report_data) + " does not bind the runtime data");
}

TEST_F(DevkbsTest, RefusesTdxQuoteOfUntrustedRoot) {
  start();
  const testing::SamplePckChain other = testing::build_sample_pck_chain();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest), 0, std::nullopt, &other)), 401,
               "AttestationError", "TDX quote verification");
}

TEST_F(DevkbsTest, ProductionRootRefusesTestQuotes) {
  options_.tdx_root_pem.clear();
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest))), 401, "AttestationError",
               "TDX quote verification");
}

TEST_F(DevkbsTest, TdxCollateralWithAnUpToDateTcbIsAccepted) {
  options_.tdx_collateral = collateral_for({});
  start();
  ClientSession session = open_session("tdx");
  EXPECT_EQ(attest(session, tdx_evidence(padded(session.digest))).status, 200);
}

TEST_F(DevkbsTest, TdxCollateralRefusesARevokedPckCertificate) {
  testing::SampleCollateralSpec spec;
  spec.revoke_pck = true;
  options_.tdx_collateral = collateral_for(spec);
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest))), 401, "AttestationError",
               "TDX collateral (certificate_revoked): PCK certificate 'Intel SGX PCK Certificate'");
}

TEST_F(DevkbsTest, TdxCollateralRefusesAnOutOfDateTcbByDefault) {
  testing::SampleCollateralSpec spec;
  spec.newer_level_first = true;
  spec.platform_status = "OutOfDate";
  options_.tdx_collateral = collateral_for(spec);
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest))), 401, "AttestationError",
               "TDX collateral policy: TDX TCB status OutOfDate is not accepted");
}

TEST_F(DevkbsTest, TdxCollateralAcceptsAListedStatus) {
  testing::SampleCollateralSpec spec;
  spec.newer_level_first = true;
  spec.platform_status = "OutOfDate";
  options_.tdx_collateral = collateral_for(spec);
  options_.tdx_tcb_policy.accepted = {measure::TcbStatus::kUpToDate,
                                      measure::TcbStatus::kOutOfDate};
  start();
  ClientSession session = open_session("tdx");
  EXPECT_EQ(attest(session, tdx_evidence(padded(session.digest))).status, 200);
}

TEST_F(DevkbsTest, TdxCollateralOfAnotherPlatformIsRefused) {
  testing::SampleCollateralSpec spec;
  spec.fmspc = {0x50, 0x80, 0x6f, 0x00, 0x00, 0x00};
  options_.tdx_collateral = collateral_for(spec);
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, tdx_evidence(padded(session.digest))), 401, "AttestationError",
               "TDX collateral (collateral_mismatch)");
}

TEST_F(DevkbsTest, RefusesTdxGarbage) {
  start();
  ClientSession session = open_session("tdx");
  expect_error(attest(session, {{"quote", base64_encode(Bytes(100, 0x04))}}), 401,
               "AttestationError", "TDX quote");
  ClientSession second = open_session("tdx");
  nlohmann::json evidence = tdx_evidence(padded(second.digest));
  evidence["cc_eventlog"] = base64_encode(Bytes(10, 0x00));
  expect_error(attest(second, evidence), 401, "AttestationError", "cc_eventlog");
}

TEST_F(DevkbsTest, DebugTdIsDeniedUnlessPolicyAllows) {
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["tdx"]}}})");
  ClientSession session = open_session("tdx");
  ASSERT_EQ(attest(session, tdx_evidence(padded(session.digest), 1)).status, 200);
  const std::string path = std::string("/kbs/v0/resource/") + kResourcePath;
  expect_error(send("GET", path, "", {{"Cookie", session.cookie}}), 401, "PolicyDeny",
               "debug mode");
  set_policy(R"({"resources": {"*": {"tees": ["tdx"], "allow_debug": true}}})");
  expect_resource(session, kResourcePath, kSecret);
}

TEST_F(DevkbsTest, PolicyDenials) {
  start();
  put_resource(kResourcePath, kSecret);
  const std::string path = std::string("/kbs/v0/resource/") + kResourcePath;
  ClientSession session = open_session("tdx");
  ASSERT_EQ(attest(session, tdx_evidence(padded(session.digest))).status, 200);
  const httplib::Headers cookie = {{"Cookie", session.cookie}};

  // No policy at all: denied.
  expect_error(send("GET", path, "", cookie), 401, "PolicyDeny", "no policy entry");
  // TEE not listed.
  set_policy(R"({"resources": {"default/fde/disk-key": {"tees": ["snp", "sample"]}}})");
  expect_error(send("GET", path, "", cookie), 401, "PolicyDeny", "TEE tdx may not fetch");
  // A reference value that differs.
  set_policy(nlohmann::json{
      {"resources",
       {{kResourcePath, {{"tees", {"tdx"}}, {"tdx", {{"mr_td", std::string(96, '3')}}}}}}}}
                 .dump());
  expect_error(send("GET", path, "", cookie), 401, "PolicyDeny",
               "tdx mr_td is " + std::string(96, '2'));
}

TEST_F(DevkbsTest, MissingResourceAfterPolicy) {
  start();
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  ClientSession session = open_session("sample");
  ASSERT_EQ(attest(session, sample_evidence(session.digest)).status, 200);
  expect_error(send("GET", "/kbs/v0/resource/default/fde/absent", "", {{"Cookie", session.cookie}}),
               401, "PluginInternalError", "resource default/fde/absent not found");
  expect_error(send("GET", "/kbs/v0/resource/default/.hidden/x", "", {{"Cookie", session.cookie}}),
               401, "PluginInternalError", "Plugin internal error");
}

TEST_F(DevkbsTest, AdminApiNeedsTheToken) {
  start();
  const std::string path = std::string("/kbs/v0/resource/") + kResourcePath;
  expect_error(send("POST", path, kSecret), 401, "AdminAuthAccess", "Bearer <admin token>");
  expect_error(send("POST", path, kSecret, admin_headers("wrong")), 401, "AdminAuthAccess",
               "does not match");
  expect_error(send("POST", path, kSecret, admin_headers(std::string(kAdminToken) + "x")), 401,
               "AdminAuthAccess", "does not match");
  expect_error(send("POST", "/kbs/v0/resource-policy", R"({"resources": {}})",
                    {{"Authorization", "Basic abc"}}),
               401, "AdminAuthAccess", "does not match");
  expect_error(send("GET", "/kbs/v0/resource-policy"), 401, "AdminAuthAccess", "required");
  expect_error(send("DELETE", path), 401, "AdminAuthAccess", "required");
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "resources/default/fde/disk-key"));
}

TEST_F(DevkbsTest, AdminDeleteAndPolicyValidation) {
  start();
  const std::string path = std::string("/kbs/v0/resource/") + kResourcePath;
  put_resource(kResourcePath, kSecret);
  EXPECT_EQ(send("DELETE", path, "", admin_headers()).status, 200);
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir / "resources/default/fde/disk-key"));
  expect_error(send("DELETE", path, "", admin_headers()), 401, "PluginInternalError", "not found");
  expect_error(send("POST", "/kbs/v0/resource/a/b", "x", admin_headers()), 401,
               "PluginInternalError", "Plugin internal error");
  expect_error(send("POST", "/kbs/v0/resource-policy", "{", admin_headers()), 401,
               "ParsePolicyError", "not JSON");
  expect_error(send("POST", "/kbs/v0/resource-policy", R"({"resources": {"*": {"tees": ["sgx"]}}})",
                    admin_headers()),
               401, "ParsePolicyError", "unknown TEE");
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  const Reply policy = send("GET", "/kbs/v0/resource-policy", "", admin_headers());
  ASSERT_EQ(policy.status, 200);
  EXPECT_EQ(nlohmann::json::parse(policy.body)["resources"]["*"]["tees"],
            nlohmann::json::array({"sample"}));
}

TEST_F(DevkbsTest, StatePersistsAcrossRestarts) {
  start();
  put_resource(kResourcePath, kSecret);
  set_policy(R"({"resources": {"*": {"tees": ["sample"]}}})");
  const auto ca_before = read_file(tls_.ca_certificate);
  ASSERT_TRUE(ca_before.ok());
  client_.reset();
  server_->stop();
  server_.reset();
  broker_.reset();

  start();
  const auto ca_after = read_file(tls_.ca_certificate);
  ASSERT_TRUE(ca_after.ok());
  EXPECT_EQ(*ca_before, *ca_after);
  ClientSession session = open_session("sample");
  ASSERT_EQ(attest(session, sample_evidence(session.digest)).status, 200);
  expect_resource(session, kResourcePath, kSecret);
}

TEST_F(DevkbsTest, UnknownPathsAndPlugins) {
  start();
  expect_error(send("GET", "/kbs/v0/nebula-ca/x"), 404, "PluginNotFound", "nebula-ca");
  expect_error(send("GET", "/kbs/v0/auth"), 404, "InvalidRequestPath", "GET");
  const Reply outside = send("GET", "/metrics");
  EXPECT_EQ(outside.status, 404);
}

TEST_F(DevkbsTest, SnpEvidenceIsVerifiedBeforeTheBindingCheck) {
  CCFDE_LOAD_TESTDATA(evidence_text, "trustee/attestation-service/tests/e2e/evidence.json");
  CCFDE_LOAD_TESTDATA(ca_pem, "go-sev-guest/ask_ark_genoa.pem");
  options_.snp_ca_pem = std::string(as_chars(ca_pem));
  start();
  const auto evidence = nlohmann::json::parse(evidence_text.begin(), evidence_text.end());
  // The real Genoa report verifies through its VCEK and the Genoa ASK/ARK, then its REPORT_DATA
  // (bound to another session long ago) is refused.
  ClientSession session = open_session("snp");
  expect_error(
      attest(session, evidence), 401, "AttestationError",
      "REPORT_DATA " + hex_encode(Bytes(evidence["attestation_report"]["report_data"].begin(),
                                        evidence["attestation_report"]["report_data"].end())));
  ClientSession second = open_session("snp");
  nlohmann::json without_vcek = evidence;
  without_vcek["cert_chain"] = nullptr;
  expect_error(attest(second, without_vcek), 401, "AttestationError", "no VCEK or VLEK");
}

// The TEST ONLY trust of the --snp-ca ARK: it needs a CA, and then replaces the pinned ARKs.
TEST_F(DevkbsTest, UnpinnedTestSnpCaReplacesThePinnedArks) {
  options_.snp_ca_unpinned_test_only = true;
  auto refused = Broker::create(options_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("TEST ONLY"));

  CCFDE_LOAD_TESTDATA(evidence_text, "trustee/attestation-service/tests/e2e/evidence.json");
  CCFDE_LOAD_TESTDATA(milan_pem, "virtee-sev/cert_chain_milan");
  // ARK-Milan trusted for every product: the Genoa report's ARK check passes (without the option
  // it fails: "expected the pinned ARK-Genoa"), and its Genoa VCEK is then not signed by the
  // Milan ASK.
  options_.snp_ca_pem = std::string(as_chars(milan_pem));
  start();
  const auto evidence = nlohmann::json::parse(evidence_text.begin(), evidence_text.end());
  ClientSession session = open_session("snp");
  expect_error(attest(session, evidence), 401, "AttestationError", "VCEK/VLEK by ASK");
}

TEST_F(DevkbsTest, PinnedArkOfAnotherProductIsRefusedWithoutTheTestOption) {
  CCFDE_LOAD_TESTDATA(evidence_text, "trustee/attestation-service/tests/e2e/evidence.json");
  CCFDE_LOAD_TESTDATA(milan_pem, "virtee-sev/cert_chain_milan");
  options_.snp_ca_pem = std::string(as_chars(milan_pem));
  start();
  const auto evidence = nlohmann::json::parse(evidence_text.begin(), evidence_text.end());
  ClientSession session = open_session("snp");
  expect_error(attest(session, evidence), 401, "AttestationError", "expected the pinned ARK-Genoa");
}

TEST_F(DevkbsTest, FailFirstAnswers503ThenServes) {
  ServerOptions server_options;
  server_options.fail_first = 2;
  start(server_options);
  for (int i = 0; i < 2; ++i) {
    const Reply reply = auth("sample");
    EXPECT_EQ(reply.status, 503);
    EXPECT_EQ(reply.header("Retry-After"), "1");
  }
  EXPECT_EQ(auth("sample").status, 200);
}

TEST_F(DevkbsTest, DelayHookSlowsResponses) {
  ServerOptions server_options;
  server_options.delay = std::chrono::milliseconds(300);
  start(server_options);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(auth("sample").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(300));
}

TEST_F(DevkbsTest, ClientWithoutTheCaFailsAndLocalhostNameVerifies) {
  start();
  httplib::SSLClient untrusting("127.0.0.1", server_->port());
  untrusting.set_ca_cert_path("/nonexistent-ca.pem");
  untrusting.enable_server_certificate_verification(true);
  EXPECT_FALSE(untrusting.Get("/kbs/v0/auth"));

  httplib::SSLClient by_name("localhost", server_->port());
  by_name.set_ca_cert_path(tls_.ca_certificate.c_str());
  by_name.enable_server_certificate_verification(true);
  const auto result =
      by_name.Post("/kbs/v0/auth", R"({"version":"0.4.0","tee":"sample"})", "application/json");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
}

TEST(DevkbsServerTest, RefusesNonLoopbackWithoutListenAny) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.8.9.10"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("example.com"));

  testing::TempDir dir;
  BrokerOptions options;
  options.state_dir = dir.path();
  options.admin_token = "t";
  auto broker = Broker::create(options);
  ASSERT_TRUE(broker.ok());
  ServerOptions server_options;
  server_options.host = "0.0.0.0";
  server_options.certificate = dir.path() / "server.pem";
  server_options.private_key = dir.path() / "server-key.pem";
  auto server = Server::start(**broker, server_options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("--listen-any"), std::string::npos);
}

TEST(DevkbsBrokerTest, RequiresAnAdminToken) {
  testing::TempDir dir;
  BrokerOptions options;
  options.state_dir = dir.path();
  auto broker = Broker::create(options);
  ASSERT_FALSE(broker.ok());
  EXPECT_EQ(broker.status().code(), ErrorCode::kInvalidArgument);
}

TEST(DevkbsBrokerTest, RefusesDamagedPolicyFile) {
  testing::TempDir dir;
  { std::ofstream(dir.path() / "policy.json") << R"({"resources": {"*": {"tees": ["x"]}}})"; }
  BrokerOptions options;
  options.state_dir = dir.path();
  options.admin_token = "t";
  auto broker = Broker::create(options);
  ASSERT_FALSE(broker.ok());
  EXPECT_NE(broker.status().message().find("unknown TEE"), std::string::npos);
}

}  // namespace
}  // namespace ccfde::devkbs

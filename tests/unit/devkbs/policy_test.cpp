// SPDX-License-Identifier: Apache-2.0
#include "ccfde/devkbs/policy.h"

#include <gtest/gtest.h>

#include "ccfde/common/digest.h"
#include "ccfde/devkbs/first_boot.h"
#include "ccfde/measure/runtime_event.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/testing/sample_evidence.h"

namespace ccfde::devkbs {
namespace {

std::string repeat(const std::string& text, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += text;
  return out;
}

// 48 bytes of hex. Functions, so that no std::string is built during static initialisation.
std::string hex48(char digit) {
  return std::string(96, digit);
}

TEST(ResourcePolicyTest, ParsesAndRoundTrips) {
  const auto document = nlohmann::json::parse(R"({"resources": {
      "default/fde/disk-key": {"tees": ["tdx", "snp"], "allow_debug": true,
                               "tdx": {"mr_td": ")" +
                                              hex48('a') + R"(", "rtmr3": ")" + hex48('b') +
                                              R"("},
                               "snp": {"host_data": ")" +
                                              std::string(64, '0') + R"("}},
      "*": {"tees": ["sample"]}}})");
  auto policy = parse_resource_policy(document);
  ASSERT_TRUE(policy.ok()) << policy.status().to_string();
  ASSERT_EQ(policy->resources.size(), 2u);
  const auto& entry = policy->resources.at("default/fde/disk-key");
  EXPECT_EQ(entry.tees,
            (std::vector<measure::TeeKind>{measure::TeeKind::kTdx, measure::TeeKind::kSnp}));
  EXPECT_TRUE(entry.allow_debug);
  EXPECT_EQ(entry.reference_values.at(measure::TeeKind::kTdx).at("mr_td"),
            std::vector<Bytes>{Bytes(48, 0xaa)});
  EXPECT_EQ(entry.reference_values.at(measure::TeeKind::kSnp).at("host_data"),
            std::vector<Bytes>{Bytes(32, 0x00)});
  EXPECT_FALSE(policy->resources.at("*").allow_debug);

  auto again = parse_resource_policy(to_json(*policy));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json(*again), to_json(*policy));
}

TEST(ResourcePolicyTest, RejectsBadDocuments) {
  const std::string second_not_hex =
      R"({"resources": {"a/b/c": {"tdx": {"rtmr2": [")" + hex48('a') + R"(", "abcd"]}}}})";
  struct Case {
    const char* json;
    const char* message_part;
  };
  const Case cases[] = {
      {R"([])", "expected"},
      {R"({"resources": {}, "extra": 1})", "unknown member \"extra\""},
      {R"({"resources": {"a/b/c": {"tees": ["sgx"]}}})", "unknown TEE \"sgx\""},
      {R"({"resources": {"a/b/c": {"tees": ["none"]}}})", "unknown TEE \"none\""},
      {R"({"resources": {"a/b/c": {"tees": ["Tdx"]}}})", "unknown TEE \"Tdx\""},
      {R"({"resources": {"a/b/c": {"tees": [7]}}})", "unknown TEE 7"},
      {R"({"resources": {"a/b/c": {"sample": {}}}})", "unknown member \"sample\""},
      {R"({"resources": {"a/b/c": {"none": {}}}})", "unknown member \"none\""},
      {R"({"resources": {"a/b/c": {"tees": "tdx"}}})", "\"tees\" must be an array"},
      {R"({"resources": {"a/b/c": {"allow_debug": 1}}})", "\"allow_debug\" must be a boolean"},
      {R"({"resources": {"a/b/c": {"tdx": {"measurement": "00"}}}})",
       "unknown tdx reference value \"measurement\""},
      {R"({"resources": {"a/b/c": {"tdx": {"rtmr0": "abcd"}}}})", "must be 48 bytes of hex"},
      {R"({"resources": {"a/b/c": {"snp": {"host_data": "zz"}}}})", "must be 32 bytes of hex"},
      {R"({"resources": {"a/b/c": {"colour": "red"}}})", "unknown member \"colour\""},
      {R"({"resources": {"a/b/c": {"release_window": "sometime"}}})",
       "policy for \"a/b/c\": unknown release_window \"sometime\""},
      {R"({"resources": {"a/b/c": {"release_window": "Initramfs"}}})",
       "unknown release_window \"Initramfs\" (expected \"initramfs\" or \"after_initramfs\")"},
      {R"({"resources": {"a/b/c": {"release_window": true}}})", "unknown release_window true"},
      {R"({"resources": {"a/b/c": {"release_window": ""}}})", "unknown release_window \"\""},
      {R"({"resources": {"a/b/c": {"init_data": ["x"]}}})", "\"init_data\" must be an object"},
      {R"({"resources": {"a/b/c": {"init_data": {"k": 1}}}})", "init_data.k must be a string"},
      {R"({"resources": {"a/b/c": {"tdx": {"mr_config_id": "00"}}}})", "must be 48 bytes of hex"},
      {R"({"resources": {"a/b/c": {"tdx": {"rtmr2": []}}}})",
       "tdx.rtmr2 must be a hex string or a non-empty array of them"},
      {R"({"resources": {"a/b/c": {"tdx": {"rtmr2": 7}}}})",
       "tdx.rtmr2 must be a hex string or a non-empty array of them"},
      {second_not_hex.c_str(), "tdx.rtmr2[1] must be 48 bytes of hex"},
      {R"({"resources": {"a/b/c": {"snp": {"measurement": [null]}}}})",
       "snp.measurement[0] must be 48 bytes of hex"},
  };
  for (const auto& c : cases) {
    auto policy = parse_resource_policy(nlohmann::json::parse(c.json));
    ASSERT_FALSE(policy.ok()) << c.json;
    EXPECT_EQ(policy.status().code(), ErrorCode::kInvalidArgument) << c.json;
    EXPECT_NE(policy.status().message().find(c.message_part), std::string::npos)
        << c.json << " -> " << policy.status().message();
  }
}

ResourcePolicy tdx_policy(bool allow_debug) {
  ResourcePolicy policy;
  ResourcePolicyEntry entry;
  entry.tees = {measure::TeeKind::kTdx};
  entry.allow_debug = allow_debug;
  entry.reference_values[measure::TeeKind::kTdx]["rtmr1"] = {Bytes(48, 0x01)};
  policy.resources["r/t/g"] = entry;
  return policy;
}

AttestedClaims tdx_claims(bool debug, std::uint8_t rtmr1) {
  AttestedClaims claims;
  claims.tee = measure::TeeKind::kTdx;
  claims.debug = debug;
  claims.values["rtmr1"] = Bytes(48, rtmr1);
  claims.values["mr_td"] = Bytes(48, 0x22);
  return claims;
}

TEST(ResourcePolicyTest, AllowsMatchingGuest) {
  EXPECT_TRUE(evaluate_resource_policy(tdx_policy(false), "r/t/g", tdx_claims(false, 1)).ok());
}

TEST(ResourcePolicyTest, DeniesUnknownPathWithoutWildcard) {
  const Status status =
      evaluate_resource_policy(tdx_policy(false), "r/t/other", tdx_claims(false, 1));
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("no policy entry for resource r/t/other"), std::string::npos);
}

TEST(ResourcePolicyTest, WildcardAppliesToOtherPaths) {
  ResourcePolicy policy = tdx_policy(false);
  policy.resources["*"].tees = {measure::TeeKind::kSample};
  AttestedClaims sample;
  sample.tee = measure::TeeKind::kSample;
  EXPECT_TRUE(evaluate_resource_policy(policy, "x/y/z", sample).ok());
  // An own entry wins over the wildcard.
  EXPECT_EQ(evaluate_resource_policy(policy, "r/t/g", sample).code(), ErrorCode::kPolicyDenied);
}

TEST(ResourcePolicyTest, DeniesOtherTee) {
  AttestedClaims snp;
  snp.tee = measure::TeeKind::kSnp;
  const Status status = evaluate_resource_policy(tdx_policy(false), "r/t/g", snp);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("TEE snp may not fetch resource r/t/g"), std::string::npos);
}

TEST(ResourcePolicyTest, DeniesDebugUnlessAllowed) {
  const Status status = evaluate_resource_policy(tdx_policy(false), "r/t/g", tdx_claims(true, 1));
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("debug"), std::string::npos);
  EXPECT_TRUE(evaluate_resource_policy(tdx_policy(true), "r/t/g", tdx_claims(true, 1)).ok());
}

TEST(ResourcePolicyTest, DeniesReferenceValueMismatchNamingIt) {
  const Status status = evaluate_resource_policy(tdx_policy(false), "r/t/g", tdx_claims(false, 2));
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("tdx rtmr1 is " + repeat("02", 48)), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("requires " + repeat("01", 48)), std::string::npos);
}

TEST(ResourcePolicyTest, AnArrayAcceptsAnyOfItsValuesAndRoundTrips) {
  const auto document = nlohmann::json::parse(
      R"({"resources": {"r/t/g": {"tees": ["tdx"], "tdx": {"rtmr1": [")" + repeat("01", 48) +
      R"(", ")" + repeat("03", 48) + R"("], "mr_td": [")" + repeat("22", 48) + R"("]}}}})");
  auto policy = parse_resource_policy(document);
  ASSERT_TRUE(policy.ok()) << policy.status().to_string();
  EXPECT_TRUE(evaluate_resource_policy(*policy, "r/t/g", tdx_claims(false, 1)).ok());
  EXPECT_TRUE(evaluate_resource_policy(*policy, "r/t/g", tdx_claims(false, 3)).ok());
  const Status status = evaluate_resource_policy(*policy, "r/t/g", tdx_claims(false, 2));
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("tdx rtmr1 is " + repeat("02", 48) + ", the policy requires " +
                                  repeat("01", 48) + " or " + repeat("03", 48)),
            std::string::npos)
      << status.message();
  // One accepted value is written back as a string, several as an array.
  const nlohmann::json written = to_json(*policy);
  EXPECT_TRUE(written["resources"]["r/t/g"]["tdx"]["rtmr1"].is_array());
  EXPECT_EQ(written["resources"]["r/t/g"]["tdx"]["mr_td"], repeat("22", 48));
  auto again = parse_resource_policy(written);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json(*again), written);
}

TEST(ResourcePolicyTest, NamesEveryDifferingReferenceValue) {
  ResourcePolicy policy = tdx_policy(false);
  policy.resources["r/t/g"].reference_values[measure::TeeKind::kTdx]["mr_td"] = {Bytes(48, 0x22)};
  policy.resources["r/t/g"].reference_values[measure::TeeKind::kTdx]["rtmr2"] = {Bytes(48, 0x05)};
  AttestedClaims claims = tdx_claims(false, 2);
  claims.values["rtmr2"] = Bytes(48, 0x06);
  const Status status = evaluate_resource_policy(policy, "r/t/g", claims);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_EQ(status.message(), "Access denied by policy: tdx rtmr1 is " + repeat("02", 48) +
                                  ", the policy requires " + repeat("01", 48) + "; tdx rtmr2 is " +
                                  repeat("06", 48) + ", the policy requires " + repeat("05", 48));
}

TEST(ResourcePolicyTest, DeniesAbsentReferenceValue) {
  AttestedClaims claims = tdx_claims(false, 1);
  claims.values.erase("rtmr1");
  const Status status = evaluate_resource_policy(tdx_policy(false), "r/t/g", claims);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("rtmr1 is absent"), std::string::npos);
}

TEST(ResourcePolicyTest, InitDataClaimsMustMatchExactly) {
  ResourcePolicy policy = tdx_policy(false);
  policy.resources["r/t/g"].init_data["trustee.kbs.resource"] = "kbs+provisioner:///default/u/root";
  AttestedClaims claims = tdx_claims(false, 0x01);
  auto denied = evaluate_resource_policy(policy, "r/t/g", claims);
  EXPECT_EQ(denied.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(denied.message().find("sent no init-data"), std::string::npos) << denied.message();

  claims.init_data.emplace();
  denied = evaluate_resource_policy(policy, "r/t/g", claims);
  EXPECT_NE(denied.message().find("is absent"), std::string::npos) << denied.message();

  (*claims.init_data)["trustee.kbs.resource"] = "kbs+provisioner:///default/other/root";
  denied = evaluate_resource_policy(policy, "r/t/g", claims);
  EXPECT_EQ(denied.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(denied.message().find("default/other/root"), std::string::npos) << denied.message();

  (*claims.init_data)["trustee.kbs.resource"] = "kbs+provisioner:///default/u/root";
  (*claims.init_data)["unrelated"] = "anything";
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", claims).ok());
}

TEST(ResourcePolicyTest, ParsesReleaseWindowsAndRoundTrips) {
  const auto document = nlohmann::json::parse(R"({"resources": {
      "default/fde/root": {"tees": ["tdx", "snp"], "release_window": "initramfs"},
      "default/fde/data": {"tees": ["tdx"], "release_window": "after_initramfs"},
      "default/fde/any": {"tees": ["tdx"]}}})");
  auto policy = parse_resource_policy(document);
  ASSERT_TRUE(policy.ok()) << policy.status().to_string();
  EXPECT_EQ(policy->resources.at("default/fde/root").release_window, ReleaseWindow::kInitramfs);
  EXPECT_EQ(policy->resources.at("default/fde/data").release_window,
            ReleaseWindow::kAfterInitramfs);
  EXPECT_EQ(policy->resources.at("default/fde/any").release_window, ReleaseWindow::kAny);

  const nlohmann::json json = to_json(*policy);
  EXPECT_EQ(json["resources"]["default/fde/root"]["release_window"], "initramfs");
  EXPECT_EQ(json["resources"]["default/fde/data"]["release_window"], "after_initramfs");
  EXPECT_FALSE(json["resources"]["default/fde/any"].contains("release_window"));
  auto again = parse_resource_policy(json);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  for (const auto& [path, entry] : policy->resources) {
    EXPECT_EQ(again->resources.at(path).release_window, entry.release_window) << path;
  }
  EXPECT_EQ(to_json(*again), json);
}

ResourcePolicy window_policy(ReleaseWindow window) {
  ResourcePolicy policy;
  ResourcePolicyEntry entry;
  entry.tees = {measure::TeeKind::kTdx, measure::TeeKind::kSnp, measure::TeeKind::kSample};
  entry.reference_values[measure::TeeKind::kTdx]["rtmr1"] = {Bytes(48, 0x01)};
  entry.release_window = window;
  policy.resources["r/t/g"] = entry;
  return policy;
}

// TDX claims after a replayed log; `phase_end` is the record number of the phase-end event.
AttestedClaims replayed_tdx_claims(std::optional<std::size_t> phase_end) {
  AttestedClaims claims = tdx_claims(false, 1);
  claims.event_log_replayed = true;
  claims.phase_end_event = phase_end;
  return claims;
}

AttestedClaims snp_claims(std::uint8_t report_id) {
  AttestedClaims claims;
  claims.tee = measure::TeeKind::kSnp;
  claims.values["measurement"] = Bytes(48, 0x33);
  claims.snp_report_id = Bytes(32, report_id);
  return claims;
}

void expect_denied(const Status& status, const std::string& part) {
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied) << status.to_string();
  EXPECT_NE(status.message().find(part), std::string::npos)
      << status.message() << "\nexpected to contain: " << part;
}

TEST(ResourcePolicyWindowTest, InitramfsWindowClosesAtThePhaseEndEvent) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kInitramfs);
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(std::nullopt)).ok());
  expect_denied(
      evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(9)),
      "resource r/t/g is released only during the initramfs unlock phase, and the runtime event "
      "log shows '" +
          std::string(measure::kPhaseEndEventText) + "' (RTMR3 event 9)");
}

TEST(ResourcePolicyWindowTest, InitramfsWindowNeedsAReplayedLog) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kInitramfs);
  // Without a replayed log nothing shows the phase is open, even with no phase event recorded.
  AttestedClaims claims = tdx_claims(false, 1);
  expect_denied(evaluate_resource_policy(policy, "r/t/g", claims),
                "cannot show that the initramfs unlock phase is still open: the evidence has no "
                "runtime event log");
  AttestedClaims sample;
  sample.tee = measure::TeeKind::kSample;
  expect_denied(evaluate_resource_policy(policy, "r/t/g", sample),
                "sample evidence has no event log to show that the phase is still open");
}

TEST(ResourcePolicyWindowTest, AfterInitramfsWindowNeedsThePhaseEndEvent) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kAfterInitramfs);
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(9)).ok());
  expect_denied(evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(std::nullopt)),
                "resource r/t/g is released only after the initramfs unlock phase, and the "
                "replayed runtime event log has no '" +
                    std::string(measure::kPhaseEndEventText) + "' event");
  expect_denied(evaluate_resource_policy(policy, "r/t/g", tdx_claims(false, 1)),
                "the evidence has no runtime event log to show '" +
                    std::string(measure::kPhaseEndEventText) + "'");
  SnpLaunchWindows launches;
  expect_denied(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s1"),
                "SEV-SNP evidence has no runtime-extendable register");
  EXPECT_EQ(launches.size(), 0u);
  AttestedClaims sample;
  sample.tee = measure::TeeKind::kSample;
  expect_denied(evaluate_resource_policy(policy, "r/t/g", sample),
                "sample evidence has no event log to show '" +
                    std::string(measure::kPhaseEndEventText) + "'");
}

TEST(ResourcePolicyWindowTest, AbsentWindowChecksNothing) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kAny);
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(9)).ok());
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", replayed_tdx_claims(std::nullopt)).ok());
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", tdx_claims(false, 1)).ok());
  SnpLaunchWindows launches;
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s1").ok());
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s2").ok());
  EXPECT_EQ(launches.size(), 0u);
}

TEST(ResourcePolicyWindowTest, ReferenceValuesAreCheckedBeforeTheWindow) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kInitramfs);
  AttestedClaims claims = replayed_tdx_claims(std::nullopt);
  claims.values["rtmr1"] = Bytes(48, 0x02);
  expect_denied(evaluate_resource_policy(policy, "r/t/g", claims), "tdx rtmr1 is");
  // A denied SNP request does not open the launch's window for its session.
  ResourcePolicy snp_policy = window_policy(ReleaseWindow::kInitramfs);
  snp_policy.resources["r/t/g"].reference_values[measure::TeeKind::kSnp]["measurement"] = {
      Bytes(48, 0x44)};
  SnpLaunchWindows launches;
  expect_denied(evaluate_resource_policy(snp_policy, "r/t/g", snp_claims(1), &launches, "s1"),
                "snp measurement is");
  EXPECT_EQ(launches.size(), 0u);
}

TEST(ResourcePolicyWindowTest, SnpInitramfsWindowIsTheFirstSessionOfTheLaunch) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kInitramfs);
  SnpLaunchWindows launches;
  // First session of launch 0x01..: released, as often as it asks.
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s1").ok());
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s1").ok());
  EXPECT_EQ(launches.session_of(Bytes(32, 1)), "s1");
  // A later session of the same launch: refused, naming the launch.
  expect_denied(evaluate_resource_policy(policy, "r/t/g", snp_claims(1), &launches, "s2"),
                "already released to launch REPORT_ID " + repeat("01", 32) +
                    " in an earlier session; a later request of the same launch comes after the "
                    "initramfs");
  // Another launch has its own window.
  EXPECT_TRUE(evaluate_resource_policy(policy, "r/t/g", snp_claims(2), &launches, "s2").ok());
  expect_denied(evaluate_resource_policy(policy, "r/t/g", snp_claims(2), &launches, "s1"),
                "launch REPORT_ID " + repeat("02", 32));
  EXPECT_EQ(launches.size(), 2u);
}

TEST(ResourcePolicyWindowTest, SnpInitramfsWindowRefusesWhatItCannotBound) {
  const ResourcePolicy policy = window_policy(ReleaseWindow::kInitramfs);
  SnpLaunchWindows launches;
  expect_denied(evaluate_resource_policy(policy, "r/t/g", snp_claims(1)),
                "keeps no per-launch record for SEV-SNP");
  AttestedClaims migratable = snp_claims(1);
  migratable.snp_migrate_ma = true;
  expect_denied(evaluate_resource_policy(policy, "r/t/g", migratable, &launches, "s1"),
                "POLICY.MIGRATE_MA");
  AttestedClaims no_id = snp_claims(1);
  no_id.snp_report_id.clear();
  expect_denied(evaluate_resource_policy(policy, "r/t/g", no_id, &launches, "s1"), "no REPORT_ID");
  EXPECT_EQ(launches.size(), 0u);
}

// docs/BROKER-POLICY.md's Trustee policy matches the phase-end record by this digest (SHA-384 of
// the AAEL event data, computed independently with Python's hashlib).
TEST(ResourcePolicyWindowTest, PhaseEndDigestIsTheDocumentedConstant) {
  auto record = measure::make_aael_record(measure::kPhaseEndEventText);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(
      hex_encode(record->digest),
      "1f48a709a249b3796b1beeddaba1765a90caff5c145c956f285551c8a232169d53713101b1d20572de234a2e"
      "69215bdd");
}

TEST(SnpLaunchWindowsTest, KeepsTheMostRecentLaunches) {
  SnpLaunchWindows launches(2);
  EXPECT_TRUE(launches.claim(Bytes(32, 1), "s1", "r/t/g").ok());
  EXPECT_TRUE(launches.claim(Bytes(32, 2), "s2", "r/t/g").ok());
  EXPECT_EQ(launches.claim(Bytes(32, 1), "s9", "r/t/g").code(), ErrorCode::kPolicyDenied);
  EXPECT_TRUE(launches.claim(Bytes(32, 3), "s3", "r/t/g").ok());
  EXPECT_EQ(launches.size(), 2u);
  // Launch 1 was the oldest record and is forgotten (its window reopens); 2 and 3 are kept.
  EXPECT_EQ(launches.session_of(Bytes(32, 1)), std::nullopt);
  EXPECT_EQ(launches.claim(Bytes(32, 2), "s9", "r/t/g").code(), ErrorCode::kPolicyDenied);
  EXPECT_EQ(launches.claim(Bytes(32, 3), "s9", "r/t/g").code(), ErrorCode::kPolicyDenied);
  EXPECT_TRUE(launches.claim(Bytes(32, 1), "s9", "r/t/g").ok());
  EXPECT_EQ(launches.session_of(Bytes(32, 2)), std::nullopt);
}

TEST(SnpLaunchWindowsTest, RefusesEmptyIds) {
  SnpLaunchWindows launches;
  EXPECT_EQ(launches.claim(Bytes(), "s1", "r/t/g").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(launches.claim(Bytes(32, 1), "", "r/t/g").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(launches.size(), 0u);
}

constexpr char kIdX[] = "0123456789abcdef0123456789abcdef";
constexpr char kIdY[] = "fedcba9876543210fedcba9876543210";
constexpr char kIdZ[] = "00000000000000000000000000000000";

std::string first_boot(const std::string& id) {
  return std::string(measure::kFirstBootEventPrefix) + id;
}

// An AAEL record of `text` for the register with CC MR index `mr_index`, whose SHA-384 digest is
// that of the AAEL data of `digested` (of `text` itself unless given).
testing::SampleRecord aael_record(const std::string& text,
                                  std::uint32_t mr_index = measure::kRtmr3CcMrIndex,
                                  const std::optional<std::string>& digested = std::nullopt) {
  const auto data = measure::aael_event_data(text);
  auto sha384 = digest(DigestAlgorithm::kSha384, measure::aael_event_data(digested.value_or(text)));
  EXPECT_TRUE(sha384.ok());
  return {mr_index, measure::kEvEventTag, data, sha384.ok() ? *sha384 : Bytes()};
}

AttestedClaims claims_of(const std::vector<testing::SampleRecord>& records) {
  auto log = measure::parse_tcg_event_log(testing::build_sample_event_log(records));
  EXPECT_TRUE(log.ok()) << log.status().to_string();
  AttestedClaims claims;
  claims.tee = measure::TeeKind::kTdx;
  if (log.ok()) add_replayed_log_claims(log->events, claims);
  return claims;
}

TEST(ReplayedLogClaimsTest, FirstBootIdsComeOnlyFromVerifiedRtmr3Records) {
  const AttestedClaims claims = claims_of({
      // Record 1: the text of first boot Z, but its digest extended another text.
      aael_record(first_boot(kIdZ), measure::kRtmr3CcMrIndex, "cc-fde unlock 1234 root"),
      // Record 2: first boot Z in RTMR2, not RTMR3.
      aael_record(first_boot(kIdZ), measure::kRtmr3CcMrIndex - 1),
      // Record 3: a malformed id (upper case) is no first-boot event.
      aael_record(first_boot("0123456789ABCDEF0123456789ABCDEF")),
      aael_record("cc-fde unlock 1234 root"),
      aael_record(first_boot(kIdX)),  // record 5
      aael_record(std::string(measure::kPhaseEndEventText)),
      aael_record(first_boot(kIdX)),
      aael_record(first_boot(kIdY)),  // the first id that differs
      aael_record(first_boot(kIdZ)),
  });
  EXPECT_TRUE(claims.event_log_replayed);
  EXPECT_EQ(claims.first_boot_id, kIdX);
  EXPECT_EQ(claims.conflicting_first_boot_id, kIdY);
  EXPECT_EQ(claims.phase_end_event, std::optional<std::size_t>(6));
}

TEST(ReplayedLogClaimsTest, UnverifiedOrAbsentFirstBootRecordsGiveNoId) {
  const AttestedClaims none = claims_of({aael_record("cc-fde unlock 1234 root")});
  EXPECT_TRUE(none.event_log_replayed);
  EXPECT_EQ(none.first_boot_id, std::nullopt);
  EXPECT_EQ(none.conflicting_first_boot_id, std::nullopt);
  const AttestedClaims unverified =
      claims_of({aael_record(first_boot(kIdX), measure::kRtmr3CcMrIndex, first_boot(kIdY)),
                 aael_record(first_boot(kIdX), 1), aael_record(first_boot(kIdX) + " ")});
  EXPECT_EQ(unverified.first_boot_id, std::nullopt);
  EXPECT_EQ(unverified.conflicting_first_boot_id, std::nullopt);
  EXPECT_EQ(unverified.phase_end_event, std::nullopt);
  // The same id twice is one first boot.
  const AttestedClaims twice =
      claims_of({aael_record(first_boot(kIdY)), aael_record(first_boot(kIdY))});
  EXPECT_EQ(twice.first_boot_id, kIdY);
  EXPECT_EQ(twice.conflicting_first_boot_id, std::nullopt);
}

TEST(FirstBootRecordTest, ParsesAndWritesTheRecordFile) {
  auto empty = parse_first_boot_record(R"({"established": false})");
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_EQ(*empty, FirstBootRecord{});
  const FirstBootRecord record{kIdX, true};
  EXPECT_EQ(first_boot_record_text(record),
            std::string(R"({"established":true,"id":")") + kIdX + "\"}\n");
  auto again = parse_first_boot_record(first_boot_record_text(record));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, record);
  for (const char* bad : {"", "{", "null", "[]", R"({"id": "0123456789abcdef0123456789abcdef"})",
                          R"({"established": 0})", R"({"established": true, "id": "01"})",
                          R"({"established": true, "extra": true})"}) {
    auto parsed = parse_first_boot_record(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed) << bad;
  }
}

TEST(FirstBootRecordTest, AdmitsOneFirstBootPerVmAndNoneAfterANormalUnlock) {
  const std::string path = "default/09e85a47-3fe8-5ba0-8a0e-58f96fbcae73/root";
  AttestedClaims first_boot_x;
  first_boot_x.tee = measure::TeeKind::kTdx;
  first_boot_x.event_log_replayed = true;
  first_boot_x.first_boot_id = kIdX;
  AttestedClaims first_boot_y = first_boot_x;
  first_boot_y.first_boot_id = kIdY;
  AttestedClaims normal = first_boot_x;
  normal.first_boot_id.reset();

  const auto admitted = [&](const std::optional<FirstBootRecord>& current,
                            const AttestedClaims& claims) {
    auto next = admit_first_boot(current, claims, path);
    EXPECT_TRUE(next.ok()) << next.status().to_string();
    return next.ok() ? *next : FirstBootRecord{};
  };
  const auto denial = [&](const std::optional<FirstBootRecord>& current,
                          const AttestedClaims& claims) {
    auto next = admit_first_boot(current, claims, path);
    EXPECT_FALSE(next.ok());
    EXPECT_EQ(next.status().code(), ErrorCode::kPolicyDenied);
    return next.status().message();
  };

  EXPECT_EQ(admitted(std::nullopt, first_boot_x), (FirstBootRecord{kIdX, false}));
  EXPECT_EQ(admitted(FirstBootRecord{}, first_boot_x), (FirstBootRecord{kIdX, false}));
  EXPECT_EQ(admitted(FirstBootRecord{kIdX, false}, first_boot_x), (FirstBootRecord{kIdX, false}));
  EXPECT_EQ(denial(FirstBootRecord{kIdX, false}, first_boot_y),
            "Access denied by policy: provisioner resource " + path + ": first boot " + kIdX +
                " was already started for this VM; a new first-boot id " + kIdY + " is refused");
  EXPECT_EQ(admitted(std::nullopt, normal), (FirstBootRecord{std::nullopt, true}));
  EXPECT_EQ(admitted(FirstBootRecord{kIdX, false}, normal), (FirstBootRecord{kIdX, true}));
  EXPECT_EQ(admitted(FirstBootRecord{kIdX, true}, normal), (FirstBootRecord{kIdX, true}));
  for (const auto& record : {FirstBootRecord{kIdX, true}, FirstBootRecord{std::nullopt, true}}) {
    EXPECT_EQ(denial(record, first_boot_x),
              "Access denied by policy: provisioner resource " + path + ": first boot " + kIdX +
                  " is refused: the VM already completed its first boot and unlocked its volume "
                  "normally; a blank volume at a later boot is not a first boot");
  }
  AttestedClaims conflicting = first_boot_x;
  conflicting.conflicting_first_boot_id = kIdY;
  EXPECT_EQ(denial(std::nullopt, conflicting),
            "Access denied by policy: provisioner resource " + path +
                ": the runtime log holds two first-boot events with different ids (" + kIdX +
                " and " + kIdY + ")");
  // Also when the record holds the first of the two ids.
  EXPECT_NE(denial(FirstBootRecord{kIdX, false}, conflicting).find("two first-boot events"),
            std::string::npos);
  // SEV-SNP and sample evidence carry no first-boot id: every request is a normal unlock.
  AttestedClaims snp;
  snp.tee = measure::TeeKind::kSnp;
  EXPECT_EQ(admitted(std::nullopt, snp), (FirstBootRecord{std::nullopt, true}));
}

}  // namespace
}  // namespace ccfde::devkbs

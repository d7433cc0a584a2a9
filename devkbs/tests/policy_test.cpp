#include "ccfde/devkbs/policy.h"

#include <gtest/gtest.h>

namespace ccfde::devkbs {
namespace {

std::string repeat(const std::string& text, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += text;
  return out;
}

const std::string kHex48a(96, 'a');
const std::string kHex48b(96, 'b');

TEST(ResourcePolicyTest, ParsesAndRoundTrips) {
  const auto document = nlohmann::json::parse(R"({"resources": {
      "default/fde/disk-key": {"tees": ["tdx", "snp"], "allow_debug": true,
                               "tdx": {"mr_td": ")" +
                                              kHex48a + R"(", "rtmr3": ")" + kHex48b +
                                              R"("},
                               "snp": {"host_data": ")" +
                                              std::string(64, '0') + R"("}},
      "*": {"tees": ["sample"]}}})");
  auto policy = parse_resource_policy(document);
  ASSERT_TRUE(policy.ok()) << policy.status().to_string();
  ASSERT_EQ(policy->resources.size(), 2u);
  const auto& entry = policy->resources.at("default/fde/disk-key");
  EXPECT_EQ(entry.tees, (std::vector<std::string>{"tdx", "snp"}));
  EXPECT_TRUE(entry.allow_debug);
  EXPECT_EQ(entry.reference_values.at("tdx").at("mr_td"), Bytes(48, 0xaa));
  EXPECT_EQ(entry.reference_values.at("snp").at("host_data"), Bytes(32, 0x00));
  EXPECT_FALSE(policy->resources.at("*").allow_debug);

  auto again = parse_resource_policy(to_json(*policy));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json(*again), to_json(*policy));
}

TEST(ResourcePolicyTest, RejectsBadDocuments) {
  struct Case {
    const char* json;
    const char* message_part;
  };
  const Case cases[] = {
      {R"([])", "expected"},
      {R"({"resources": {}, "extra": 1})", "unknown member \"extra\""},
      {R"({"resources": {"a/b/c": {"tees": ["sgx"]}}})", "unknown TEE"},
      {R"({"resources": {"a/b/c": {"tees": "tdx"}}})", "\"tees\" must be an array"},
      {R"({"resources": {"a/b/c": {"allow_debug": 1}}})", "\"allow_debug\" must be a boolean"},
      {R"({"resources": {"a/b/c": {"tdx": {"measurement": "00"}}}})",
       "unknown tdx reference value \"measurement\""},
      {R"({"resources": {"a/b/c": {"tdx": {"rtmr0": "abcd"}}}})", "must be 48 bytes of hex"},
      {R"({"resources": {"a/b/c": {"snp": {"host_data": "zz"}}}})", "must be 32 bytes of hex"},
      {R"({"resources": {"a/b/c": {"colour": "red"}}})", "unknown member \"colour\""},
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
  entry.tees = {"tdx"};
  entry.allow_debug = allow_debug;
  entry.reference_values["tdx"]["rtmr1"] = Bytes(48, 0x01);
  policy.resources["r/t/g"] = entry;
  return policy;
}

AttestedClaims tdx_claims(bool debug, std::uint8_t rtmr1) {
  AttestedClaims claims;
  claims.tee = "tdx";
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
  policy.resources["*"].tees = {"sample"};
  AttestedClaims sample;
  sample.tee = "sample";
  EXPECT_TRUE(evaluate_resource_policy(policy, "x/y/z", sample).ok());
  // An own entry wins over the wildcard.
  EXPECT_EQ(evaluate_resource_policy(policy, "r/t/g", sample).code(), ErrorCode::kPolicyDenied);
}

TEST(ResourcePolicyTest, DeniesOtherTee) {
  AttestedClaims snp;
  snp.tee = "snp";
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

TEST(ResourcePolicyTest, DeniesAbsentReferenceValue) {
  AttestedClaims claims = tdx_claims(false, 1);
  claims.values.erase("rtmr1");
  const Status status = evaluate_resource_policy(tdx_policy(false), "r/t/g", claims);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyDenied);
  EXPECT_NE(status.message().find("rtmr1 is absent"), std::string::npos);
}

}  // namespace
}  // namespace ccfde::devkbs

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/ear_token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;

constexpr const char* kExampleToken = "trustee/attestation-service/docs/example.token.json";

nlohmann::json load_example(const std::vector<std::uint8_t>& bytes) {
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

// docs/reference/TEST-VECTORS.md §10.2: the EAR claims set issued by the CoCo attestation service.
TEST(EarToken, ExampleClaimsParseToTheDocumentedValues) {
  CCFDE_LOAD_TESTDATA(bytes, kExampleToken);
  auto claims = parse_ear_claims(load_example(bytes));
  ASSERT_TRUE(claims.ok()) << claims.status().to_string();
  EXPECT_EQ(claims->eat_profile, "tag:github.com,2024:confidential-containers/Trustee");
  EXPECT_EQ(claims->issued_at, 1760426134);
  EXPECT_EQ(claims->expires_at, 1760426434);
  EXPECT_EQ(claims->expires_at - claims->issued_at, 300);
  EXPECT_EQ(claims->verifier_developer, "https://confidentialcontainers.org");
  EXPECT_EQ(claims->verifier_build, "attestation-service 0.1.0");
  ASSERT_EQ(claims->submodules.count("cpu0"), 1u);
  const EarSubmodule& cpu0 = claims->submodules.at("cpu0");
  EXPECT_EQ(cpu0.status, "contraindicated");
  EXPECT_EQ(cpu0.appraisal_policy_id, "default");
  const std::map<std::string, std::int64_t> expected_vector = {
      {"instance-identity", 0}, {"configuration", 36}, {"executables", 33},   {"file-system", 0},
      {"hardware", 97},         {"runtime-opaque", 0}, {"storage-opaque", 0}, {"sourced-data", 0}};
  EXPECT_EQ(cpu0.trustworthiness_vector, expected_vector);
}

TEST(EarToken, JwtPayloadIsDecodedFromTheMiddlePart) {
  CCFDE_LOAD_TESTDATA(bytes, kExampleToken);
  const std::string payload = load_example(bytes).dump();
  const std::string token = base64url_encode(as_bytes(R"({"alg":"ES256"})")) + "." +
                            base64url_encode(as_bytes(payload)) + ".c2lnbmF0dXJl";
  auto decoded = jwt_payload(token);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  auto claims = parse_ear_claims(*decoded);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->submodules.at("cpu0").status, "contraindicated");
}

TEST(EarToken, MalformedTokensAndClaimsAreRefused) {
  for (const char* bad : {"", "a.b", "a.b.c.d", "a.!!!.c", "a.bm90IGpzb24.c"}) {
    auto decoded = jwt_payload(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), ErrorCode::kMalformedResponse) << bad;
  }
  const nlohmann::json good = {{"eat_profile", "p"},
                               {"iat", 10},
                               {"exp", 310},
                               {"submods", {{"cpu0", {{"ear.status", "affirming"}}}}}};
  EXPECT_TRUE(parse_ear_claims(good).ok());
  for (const char* member : {"eat_profile", "iat", "exp", "submods"}) {
    nlohmann::json without = good;
    without.erase(member);
    auto claims = parse_ear_claims(without);
    ASSERT_FALSE(claims.ok()) << member;
    EXPECT_EQ(claims.status().code(), ErrorCode::kMalformedResponse);
    EXPECT_THAT(claims.status().message(), HasSubstr(member));
  }
  nlohmann::json backwards = good;
  backwards["exp"] = 5;
  EXPECT_THAT(parse_ear_claims(backwards).status().message(), HasSubstr("not after iat"));
  nlohmann::json no_status = good;
  no_status["submods"]["cpu0"].erase("ear.status");
  EXPECT_THAT(parse_ear_claims(no_status).status().message(), HasSubstr("cpu0.ear.status"));
}

// Found by fuzz_ear_claims: json::value() threw type_error for an optional member of another type,
// so a broker's token could end the program.
TEST(EarToken, OptionalMembersOfAnotherTypeAreIgnored) {
  const nlohmann::json claims = {
      {"eat_profile", "p"},
      {"iat", 10},
      {"exp", 310},
      {"ear.verifier-id", {{"developer", 5}, {"build", nlohmann::json::array()}}},
      {"submods",
       {{"cpu0",
         {{"ear.status", "affirming"},
          {"ear.appraisal-policy-id", {{"id", 1}}},
          {"ear.trustworthiness-vector", {{"hardware", "high"}, {"configuration", 2}}}}}}}};
  EarClaims parsed;
  ASSERT_NO_THROW({
    auto result = parse_ear_claims(claims);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    parsed = *result;
  });
  EXPECT_EQ(parsed.verifier_developer, "");
  EXPECT_EQ(parsed.verifier_build, "");
  const EarSubmodule& cpu0 = parsed.submodules.at("cpu0");
  EXPECT_EQ(cpu0.appraisal_policy_id, "");
  EXPECT_EQ(cpu0.trustworthiness_vector,
            (std::map<std::string, std::int64_t>{{"configuration", 2}}));
}

}  // namespace
}  // namespace ccfde::kbs_client

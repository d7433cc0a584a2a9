// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/trustee_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kNonce = "9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=";

TEST(TrusteeMessages, AuthRequestIsExact) {
  EXPECT_EQ(make_auth_request("tdx"),
            R"({"version":"0.4.0","tee":"tdx","extra-params":{"supported-hash-algorithms":)"
            R"(["sha256","sha384","sha512"]}})");
  EXPECT_EQ(kTrusteeProtocolVersion, "0.4.0");
}

TEST(TrusteeMessages, AuthRequestRoundTrips) {
  auto request = parse_auth_request(make_auth_request("sample"));
  ASSERT_TRUE(request.ok()) << request.status().to_string();
  EXPECT_EQ(request->version, "0.4.0");
  EXPECT_EQ(request->tee, "sample");
  EXPECT_EQ(request->extra_params,
            json::parse(R"({"supported-hash-algorithms":["sha256","sha384","sha512"]})"));
}

TEST(TrusteeMessages, ChallengeWithEmptyStringExtraParams) {
  auto challenge = parse_challenge(
      R"({"nonce":"9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=","extra-params":""})");
  ASSERT_TRUE(challenge.ok()) << challenge.status().to_string();
  EXPECT_EQ(challenge->nonce, kNonce);
  EXPECT_EQ(challenge->extra_params, json(""));
}

TEST(TrusteeMessages, ChallengeWithObjectOrMissingExtraParams) {
  auto with_object =
      parse_challenge(R"({"nonce":"abc","extra-params":{"selected-hash-algorithm":"sha512"}})");
  ASSERT_TRUE(with_object.ok());
  EXPECT_EQ(with_object->extra_params["selected-hash-algorithm"], "sha512");

  auto without = parse_challenge(R"({"nonce":"abc"})");
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->extra_params.is_null());
}

TEST(TrusteeMessages, ChallengeRoundTripsThroughMakeChallenge) {
  Challenge original{kNonce, ""};
  EXPECT_EQ(make_challenge(original),
            std::string(R"({"nonce":")") + kNonce + R"(","extra-params":""})");
  auto parsed = parse_challenge(make_challenge(original));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->nonce, kNonce);
}

struct BadBody {
  const char* body;
  const char* expected;
};

class ChallengeRejects : public ::testing::TestWithParam<BadBody> {};

TEST_P(ChallengeRejects, AsMalformedResponse) {
  auto challenge = parse_challenge(GetParam().body);
  ASSERT_FALSE(challenge.ok());
  EXPECT_EQ(challenge.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(challenge.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ChallengeRejects,
    ::testing::Values(BadBody{"", "not valid JSON"}, BadBody{"{\"nonce\":", "not valid JSON"},
                      BadBody{"[\"nonce\"]", "expected a JSON object, found array"},
                      BadBody{"{}", "member \"nonce\" is missing"},
                      BadBody{"{\"nonce\":5}", "member \"nonce\" must be a string, found number"},
                      BadBody{"{\"nonce\":\"\"}", "member \"nonce\" is empty"},
                      BadBody{"{\"nonce\":\"\xff\"}", "not valid JSON"}));

TEST(TrusteeMessages, AttestationRequestEqualsTheWorkedExample) {
  CCFDE_LOAD_TESTDATA(vectors_bytes, "constructed/kbs-constructed-vectors.json");
  const json vectors = json::parse(vectors_bytes);
  const json& example = vectors["rcar_runtime_data"];
  auto body =
      make_attestation_request(example["tee_pubkey"], example["challenge_nonce"].get<std::string>(),
                               example["sample_evidence"]);
  ASSERT_TRUE(body.ok()) << body.status().to_string();
  EXPECT_EQ(json::parse(*body), example["attestation_body"]);
  // The members the server requires even when empty or null.
  EXPECT_THAT(*body, HasSubstr(R"("init-data":null)"));
  EXPECT_THAT(*body, HasSubstr(R"("additional_evidence":"")"));
}

TEST(TrusteeMessages, AttestationRequestRoundTrips) {
  const json jwk = {
      {"kty", "EC"}, {"crv", "P-256"}, {"alg", "ECDH-ES+A256KW"}, {"x", "AA"}, {"y", "BB"}};
  auto body = make_attestation_request(jwk, kNonce, json{{"svn", "1"}});
  ASSERT_TRUE(body.ok());
  auto request = parse_attestation_request(*body);
  ASSERT_TRUE(request.ok()) << request.status().to_string();
  EXPECT_TRUE(request->init_data.is_null());
  EXPECT_EQ(request->nonce, kNonce);
  EXPECT_EQ(request->tee_pubkey, jwk);
  EXPECT_EQ(request->primary_evidence, json({{"svn", "1"}}));
  EXPECT_EQ(request->additional_evidence, "");
}

TEST(TrusteeMessages, AttestationRequestParserNamesMissingMembers) {
  auto missing_additional = parse_attestation_request(
      R"({"runtime-data":{"nonce":"n","tee-pubkey":{}},"tee-evidence":{"primary_evidence":{}}})");
  ASSERT_FALSE(missing_additional.ok());
  EXPECT_EQ(missing_additional.status().code(), ErrorCode::kMalformedResponse);
  EXPECT_THAT(missing_additional.status().message(), HasSubstr("additional_evidence"));

  auto bad_pubkey = parse_attestation_request(
      R"({"runtime-data":{"nonce":"n","tee-pubkey":"k"},"tee-evidence":{}})");
  ASSERT_FALSE(bad_pubkey.ok());
  EXPECT_THAT(bad_pubkey.status().message(), HasSubstr("runtime-data.tee-pubkey"));
}

TEST(TrusteeMessages, AttestationToken) {
  auto token = parse_attestation_token(R"({"token":"eyJhbGciOiJFUzI1NiJ9.e30.sig"})");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "eyJhbGciOiJFUzI1NiJ9.e30.sig");

  for (const char* bad : {"", "{}", R"({"token":1})", R"({"token":""})", R"("token")"}) {
    auto result = parse_attestation_token(bad);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), ErrorCode::kMalformedResponse) << bad;
  }
}

TEST(TrusteeMessages, ErrorInformationAndVariant) {
  auto info = parse_error_information(
      R"({"type":"https://github.com/confidential-containers/kbs/errors/PolicyDeny",)"
      R"("detail":"Access denied by policy"})");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->variant(), "PolicyDeny");
  EXPECT_EQ(info->detail, "Access denied by policy");

  ErrorInformation bare{"AttestationError", ""};
  EXPECT_EQ(bare.variant(), "AttestationError");
}

TEST(TrusteeMessages, ErrorInformationRejectsIncompleteBodies) {
  for (const char* bad : {"Unauthorized", R"({"type":"x"})", R"({"detail":"x"})",
                          R"({"type":1,"detail":"x"})", R"({"type":"x","detail":null})"}) {
    auto info = parse_error_information(bad);
    ASSERT_FALSE(info.ok()) << bad;
    EXPECT_EQ(info.status().code(), ErrorCode::kMalformedResponse) << bad;
  }
}

TEST(TrusteeMessages, MakeErrorInformationUsesTrusteeTypeUrls) {
  EXPECT_EQ(make_error_information("PluginInternalError", "Plugin internal error"),
            R"({"type":"https://github.com/confidential-containers/kbs/errors/)"
            R"(PluginInternalError","detail":"Plugin internal error"})");
}

}  // namespace
}  // namespace ccfde::kbs_client

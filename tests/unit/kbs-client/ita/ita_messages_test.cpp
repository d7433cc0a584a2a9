// SPDX-License-Identifier: Apache-2.0
// Parsing and building of the ITA KBS key-transfer messages, and the HTTP error mapping.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/kbs-client/ita_client.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;

void expect_malformed(const Status& status, std::string_view text) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kMalformedResponse) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr(std::string(text)));
}

TEST(ItaNonceParse, AcceptsTheDocumentedShape) {
  auto nonce = parse_ita_nonce(R"({"val":"AAEC","iat":"MjAyNA==","signature":"c2ln","x":1})");
  ASSERT_TRUE(nonce.ok()) << nonce.status().to_string();
  EXPECT_EQ(nonce->val, "AAEC");
  EXPECT_EQ(nonce->iat, "MjAyNA==");
  EXPECT_EQ(nonce->signature, "c2ln");
}

TEST(ItaNonceParse, RejectsMissingOrWronglyTypedMembers) {
  expect_malformed(parse_ita_nonce(R"({"iat":"AAAA","signature":"AAAA"})").status(),
                   "member \"val\" is missing");
  expect_malformed(parse_ita_nonce(R"({"val":"AAAA","signature":"AAAA"})").status(),
                   "member \"iat\" is missing");
  expect_malformed(parse_ita_nonce(R"({"val":"AAAA","iat":"AAAA"})").status(),
                   "member \"signature\" is missing");
  expect_malformed(parse_ita_nonce(R"({"val":12,"iat":"AAAA","signature":"AAAA"})").status(),
                   "member \"val\" must be a string, found number");
  expect_malformed(parse_ita_nonce(R"({"val":"AAAA","iat":null,"signature":"AAAA"})").status(),
                   "member \"iat\" must be a string, found null");
  expect_malformed(parse_ita_nonce(R"({"val":"AAAA","iat":"AAAA","signature":[1]})").status(),
                   "member \"signature\" must be a string, found array");
  expect_malformed(parse_ita_nonce(R"({"val":"","iat":"AAAA","signature":"AAAA"})").status(),
                   "member \"val\" is empty");
  expect_malformed(parse_ita_nonce(R"({"val":"AA*A","iat":"AAAA","signature":"AAAA"})").status(),
                   "member \"val\" is not base64");
}

TEST(ItaNonceParse, RejectsNonJsonAndNonObjects) {
  expect_malformed(parse_ita_nonce("").status(), "not valid JSON");
  expect_malformed(parse_ita_nonce("<html>502</html>").status(), "not valid JSON");
  expect_malformed(parse_ita_nonce(R"({"val":"AAAA")").status(), "not valid JSON");
  expect_malformed(parse_ita_nonce(R"(["AAAA"])").status(), "is a JSON array, expected an object");
  expect_malformed(parse_ita_nonce("\"AAAA\"").status(), "is a JSON string");
  expect_malformed(parse_ita_nonce(std::string("{\"val\":\"\xff\"}")).status(), "not valid JSON");
}

TEST(ItaTransferResponseParse, DecodesBothMembers) {
  auto response = parse_ita_transfer_response(R"({"wrapped_key":"AQID","wrapped_swk":"BAUG"})");
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->wrapped_key, (Bytes{1, 2, 3}));
  EXPECT_EQ(response->wrapped_swk, (Bytes{4, 5, 6}));
}

TEST(ItaTransferResponseParse, RejectsBadShapes) {
  expect_malformed(parse_ita_transfer_response(R"({"wrapped_key":"AQID"})").status(),
                   "member \"wrapped_swk\" is missing");
  expect_malformed(parse_ita_transfer_response(R"({"wrapped_swk":"AQID"})").status(),
                   "member \"wrapped_key\" is missing");
  expect_malformed(
      parse_ita_transfer_response(R"({"wrapped_key":null,"wrapped_swk":"AQID"})").status(),
      "member \"wrapped_key\" must be a string, found null");
  expect_malformed(
      parse_ita_transfer_response(R"({"wrapped_key":"AQID","wrapped_swk":true})").status(),
      "member \"wrapped_swk\" must be a string, found boolean");
  expect_malformed(
      parse_ita_transfer_response(R"({"wrapped_key":"AQI","wrapped_swk":"AQID"})").status(),
      "member \"wrapped_key\" is not base64");
  expect_malformed(parse_ita_transfer_response("not json").status(), "not valid JSON");
  expect_malformed(parse_ita_transfer_response("42").status(), "is a JSON number");
}

TEST(ItaTransferRequest, HasExactlyTheDocumentedMembers) {
  const ItaNonce nonce{"dmFs", "aWF0", "c2ln"};
  const Bytes quote{1, 2, 3};
  const Bytes user_data{4, 5, 6, 7};
  const Bytes event_log{8};
  EXPECT_EQ(make_ita_transfer_request(quote, nonce, user_data, std::span(event_log)),
            R"({"event_log":"CA==","nonce":{"iat":"aWF0","signature":"c2ln","val":"dmFs"},)"
            R"("quote":"AQID","user_data":"BAUGBw=="})");
  EXPECT_EQ(make_ita_transfer_request(quote, nonce, user_data, std::nullopt),
            R"({"nonce":{"iat":"aWF0","signature":"c2ln","val":"dmFs"},)"
            R"("quote":"AQID","user_data":"BAUGBw=="})");
}

TEST(ItaErrorDetail, PrefersTheErrorMemberAndEscapesTheRest) {
  EXPECT_EQ(ita_error_detail(R"({"error":"Key with specified id does not exist"})"),
            "Key with specified id does not exist");
  EXPECT_EQ(ita_error_detail("plain \x1b[31m text"), "plain \\x1b[31m text");
  EXPECT_EQ(ita_error_detail(""), "");
  const std::string long_body(2000, 'a');
  EXPECT_EQ(ita_error_detail(long_body), std::string(512, 'a') + "...");
}

TEST(ItaHttpError, MapsStatusesToCodes) {
  struct Case {
    long status;
    std::string body;
    ErrorCode code;
  };
  const Case cases[] = {
      {400, R"({"error":"Invalid request body"})", ErrorCode::kInvalidArgument},
      {415, R"({"error":"Invalid Accept type"})", ErrorCode::kInvalidArgument},
      {401, R"({"error":"Failed to authenticate attestation-token"})",
       ErrorCode::kAttestationRefused},
      {401, R"({"error":"Token claims validation against key-transfer-policy failed"})",
       ErrorCode::kPolicyDenied},
      {403, "", ErrorCode::kAttestationRefused},
      {404, R"({"error":"Key with specified id does not exist"})", ErrorCode::kResourceNotFound},
      {429, "", ErrorCode::kUnreachable},
      {500, R"({"error":"Failed to transfer Key"})", ErrorCode::kUnreachable},
      {502, R"({"error":"Error retrieving token from appraisal service"})",
       ErrorCode::kUnreachable},
      {302, "", ErrorCode::kMalformedResponse},
  };
  for (const auto& c : cases) {
    const Status status = ita_http_error(c.status, c.body, "key transfer");
    EXPECT_EQ(status.code(), c.code) << c.status << " " << c.body;
    EXPECT_THAT(status.message(),
                HasSubstr(fmt::format("ITA KBS key transfer: HTTP {}", c.status)));
  }
  EXPECT_EQ(
      ita_http_error(404, R"({"error":"Key with specified id does not exist"})", "x").message(),
      "ITA KBS x: HTTP 404: Key with specified id does not exist");
}

}  // namespace
}  // namespace ccfde::kbs_client

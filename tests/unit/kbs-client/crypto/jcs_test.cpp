// SPDX-License-Identifier: Apache-2.0
// RFC 8785 canonical JSON, the runtime-data digest and the hash selection
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.7).
#include "ccfde/kbs-client/jcs.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/runtime_data.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using json = nlohmann::json;

// The worked example of docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.7 /
// docs/reference/TEST-VECTORS.md §10.1.
constexpr std::string_view kWorkedExampleJcs =
    R"({"additional-evidence":"","nonce":"9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=",)"
    R"("tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC",)"
    R"("x":"DH3IAti9SHYgKffRuGwOUrJcgaHbdA8zNkKvFK4LWck",)"
    R"("y":"UZ0NQzuKjcqpoK58COSD9ovMS5OFB7PGUI2lPVNwZ64"}})";
constexpr std::string_view kWorkedExampleSha384 =
    "d504bd210d8191592f6585a7ac2a51a155608949de9ab6f1a50fc9254e52bd81a15f9c95227ce6685ef018cf7cbf"
    "636f";

std::string jcs(const json& value) {
  auto result = canonical_json(value);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? *result : std::string();
}

std::string jcs_text(std::string_view text) {
  return jcs(json::parse(text));
}

TEST(CanonicalJson, WorkedExampleFromTheConstructedVector) {
  CCFDE_LOAD_TESTDATA(file, "constructed/kbs-constructed-vectors.json");
  const json vectors = json::parse(file.begin(), file.end());
  const json& rd = vectors.at("rcar_runtime_data");
  json object = {{"tee-pubkey", rd.at("tee_pubkey")},
                 {"nonce", rd.at("challenge_nonce")},
                 {"additional-evidence", ""}};
  const std::string bytes = jcs(object);
  EXPECT_EQ(bytes, kWorkedExampleJcs);
  EXPECT_EQ(bytes, rd.at("jcs_bytes_utf8").get<std::string>());

  auto digest =
      runtime_data_digest(rd.at("tee_pubkey"), rd.at("challenge_nonce").get<std::string>(), "",
                          DigestAlgorithm::kSha384);
  ASSERT_TRUE(digest.ok()) << digest.status().to_string();
  EXPECT_EQ(hex_encode(*digest), kWorkedExampleSha384);
  // The `sample` evidence carries base64std of the raw 48 bytes.
  EXPECT_EQ(base64_encode(*digest),
            "1QS9IQ2BkVkvZYWnrCpRoVVgiUnemrbxpQ/JJU5SvYGhX5yVInzmaF7wGM98v2Nv");
}

TEST(CanonicalJson, WorkedExampleWithoutTheVectorFile) {
  // The same values as written in docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.4, in a different
  // member order.
  const json pubkey = {{"y", "UZ0NQzuKjcqpoK58COSD9ovMS5OFB7PGUI2lPVNwZ64"},
                       {"x", "DH3IAti9SHYgKffRuGwOUrJcgaHbdA8zNkKvFK4LWck"},
                       {"kty", "EC"},
                       {"crv", "P-256"},
                       {"alg", "ECDH-ES+A256KW"}};
  auto digest = runtime_data_digest(pubkey, "9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=", "",
                                    DigestAlgorithm::kSha384);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(hex_encode(*digest), kWorkedExampleSha384);
  // A different hash selected by the broker changes only the digest.
  auto sha512 = runtime_data_digest(pubkey, "9KPypSsdGXRax2VaijwnmXgFQlwaDapCAzYGq1/wvaM=", "",
                                    DigestAlgorithm::kSha512);
  ASSERT_TRUE(sha512.ok());
  EXPECT_EQ(sha512->size(), 64u);
}

TEST(CanonicalJson, TrusteeCanonicalizerVector) {
  const std::string bytes = jcs_text(R"({"b":1,"a":"test","c":{"d":"e"}})");
  EXPECT_EQ(bytes, R"({"a":"test","b":1,"c":{"d":"e"}})");
  auto digest = ccfde::digest(DigestAlgorithm::kSha384, as_bytes(bytes));
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(hex_encode(*digest),
            "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca9"
            "41da78870c3");
}

TEST(CanonicalJson, Rfc8785MainExample) {
  // RFC 8785 §3.2.2 / the reference implementation's values.json.
  const std::string input = R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })";
  EXPECT_EQ(jcs_text(input),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
            "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(CanonicalJson, Rfc8785SortsByUtf16CodeUnits) {
  // RFC 8785 §3.2.3: U+1F602 (surrogates D83D DE02) sorts before U+FB33, unlike in UTF-8 order.
  const std::string input = R"({
    "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control\u007f",
    "\u00f6": "Latin Small Letter O With Diaeresis", "</script>": "Browser Challenge"
  })";
  EXPECT_EQ(jcs_text(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"</script>\":\"Browser Challenge\","
            "\"\xC2\x80\":\"Control\x7F\",\"\xC3\xB6\":\"Latin Small Letter O With Diaeresis\","
            "\"\xE2\x82\xAC\":\"Euro Sign\",\"\xF0\x9F\x98\x80\":\"Emoji: Grinning Face\","
            "\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(CanonicalJson, Rfc8785AppendixBNumbers) {
  struct Case {
    std::uint64_t bits;
    const char* expected;
  };
  const Case cases[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(jcs(json(std::bit_cast<double>(c.bits))), c.expected) << std::hex << c.bits;
  }
}

TEST(CanonicalJson, NumbersFromParsedText) {
  EXPECT_EQ(jcs_text("[1e21, 1E-7, 0.1, -0, -0.0, 1e20, 100, -5, 1.5e300, 18446744073709551615]"),
            "[1e+21,1e-7,0.1,0,0,100000000000000000000,100,-5,1.5e+300,18446744073709552000]");
  // Integers beyond 2^53 are doubles in JCS, as in ECMAScript.
  EXPECT_EQ(jcs(json(std::int64_t{9007199254740993})), "9007199254740992");
}

TEST(CanonicalJson, RejectsNonFiniteNumbers) {
  for (double value :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    auto result = canonical_json(json{{"a", value}});
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("NaN or Infinity"), std::string::npos);
  }
}

TEST(CanonicalJson, StringEscapes) {
  const std::string raw = std::string("a/b\"c\\d\b\f\n\r\t") + '\0' + "\x1f\x7f" + "\xC3\xA9";
  EXPECT_EQ(jcs(json(raw)), "\"a/b\\\"c\\\\d\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\xC3\xA9\"");
  EXPECT_EQ(jcs(json::object()), "{}");
  EXPECT_EQ(jcs(json::array()), "[]");
  EXPECT_EQ(jcs_text(R"({ "a" : [ 1 , { "c" : true , "b" : null } ] })"),
            R"({"a":[1,{"b":null,"c":true}]})");
}

TEST(CanonicalJson, RejectsInvalidUtf8) {
  for (const std::string& bad : {std::string("\xFF"), std::string("\xC0\xAF"),  // overlong '/'
                                 std::string("\xED\xA0\x80"),                   // surrogate
                                 std::string("\xE2\x82"),                       // truncated
                                 std::string("\xF4\x90\x80\x80")}) {            // > U+10FFFF
    auto value = canonical_json(json(bad));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(value.status().message().find("invalid UTF-8 at byte 0"), std::string::npos);
    auto key = canonical_json(json{{bad, 1}});
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(CanonicalJson, RejectsBinaryAndDeepNesting) {
  auto binary = canonical_json(json::binary({1, 2, 3}));
  ASSERT_FALSE(binary.ok());
  EXPECT_EQ(binary.status().code(), ErrorCode::kInvalidArgument);

  json deep = 1;
  for (int i = 0; i < 600; ++i) deep = json::array({std::move(deep)});
  auto nested = canonical_json(deep);
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("nested too deeply"), std::string::npos);
}

TEST(HashAlgorithm, FromExtraParams) {
  auto pick = [](const json& extra) { return hash_algorithm_from_extra_params(extra); };
  EXPECT_EQ(*pick(""), DigestAlgorithm::kSha384);  // what Trustee sends for tdx/snp/sample
  EXPECT_EQ(*pick(nullptr), DigestAlgorithm::kSha384);
  EXPECT_EQ(*pick(json::object()), DigestAlgorithm::kSha384);
  EXPECT_EQ(*pick(json::array({"sha512"})), DigestAlgorithm::kSha384);
  EXPECT_EQ(*pick(json{{"supported-hash-algorithms", {"sha512"}}}), DigestAlgorithm::kSha384);
  EXPECT_EQ(*pick(json{{"selected-hash-algorithm", "sha512"}}), DigestAlgorithm::kSha512);
  EXPECT_EQ(*pick(json{{"selected-hash-algorithm", "SHA256"}}), DigestAlgorithm::kSha256);
  EXPECT_EQ(*pick(json{{"selected-hash-algorithm", "Sha384"}}), DigestAlgorithm::kSha384);

  auto sm3 = pick(json{{"selected-hash-algorithm", "sm3"}});
  ASSERT_FALSE(sm3.ok());
  EXPECT_EQ(sm3.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_NE(sm3.status().message().find("\"sm3\""), std::string::npos);

  auto number = pick(json{{"selected-hash-algorithm", 512}});
  ASSERT_FALSE(number.ok());
  EXPECT_EQ(number.status().code(), ErrorCode::kMalformedResponse);
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/init_data.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/trustee_messages.h"

namespace ccfde::kbs_client {
namespace {

// The digests below were computed with Python's hashlib over the same bytes.
constexpr std::string_view kProvisionerInitData =
    "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n\"trustee.kbs.resource\" = "
    "\"kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root\"\n\"cc-fde.profile\" "
    "= "
    "\"default\"\n";
constexpr std::string_view kProvisionerSha384 =
    "e04fd111ec61ee6e686de5523c1b1d505bce0459f6af5f74eeed1ceeb973e24c1c51a54af1cfb1f23bd1d6749dd9f1"
    "10";

TEST(InitData, ParsesTheDocumentAndItsDataTable) {
  auto init_data = parse_init_data(kProvisionerInitData);
  ASSERT_TRUE(init_data.ok()) << init_data.status().to_string();
  EXPECT_EQ(init_data->version, "0.1.0");
  EXPECT_EQ(init_data->algorithm, DigestAlgorithm::kSha384);
  EXPECT_EQ(init_data->body, kProvisionerInitData);
  ASSERT_EQ(init_data->data.size(), 2U);
  EXPECT_EQ(init_data->data.at("trustee.kbs.resource"),
            "kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root");
  EXPECT_EQ(init_data->data.at("cc-fde.profile"), "default");
}

TEST(InitData, RegisterValueIsTheDigestOfTheTextPaddedOrTruncated) {
  auto init_data = parse_init_data(kProvisionerInitData);
  ASSERT_TRUE(init_data.ok());
  auto mrconfigid = init_data_register_value(*init_data, 48);
  ASSERT_TRUE(mrconfigid.ok());
  EXPECT_EQ(hex_encode(*mrconfigid), kProvisionerSha384);
  auto host_data = init_data_register_value(*init_data, 32);
  ASSERT_TRUE(host_data.ok());
  EXPECT_EQ(hex_encode(*host_data), kProvisionerSha384.substr(0, 64));

  auto sha256 =
      parse_init_data("version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nkey = \"value\"\n");
  ASSERT_TRUE(sha256.ok()) << sha256.status().to_string();
  auto padded = init_data_register_value(*sha256, 48);
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(
      hex_encode(*padded),
      "9b3558735d85087b3fc6588218f14412da456e12e551f55abd720e39f55839d3" + std::string(32, '0'));

  auto sha512 = parse_init_data("version = \"0.1.0\"\nalgorithm = \"sha512\"\n[data]\n");
  ASSERT_TRUE(sha512.ok()) << sha512.status().to_string();
  auto truncated = init_data_register_value(*sha512, 48);
  ASSERT_TRUE(truncated.ok());
  EXPECT_EQ(
      hex_encode(*truncated),
      "2fdf9419e43c548a07ee7234ab0b5e72f1d05a0a7d8c267d6f98dbdd490561beb130c07e2f28e8d7a7e7c627"
      "bca9ac68");
}

TEST(InitData, BindingIsCheckedAgainstTheRegister) {
  auto init_data = parse_init_data(kProvisionerInitData);
  ASSERT_TRUE(init_data.ok());
  auto value = hex_decode(kProvisionerSha384);
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(check_init_data_binding(*init_data, *value, "MRCONFIGID").ok());

  auto other = *value;
  other[47] ^= 1;
  auto mismatch = check_init_data_binding(*init_data, other, "MRCONFIGID");
  EXPECT_EQ(mismatch.code(), ErrorCode::kMeasurementMismatch);
  EXPECT_NE(mismatch.message().find("MRCONFIGID"), std::string::npos);

  // One byte more in the text is another digest: the digest covers the bytes, not the meaning.
  auto reformatted = parse_init_data(std::string(kProvisionerInitData) + "\n");
  ASSERT_TRUE(reformatted.ok());
  EXPECT_EQ(check_init_data_binding(*reformatted, *value, "MRCONFIGID").code(),
            ErrorCode::kMeasurementMismatch);
}

TEST(InitData, RefusesWhatTrusteeRefuses) {
  struct Case {
    const char* body;
    ErrorCode code;
    const char* names;
  };
  const Case cases[] = {
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data\n", ErrorCode::kMalformed, "line 3"},
      // A table header without a key: toml++ 3.3.0 asserts here before its own error path
      // (toml_parser.h); a Debug build aborted on it.
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\n[ = 1\n", ErrorCode::kMalformed, "line 3"},
      {"algorithm = \"sha384\"\n[data]\n", ErrorCode::kMalformed, "version"},
      {"version = 1\nalgorithm = \"sha384\"\n[data]\n", ErrorCode::kMalformed, "version"},
      {"version = \"0.2.0\"\nalgorithm = \"sha384\"\n[data]\n", ErrorCode::kUnsupportedVersion,
       "0.2.0"},
      {"version = \"0.1.0\"\n[data]\n", ErrorCode::kMalformed, "algorithm"},
      {"version = \"0.1.0\"\nalgorithm = \"SHA384\"\n[data]\n", ErrorCode::kUnsupportedAlgorithm,
       "SHA384"},
      {"version = \"0.1.0\"\nalgorithm = \"sha-384\"\n[data]\n", ErrorCode::kUnsupportedAlgorithm,
       "sha-384"},
      {"version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n", ErrorCode::kUnsupportedAlgorithm,
       "md5"},
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\n", ErrorCode::kMalformed, "data"},
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\ndata = \"x\"\n", ErrorCode::kMalformed,
       "data"},
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\nnumber = 5\n", ErrorCode::kMalformed,
       "number"},
      {"version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data.nested]\nkey = \"v\"\n",
       ErrorCode::kMalformed, "nested"},
  };
  for (const auto& c : cases) {
    auto result = parse_init_data(c.body);
    EXPECT_EQ(result.status().code(), c.code) << c.body;
    EXPECT_NE(result.status().message().find(c.names), std::string::npos)
        << c.body << " -> " << result.status().message();
  }
  const std::string with_nul("version = \"0.1.0\"\0", 18);
  EXPECT_EQ(parse_init_data(with_nul).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_init_data(std::string(kMaxInitDataSize + 1, '#')).status().code(),
            ErrorCode::kInvalidArgument);
}

TEST(InitData, UnknownTopLevelKeysAreIgnoredAsTrusteeDoes) {
  auto init_data =
      parse_init_data("version = \"0.1.0\"\nalgorithm = \"sha384\"\ncomment = 3\n[data]\n");
  ASSERT_TRUE(init_data.ok()) << init_data.status().to_string();
  EXPECT_TRUE(init_data->data.empty());
}

TEST(InitData, TheAttestationRequestCarriesItAsToml) {
  const nlohmann::json jwk = {{"kty", "EC"}};
  auto with =
      make_attestation_request(jwk, "nonce", nlohmann::json::object(), kProvisionerInitData);
  ASSERT_TRUE(with.ok());
  const auto body = nlohmann::json::parse(*with);
  EXPECT_EQ(body["init-data"]["format"], "toml");
  EXPECT_EQ(body["init-data"]["body"], kProvisionerInitData);

  auto without = make_attestation_request(jwk, "nonce", nlohmann::json::object());
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(nlohmann::json::parse(*without)["init-data"].is_null());
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/confdata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kKey = "Zx81qWm0aB3cD4eF5gH6iJ7kL8mN9oPq";

// Byte for byte what Trustee's generate_confdata_toml writes (confidential-containers/trustee,
// kbs/src/plugins/implementations/provisioner/mod.rs, commit 78962cd4).
std::string trustee_document(std::string_view key) {
  return "version = \"0.1.0\"\n\n[data]\n\"io.cryptsetup.key.text.root\" = \"" + std::string(key) +
         "\"\n";
}

std::span<const std::uint8_t> bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string text(const SecretBytes& secret) {
  return {reinterpret_cast<const char*>(secret.data()), secret.size()};
}

TEST(Confdata, ReadsTheRootKeyTrusteeWrites) {
  const std::string document = trustee_document(kKey);
  auto key = parse_confdata_key(bytes(document), kConfdataRootKey);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(text(*key), kKey);
}

TEST(Confdata, SelectsTheKeyByName) {
  const std::string document =
      "version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = \"root-pass\"\n"
      "\"io.cryptsetup.key.text.data\" = \"data pass with spaces \\u00e9\"\n";
  auto root = parse_confdata_key(bytes(document), kConfdataRootKey);
  ASSERT_TRUE(root.ok()) << root.status().to_string();
  EXPECT_EQ(text(*root), "root-pass");
  auto data = parse_confdata_key(bytes(document), "io.cryptsetup.key.text.data");
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  EXPECT_EQ(text(*data), "data pass with spaces \xc3\xa9");  // UTF-8 bytes, escapes resolved
}

struct BadDocument {
  std::string document;
  ErrorCode code;
  std::string expected;  // substring of the message
};

class ConfdataRejects : public ::testing::TestWithParam<BadDocument> {};

TEST_P(ConfdataRejects, NamingTheProblemWithoutTheSecret) {
  auto key = parse_confdata_key(bytes(GetParam().document), kConfdataRootKey);
  ASSERT_FALSE(key.ok()) << GetParam().document;
  EXPECT_EQ(key.status().code(), GetParam().code);
  EXPECT_THAT(key.status().message(), HasSubstr(GetParam().expected));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("s3cret")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfdataRejects,
    ::testing::Values(
        BadDocument{"version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = \"s3cret",
                    ErrorCode::kMalformed, "confdata: not TOML at line 3"},
        BadDocument{"{\"version\": \"0.1.0\", \"s3cret\": 1}", ErrorCode::kMalformed,
                    "not TOML at line 1"},
        BadDocument{"[data]\n\"io.cryptsetup.key.text.root\" = \"s3cret\"\n", ErrorCode::kMalformed,
                    "member \"version\" is missing"},
        BadDocument{"version = 1\n[data]\n\"io.cryptsetup.key.text.root\" = \"s3cret\"\n",
                    ErrorCode::kMalformed, "\"version\" must be a string"},
        BadDocument{"version = \"0.2.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = \"s3cret\"\n",
                    ErrorCode::kMalformed, "version \"0.2.0\" is not \"0.1.0\""},
        BadDocument{"version = \"0.1.0\"\n\"io.cryptsetup.key.text.root\" = \"s3cret\"\n",
                    ErrorCode::kMalformed, "the [data] table is missing"},
        BadDocument{"version = \"0.1.0\"\ndata = \"s3cret\"\n", ErrorCode::kMalformed,
                    "\"data\" must be a table"},
        BadDocument{"version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.home\" = \"s3cret\"\n"
                    "other = 1\n",
                    ErrorCode::kMalformed,
                    "[data] has no \"io.cryptsetup.key.text.root\" (it has: "
                    "io.cryptsetup.key.text.home, other)"},
        BadDocument{"version = \"0.1.0\"\n[data]\n", ErrorCode::kMalformed, "(it has: nothing)"},
        BadDocument{"version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = 7\n",
                    ErrorCode::kMalformed, "\"io.cryptsetup.key.text.root\" must be a string"},
        BadDocument{"version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = [\"s3cret\"]\n",
                    ErrorCode::kMalformed, "must be a string"},
        BadDocument{"version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = \"\"\n",
                    ErrorCode::kMalformed, "\"io.cryptsetup.key.text.root\" is empty"},
        BadDocument{std::string("version = \"0.1.0\"\0s3cret", 24), ErrorCode::kInvalidArgument,
                    "NUL byte"},
        BadDocument{std::string(kMaxConfdataSize + 1, '#'), ErrorCode::kInvalidArgument,
                    "more than the 65536 allowed"}));

TEST(Confdata, ABadCharacterInTheKeyIsNotQuoted) {
  // A control character inside the string: toml++ would quote it in its description.
  const std::string document = trustee_document("s3cret\x01tail");
  auto key = parse_confdata_key(bytes(document), kConfdataRootKey);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(key.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("tail")));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("\\x01")));
}

TEST(Confdata, ATableHeaderWithoutAKeyIsAParseError) {
  // toml++ 3.3.0 asserts on this before its own error path (toml_parser.h): a Debug build aborted.
  for (const std::string document : {"version = \"0.1.0\"\n[ = 1\n", "[[ =", "[ . ]"}) {
    auto key = parse_confdata_key(bytes(document), kConfdataRootKey);
    ASSERT_FALSE(key.ok()) << document;
    EXPECT_EQ(key.status().code(), ErrorCode::kMalformed) << document;
    EXPECT_THAT(key.status().message(), HasSubstr("not TOML")) << document;
  }
}

}  // namespace
}  // namespace ccfde::kbs_client

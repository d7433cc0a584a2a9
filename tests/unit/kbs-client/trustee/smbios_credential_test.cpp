// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/smbios_credential.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Raw = std::vector<std::uint8_t>;

// An OEM Strings structure as DSP0134 lays it out: type 11, length 5, handle, count, the strings
// each with its NUL, one more NUL (two when there is no string).
Raw oem_structure(const std::vector<std::string>& strings) {
  Raw raw = {kSmbiosOemStringsType, 5, 0x00, 0x20, static_cast<std::uint8_t>(strings.size())};
  for (const std::string& text : strings) {
    raw.insert(raw.end(), text.begin(), text.end());
    raw.push_back(0);
  }
  raw.push_back(0);
  if (strings.empty()) raw.push_back(0);
  return raw;
}

std::string text_of(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

constexpr std::string_view kInitData =
    "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n\"trustee.kbs.resource\" = "
    "\"kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root\"\n";

TEST(SmbiosOemStrings, ParsesTheStringsOfAStructure) {
  auto strings = parse_smbios_oem_strings(oem_structure({"first", "io.systemd.credential:a=b"}));
  ASSERT_TRUE(strings.ok()) << strings.status().to_string();
  EXPECT_THAT(*strings, ElementsAre("first", "io.systemd.credential:a=b"));
  auto none = parse_smbios_oem_strings(oem_structure({}));
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
}

TEST(SmbiosOemStrings, AFormattedAreaLongerThanFiveBytesIsSkipped) {
  Raw raw = oem_structure({"x"});
  raw[1] = 7;
  raw.insert(raw.begin() + 5, {0xaa, 0xbb});
  auto strings = parse_smbios_oem_strings(raw);
  ASSERT_TRUE(strings.ok()) << strings.status().to_string();
  EXPECT_THAT(*strings, ElementsAre("x"));
}

struct BadStructure {
  const char* name;
  Raw raw;
  ErrorCode code;
  const char* what;
};

std::vector<BadStructure> bad_structures() {
  Raw wrong_type = oem_structure({"x"});
  wrong_type[0] = 1;
  Raw short_length = oem_structure({"x"});
  short_length[1] = 4;
  Raw long_length = oem_structure({"x"});
  long_length[1] = 200;
  Raw unterminated = oem_structure({"x"});
  unterminated.resize(unterminated.size() - 2);  // "x" without its NUL and the final NUL
  Raw no_final_nul = oem_structure({"x"});
  no_final_nul.pop_back();
  Raw one_nul_for_none = oem_structure({});
  one_nul_for_none.pop_back();
  Raw trailing = oem_structure({"x"});
  trailing.push_back(0x41);
  Raw count_high = oem_structure({"x"});
  count_high[4] = 2;
  Raw count_low = oem_structure({"x", "y"});
  count_low[4] = 1;
  return {
      {"too_short", {kSmbiosOemStringsType, 5, 0}, ErrorCode::kTruncated, "shorter than the"},
      {"wrong_type", wrong_type, ErrorCode::kMalformed, "structure type 1, not 11"},
      {"short_length", short_length, ErrorCode::kMalformed, "formatted length 4"},
      {"long_length", long_length, ErrorCode::kTruncated, "runs past"},
      {"unterminated", unterminated, ErrorCode::kTruncated, "no terminating NUL"},
      {"no_final_nul", no_final_nul, ErrorCode::kMalformed, "a NUL after its last string"},
      {"one_nul_for_none", one_nul_for_none, ErrorCode::kMalformed, "two NULs"},
      {"trailing", trailing, ErrorCode::kMalformed, "1 bytes after the end"},
      {"count_high", count_high, ErrorCode::kMalformed, "says 2 strings, the structure has 1"},
      {"count_low", count_low, ErrorCode::kMalformed, "says 1 strings, the structure has 2"},
  };
}

class SmbiosOemStringsRejects : public ::testing::TestWithParam<BadStructure> {};

TEST_P(SmbiosOemStringsRejects, WithItsOwnError) {
  const BadStructure& bad = GetParam();
  auto strings = parse_smbios_oem_strings(bad.raw);
  ASSERT_FALSE(strings.ok()) << bad.name;
  EXPECT_EQ(strings.status().code(), bad.code) << strings.status().to_string();
  EXPECT_THAT(strings.status().message(), HasSubstr(bad.what));
}

INSTANTIATE_TEST_SUITE_P(Cases, SmbiosOemStringsRejects, ::testing::ValuesIn(bad_structures()),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

TEST(SmbiosCredential, TextAndBinaryFormsAreFoundByTheirExactName) {
  const std::vector<std::string> strings = {
      "io.systemd.credential:cc-fde.init-data-old=stale",
      "io.systemd.credential:other=1",
      "io.systemd.credential.binary:cc-fde.init-data=" + base64_encode(as_bytes("a=b\nc")),
      "io.systemd.credential:cc-fde.text=with = signs",
  };
  auto binary = find_smbios_credential(strings, "cc-fde.init-data");
  ASSERT_TRUE(binary.ok()) << binary.status().to_string();
  EXPECT_EQ(text_of(*binary), "a=b\nc");
  auto text = find_smbios_credential(strings, "cc-fde.text");
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_EQ(text_of(*text), "with = signs");
}

TEST(SmbiosCredential, MissingTwiceDefinedBadBase64AndBadNamesAreRefused) {
  const std::vector<std::string> strings = {
      "io.systemd.credential:a=1",
      "io.systemd.credential.binary:a=MQ==", "io.systemd.credential.binary:b=not base64!"};
  auto twice = find_smbios_credential(strings, "a");
  EXPECT_EQ(twice.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(twice.status().message(), HasSubstr("more than one OEM string"));
  auto bad = find_smbios_credential(strings, "b");
  EXPECT_EQ(bad.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(bad.status().message(), HasSubstr("SMBIOS credential b: its binary value is not"));
  auto missing = find_smbios_credential(strings, "c");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("io.systemd.credential.binary:c=..."));
  for (const std::string_view name : {"", "a=1", "x:y"}) {
    EXPECT_EQ(find_smbios_credential(strings, name).status().code(), ErrorCode::kInvalidArgument)
        << name;
  }
}

class SmbiosEntries : public ::testing::Test {
 protected:
  void write_structure(const std::string& entry, const Raw& raw) {
    std::filesystem::create_directories(dir_.path() / entry);
    std::ofstream out(dir_.path() / entry / "raw", std::ios::binary);
    out.write(reinterpret_cast<const char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  }
  testing::TempDir dir_;
};

TEST_F(SmbiosEntries, EveryOemStringsStructureIsReadAndTheInitDataParsed) {
  write_structure("1-0", {1, 4, 0, 0, 0, 0});  // another type: not read
  write_structure("11-0", oem_structure({"vendor text"}));
  write_structure("11-1", oem_structure({"io.systemd.credential.binary:cc-fde.init-data=" +
                                         base64_encode(as_bytes(kInitData))}));
  auto init_data = read_init_data_smbios(dir_.path(), "cc-fde.init-data");
  ASSERT_TRUE(init_data.ok()) << init_data.status().to_string();
  EXPECT_EQ(init_data->body, kInitData);
  EXPECT_EQ(init_data->data.at("trustee.kbs.resource"),
            "kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root");
}

TEST_F(SmbiosEntries, NoStructureABadOneAndABadDocumentAreNamed) {
  auto none = read_smbios_credential(dir_.path() / "absent", "cc-fde.init-data");
  EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("no SMBIOS OEM strings"));

  Raw broken = oem_structure({"x"});
  broken[4] = 3;
  write_structure("11-0", broken);
  auto bad = read_smbios_credential(dir_.path(), "cc-fde.init-data");
  EXPECT_EQ(bad.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(bad.status().message(), HasSubstr("11-0/raw"));

  write_structure("11-0", oem_structure({"io.systemd.credential:cc-fde.init-data=not toml ["}));
  auto not_toml = read_init_data_smbios(dir_.path(), "cc-fde.init-data");
  EXPECT_EQ(not_toml.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(not_toml.status().message(),
              HasSubstr("init-data from SMBIOS credential cc-fde.init-data"));
}

}  // namespace
}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/ima_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/common/digest.h"
#include "ccfde/testing/testdata.h"
#include "log_builder.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using testing::put_bytes;
using testing::put_text;
using testing::put_u32;

Bytes hex(std::string_view text) {
  auto bytes = hex_decode(text);
  EXPECT_TRUE(bytes.ok()) << text;
  return bytes.ok() ? *bytes : Bytes{};
}

Bytes sha(DigestAlgorithm algorithm, std::span<const std::uint8_t> data) {
  auto out = digest(algorithm, data);
  EXPECT_TRUE(out.ok());
  return out.ok() ? *out : Bytes{};
}

constexpr std::string_view kEvaTemplateHash =
    "67c70809bd405ea82081e8f1eb2ca16108bce307f5f139492da641e08e07ec99e2163649f29323a5f5963fe07bb0"
    "6cc6";
constexpr std::string_view kEvaFileDigest =
    "cd01ce7f8d1a658f8fdaf33bfb18a7bf9bc3d45386f16be3caf22ef9cb32a26ec53d8b8b74c76b94b744bdf19150"
    "6cb3";

// The ima-ng template data of docs/reference/TEST-VECTORS.md §5, written out field by field.
Bytes eva_template_data() {
  Bytes data;
  put_u32(data, 56);
  put_text(data, "sha384:");
  data.push_back(0);
  put_bytes(data, hex(kEvaFileDigest));
  put_u32(data, 15);
  put_text(data, "boot_aggregate");
  data.push_back(0);
  return data;
}

TEST(ImaAsciiTest, EvidenceApiLine) {
  CCFDE_LOAD_TESTDATA(bytes, "evidence-api/ima_log.bin");
  ASSERT_EQ(bytes.size(), 226u);
  auto log = parse_ima_ascii(as_chars(bytes));
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(log->template_hash_algorithm, DigestAlgorithm::kSha384);
  ASSERT_EQ(log->entries.size(), 1u);
  const ImaEntry& entry = log->entries[0];
  EXPECT_EQ(entry.register_index, 2u);
  EXPECT_EQ(entry.offset, 1u);  // after the leading space
  EXPECT_EQ(hex_encode(entry.template_hash), kEvaTemplateHash);
  EXPECT_EQ(entry.template_name, "ima-ng");
  EXPECT_EQ(entry.file_digest_algorithm, "sha384");
  EXPECT_EQ(hex_encode(entry.file_digest), kEvaFileDigest);
  EXPECT_EQ(entry.path, "boot_aggregate");
  EXPECT_EQ(entry.template_data.size(), 79u);
  EXPECT_EQ(entry.template_data, eva_template_data());
  EXPECT_EQ(hex_encode(entry.computed_template_hash), kEvaTemplateHash);
  EXPECT_TRUE(entry.template_hash_matches);
  EXPECT_FALSE(entry.violation);
  EXPECT_EQ(ima_extend_digest(entry), hex(kEvaTemplateHash));
  auto json = to_json(*log);
  EXPECT_EQ(json["entries"][0]["path"], "boot_aggregate");
  EXPECT_EQ(json["template_hash_algorithm"], "sha384");
}

TEST(ImaAsciiTest, DetectsTemplateHashMismatch) {
  std::string line =
      fmt::format("10 {} ima-ng sha384:{} boot_aggregate\n",
                  std::string(kEvaTemplateHash.substr(0, 94)) + "00", kEvaFileDigest);
  auto log = parse_ima_ascii(line);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_FALSE(log->entries[0].template_hash_matches);
  EXPECT_FALSE(log->entries[0].violation);
  EXPECT_EQ(hex_encode(log->entries[0].computed_template_hash), kEvaTemplateHash);
}

TEST(ImaAsciiTest, ViolationExtendsAllFf) {
  std::string line =
      fmt::format("10 {} ima-ng sha256:{} /tmp/x\n", std::string(40, '0'), std::string(64, '0'));
  auto log = parse_ima_ascii(line);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(log->template_hash_algorithm, DigestAlgorithm::kSha1);
  EXPECT_TRUE(log->entries[0].violation);
  EXPECT_FALSE(log->entries[0].template_hash_matches);
  EXPECT_EQ(ima_extend_digest(log->entries[0]), Bytes(20, 0xFF));
}

TEST(ImaAsciiTest, ImaSigWithSpacesInPath) {
  Bytes file_digest(32, 0xAB);
  Bytes signature = hex("030204aabbccdd0010");
  Bytes data;
  put_u32(data, 6 + 2 + 32);  // strlen("sha256") + ":" + NUL + digest
  put_text(data, "sha256:");
  data.push_back(0);
  put_bytes(data, file_digest);
  put_u32(data, 16);
  put_text(data, "/usr/bin/a file");
  data.push_back(0);
  put_u32(data, static_cast<std::uint32_t>(signature.size()));
  put_bytes(data, signature);
  Bytes hash = sha(DigestAlgorithm::kSha256, data);
  std::string text = fmt::format("  10 {} ima-sig sha256:{} /usr/bin/a file {}\n\n",
                                 hex_encode(hash), hex_encode(file_digest), hex_encode(signature));
  auto log = parse_ima_ascii(text);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->entries.size(), 1u);
  EXPECT_EQ(log->template_hash_algorithm, DigestAlgorithm::kSha256);
  EXPECT_EQ(log->entries[0].path, "/usr/bin/a file");
  EXPECT_EQ(log->entries[0].extra, signature);
  EXPECT_TRUE(log->entries[0].template_hash_matches) << to_json(*log).dump(1);
}

TEST(ImaAsciiTest, Rejections) {
  struct Case {
    std::string text;
    ErrorCode code;
    const char* needle;
  };
  std::string h20(40, 'a');
  std::string d32(64, 'b');
  const Case cases[] = {
      {"10 " + h20 + " ima-ng\n", ErrorCode::kMalformed, "line 1"},
      {"x " + h20 + " ima-ng sha256:" + d32 + " /a\n", ErrorCode::kMalformed, "register"},
      {"10 zz ima-ng sha256:" + d32 + " /a\n", ErrorCode::kMalformed, "template hash"},
      {"10 " + std::string(30, 'a') + " ima-ng sha256:" + d32 + " /a\n",
       ErrorCode::kUnsupportedAlgorithm, "15-byte"},
      {"10 " + h20 + " ima sha256:" + d32 + " /a\n", ErrorCode::kUnsupportedVersion, "\"ima\""},
      {"10 " + h20 + " ima-ng foo:" + d32 + " /a\n", ErrorCode::kUnsupportedAlgorithm, "foo"},
      {"10 " + h20 + " ima-ng sha1:" + d32 + " /a\n", ErrorCode::kMalformed, "20 bytes"},
      {"10 " + h20 + " ima-ng sha256:" + d32 + " /a\n10 " + std::string(64, 'a') +
           " ima-ng sha256:" + d32 + " /b\n",
       ErrorCode::kMalformed, "line 2"},
  };
  for (const auto& c : cases) {
    auto log = parse_ima_ascii(c.text);
    ASSERT_FALSE(log.ok()) << c.text;
    EXPECT_EQ(log.status().code(), c.code) << c.text << " -> " << log.status().to_string();
    EXPECT_THAT(log.status().message(), HasSubstr(c.needle)) << c.text;
  }
}

// A binary record (binary_runtime_measurements layout) built in code.
Bytes binary_record(std::uint32_t pcr, std::span<const std::uint8_t> hash, std::string_view name,
                    std::span<const std::uint8_t> data) {
  Bytes out;
  put_u32(out, pcr);
  put_bytes(out, hash);
  put_u32(out, static_cast<std::uint32_t>(name.size()));
  put_text(out, name);
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  put_bytes(out, data);
  return out;
}

Bytes binary_list() {
  Bytes data = eva_template_data();
  Bytes list = binary_record(10, sha(DigestAlgorithm::kSha1, data), "ima-ng", data);
  put_bytes(list, binary_record(10, Bytes(20, 0), "ima-ng", data));  // a violation
  return list;
}

TEST(ImaBinaryTest, ParsesRecordsAndViolation) {
  Bytes list = binary_list();
  auto log = parse_ima_binary(list);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->entries.size(), 2u);
  const ImaEntry& first = log->entries[0];
  EXPECT_EQ(first.register_index, 10u);
  EXPECT_EQ(first.template_name, "ima-ng");
  EXPECT_EQ(first.file_digest_algorithm, "sha384");
  EXPECT_EQ(hex_encode(first.file_digest), kEvaFileDigest);
  EXPECT_EQ(first.path, "boot_aggregate");
  EXPECT_TRUE(first.template_hash_matches);
  const ImaEntry& second = log->entries[1];
  EXPECT_EQ(second.offset, list.size() / 2);
  EXPECT_TRUE(second.violation);
  EXPECT_EQ(ima_extend_digest(second), Bytes(20, 0xFF));
}

TEST(ImaBinaryTest, Sha384List) {
  Bytes data = eva_template_data();
  Bytes list = binary_record(2, hex(kEvaTemplateHash), "ima-ng", data);
  auto log = parse_ima_binary(list, DigestAlgorithm::kSha384);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_TRUE(log->entries[0].template_hash_matches);
  // Read as a SHA-1 list, the same bytes desynchronise and fail.
  EXPECT_FALSE(parse_ima_binary(list, DigestAlgorithm::kSha1).ok());
}

TEST(ImaBinaryTest, TruncatedAtEveryLength) {
  Bytes list = binary_list();
  for (std::size_t size = 1; size < list.size(); ++size) {
    auto log = parse_ima_binary(std::span(list).first(size));
    if (size == list.size() / 2) {
      EXPECT_TRUE(log.ok());
      continue;
    }
    ASSERT_FALSE(log.ok()) << size;
    EXPECT_EQ(log.status().code(), ErrorCode::kTruncated) << log.status().to_string();
    EXPECT_THAT(log.status().message(), HasSubstr("IMA record"));
  }
}

TEST(ImaBinaryTest, RejectsInconsistentRecords) {
  Bytes data = eva_template_data();
  // Template data whose d-ng length runs past the template data.
  Bytes bad = data;
  bad[0] = 200;
  auto log = parse_ima_binary(binary_record(10, Bytes(20, 1), "ima-ng", bad));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(log.status().message(), HasSubstr("d-ng field"));
  // Trailing bytes inside the template data.
  bad = data;
  bad.push_back(0);
  log = parse_ima_binary(binary_record(10, Bytes(20, 1), "ima-ng", bad));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("1 unexpected bytes"));
  // The legacy "ima" template and absurd name lengths.
  log = parse_ima_binary(binary_record(10, Bytes(20, 1), "ima", data));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnsupportedVersion);
  Bytes huge_name;
  put_u32(huge_name, 10);
  put_bytes(huge_name, Bytes(20, 1));
  put_u32(huge_name, 0xFFFFFFF0);
  log = parse_ima_binary(huge_name);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(log.status().message(), HasSubstr("template name length"));
}

TEST(ImaTemplateTest, BuildMatchesKernelLayout) {
  EXPECT_EQ(build_ima_template_data("sha384", hex(kEvaFileDigest), "boot_aggregate", false),
            eva_template_data());
  Bytes with_empty_sig = eva_template_data();
  put_u32(with_empty_sig, 0);
  EXPECT_EQ(build_ima_template_data("sha384", hex(kEvaFileDigest), "boot_aggregate", true),
            with_empty_sig);
}

}  // namespace
}  // namespace ccfde::measure

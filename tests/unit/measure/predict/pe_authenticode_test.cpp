// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/pe_authenticode.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::measure {
namespace {

constexpr const char* kSignedImage = "debian/fwupdx64.efi.signed";
// tests/data/debian/PROVENANCE.md: from the image's signature, pesign and osslsigncode.
constexpr const char* kSha256 = "54563dba7fe706fab763168771637e02f82bf776e47fc16c96b87f3ecdb11958";
constexpr const char* kSha384 =
    "fcb0e9b505767de0fdcfbd624ac09fdfba3286e41a38e084987dddfeeedc598f47d9fac9718289f39f74dece76b3ae"
    "81";

struct Layout {
  std::size_t optional = 0;
  std::size_t certificate_entry = 0;
  std::size_t certificate_offset = 0;
  std::size_t certificate_size = 0;
  std::size_t first_section_offset = 0;
  std::size_t sections_end = 0;  // where the last section's raw data ends
};

Layout layout_of(const std::vector<std::uint8_t>& image) {
  Layout layout;
  const std::size_t pe = load_u32le(image, 0x3C);
  layout.optional = pe + 24;
  layout.certificate_entry = layout.optional + 112 + 8 * 4;
  layout.certificate_offset = load_u32le(image, layout.certificate_entry);
  layout.certificate_size = load_u32le(image, layout.certificate_entry + 4);
  const std::size_t sections = layout.optional + load_u16le(image, pe + 4 + 16);
  layout.first_section_offset = load_u32le(image, sections + 20);
  for (std::size_t i = 0; i < load_u16le(image, pe + 4 + 2); ++i) {
    const std::size_t header = sections + 40 * i;
    layout.sections_end = std::max<std::size_t>(
        layout.sections_end, load_u32le(image, header + 20) + load_u32le(image, header + 16));
  }
  return layout;
}

TEST(PeAuthenticode, SignedImageMatchesItsSignatureAndOtherTools) {
  CCFDE_LOAD_TESTDATA(image, kSignedImage);
  auto sha256 = authenticode_digest(image, DigestAlgorithm::kSha256);
  ASSERT_TRUE(sha256.ok()) << sha256.status().to_string();
  EXPECT_EQ(hex_encode(*sha256), kSha256);
  auto sha384 = authenticode_digest(image, DigestAlgorithm::kSha384);
  ASSERT_TRUE(sha384.ok()) << sha384.status().to_string();
  EXPECT_EQ(hex_encode(*sha384), kSha384);
}

TEST(PeAuthenticode, ChecksumCertificateEntryAndCertificatesAreExcluded) {
  CCFDE_LOAD_TESTDATA(image, kSignedImage);
  const Layout layout = layout_of(image);
  ASSERT_GT(layout.certificate_size, 0U);
  ASSERT_EQ(layout.certificate_offset + layout.certificate_size, image.size());

  auto changed = image;
  changed[layout.optional + 64] ^= 0xFF;                                     // CheckSum
  changed[layout.certificate_offset + layout.certificate_size / 2] ^= 0xFF;  // inside the signature
  auto digest_value = authenticode_digest(changed, DigestAlgorithm::kSha256);
  ASSERT_TRUE(digest_value.ok());
  EXPECT_EQ(hex_encode(*digest_value), kSha256);

  // The image without its signature: the certificate table entry zeroed and the table cut off.
  auto unsigned_image = image;
  unsigned_image.resize(layout.certificate_offset);
  for (std::size_t i = 0; i < 8; ++i) unsigned_image[layout.certificate_entry + i] = 0;
  digest_value = authenticode_digest(unsigned_image, DigestAlgorithm::kSha256);
  ASSERT_TRUE(digest_value.ok());
  EXPECT_EQ(hex_encode(*digest_value), kSha256);
}

TEST(PeAuthenticode, CodeAndHeaderChangesChangeTheDigest) {
  CCFDE_LOAD_TESTDATA(image, kSignedImage);
  const Layout layout = layout_of(image);
  for (std::size_t offset :
       {std::size_t{0x40}, layout.optional + 16, layout.first_section_offset}) {
    auto changed = image;
    changed[offset] ^= 0x01;
    auto digest_value = authenticode_digest(changed, DigestAlgorithm::kSha256);
    ASSERT_TRUE(digest_value.ok()) << offset;
    EXPECT_NE(hex_encode(*digest_value), kSha256) << "byte " << offset;
  }
}

TEST(PeAuthenticode, BadImagesAreRefusedNamingTheField) {
  CCFDE_LOAD_TESTDATA(image, kSignedImage);
  const Layout layout = layout_of(image);

  auto no_mz = image;
  no_mz[0] = 'X';
  auto result = authenticode_digest(no_mz, DigestAlgorithm::kSha384);
  EXPECT_EQ(result.status().code(), ErrorCode::kMalformed);
  EXPECT_NE(result.status().message().find("MZ"), std::string::npos);

  auto no_pe = image;
  no_pe[load_u32le(image, 0x3C)] = 'Q';
  EXPECT_EQ(authenticode_digest(no_pe, DigestAlgorithm::kSha384).status().code(),
            ErrorCode::kMalformed);

  auto bad_magic = image;
  bad_magic[layout.optional] = 0x77;
  result = authenticode_digest(bad_magic, DigestAlgorithm::kSha384);
  EXPECT_EQ(result.status().code(), ErrorCode::kMalformed);
  EXPECT_NE(result.status().message().find("magic"), std::string::npos);

  const std::vector<std::uint8_t> header_only(image.begin(), image.begin() + 0x100);
  result = authenticode_digest(header_only, DigestAlgorithm::kSha384);
  EXPECT_EQ(result.status().code(), ErrorCode::kTruncated);

  // Cut inside the last section: the section ends beyond the image.
  const std::vector<std::uint8_t> cut(
      image.begin(), image.begin() + static_cast<std::ptrdiff_t>(layout.sections_end) - 1);
  result = authenticode_digest(cut, DigestAlgorithm::kSha384);
  EXPECT_EQ(result.status().code(), ErrorCode::kTruncated);
  EXPECT_NE(result.status().message().find("section"), std::string::npos);

  // A certificate table larger than what follows the sections.
  auto big_certificates = image;
  big_certificates[layout.certificate_entry + 6] = 0x7F;
  result = authenticode_digest(big_certificates, DigestAlgorithm::kSha384);
  EXPECT_EQ(result.status().code(), ErrorCode::kMalformed);
  EXPECT_NE(result.status().message().find("certificate table"), std::string::npos);

  EXPECT_EQ(authenticode_digest({}, DigestAlgorithm::kSha384).status().code(),
            ErrorCode::kTruncated);
}

}  // namespace
}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/report_data.h"

#include <gtest/gtest.h>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

TEST(ReportData, Sha384DigestIsZeroPaddedTo64Bytes) {
  // kbs-constructed-vectors rcar_runtime_data: the TDX/SNP report data is digest || 16 zeros.
  auto digest = hex_decode(
      "d504bd210d8191592f6585a7ac2a51a155608949de9ab6f1a50fc9254e52bd81a15f9c95227ce6685ef018cf7cb"
      "f636f");
  ASSERT_TRUE(digest.ok());
  auto data = report_data_from_digest(*digest);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(
      hex_encode(*data),
      "d504bd210d8191592f6585a7ac2a51a155608949de9ab6f1a50fc9254e52bd81a15f9c95227ce6685ef018cf7cb"
      "f636f00000000000000000000000000000000");
}

TEST(ReportData, FullSizeDigestFillsEverything) {
  auto digest = ccfde::digest(DigestAlgorithm::kSha512, as_bytes("x"));
  ASSERT_TRUE(digest.ok());
  auto data = report_data_from_digest(*digest);
  ASSERT_TRUE(data.ok());
  EXPECT_TRUE(std::equal(data->begin(), data->end(), digest->begin()));
}

TEST(ReportData, OversizedDigestIsRefused) {
  std::vector<std::uint8_t> too_long(65, 1);
  auto data = report_data_from_digest(too_long);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// REPORTDATA: the 64 bytes of caller data bound into a TDX quote or an SNP report.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "ccfde/common/status.h"

namespace ccfde::measure {

inline constexpr std::size_t kReportDataSize = 64;
using ReportData = std::array<std::uint8_t, kReportDataSize>;

// REPORTDATA holding `digest` followed by zero bytes (a SHA-384 digest gives 48 bytes + 16 zeros,
// as Trustee's KBS protocol places it for TDX and SNP). kInvalidArgument if the digest is longer
// than 64 bytes.
Result<ReportData> report_data_from_digest(std::span<const std::uint8_t> digest);

}  // namespace ccfde::measure

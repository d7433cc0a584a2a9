// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/report_data.h"

#include <algorithm>

namespace ccfde::measure {

Result<ReportData> report_data_from_digest(std::span<const std::uint8_t> digest) {
  if (digest.size() > kReportDataSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a {}-byte digest does not fit the {}-byte REPORTDATA", digest.size(),
                      kReportDataSize);
  }
  ReportData data{};
  std::copy(digest.begin(), digest.end(), data.begin());
  return data;
}

}  // namespace ccfde::measure

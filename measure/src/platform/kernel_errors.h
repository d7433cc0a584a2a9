// SPDX-License-Identifier: Apache-2.0
// Private to the platform part: errno of a failed kernel-interface call -> Status.
#pragma once

#include <cerrno>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::measure::internal {

// ENOENT/ENOTDIR/ENODEV -> kNotFound, EBUSY/EAGAIN -> kBusy, ETIMEDOUT -> kDeadlineExceeded, any
// other errno -> kDeviceError. The errno is kept in the Status.
inline Status kernel_errno_status(int error, std::string_view what) {
  ErrorCode code = ErrorCode::kDeviceError;
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ENODEV: code = ErrorCode::kNotFound; break;
    case EBUSY:
    case EAGAIN: code = ErrorCode::kBusy; break;
    case ETIMEDOUT: code = ErrorCode::kDeadlineExceeded; break;
    default: break;
  }
  return make_errno_error(code, error, "{}", what);
}

}  // namespace ccfde::measure::internal

// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: the Status an emulated kernel interface returns for an errno it would give.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include "ccfde/common/status.h"

namespace ccfde::tdx_emu {

// A Status carrying `error` as sys_errno() (which the FUSE adapters hand back), with a code that
// fits it: kNotFound for ENOENT, kInvalidArgument for EINVAL, kDeviceError otherwise.
inline Status errno_status(int error, std::string message) {
  const ErrorCode code = error == ENOENT   ? ErrorCode::kNotFound
                         : error == EINVAL ? ErrorCode::kInvalidArgument
                                           : ErrorCode::kDeviceError;
  return Status(code, std::move(message), error);
}

}  // namespace ccfde::tdx_emu

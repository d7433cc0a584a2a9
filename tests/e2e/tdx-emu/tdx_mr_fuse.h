// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: a TdxMrModel mounted with libfuse3 where the TDX guest driver's sysfs measurements
// directory would be (/sys/devices/virtual/misc/tdx_guest/measurements, Linux >= 6.16).
#pragma once

#include <filesystem>
#include <memory>

#include "ccfde/common/status.h"
#include "fuse_mount.h"
#include "tdx_mr_model.h"

namespace ccfde::tdx_emu {

// Mounts `model` at `mountpoint` (an existing directory); serve_fuse_mounts answers its requests.
// `model` must outlive the mount. Errors: those of FuseMount::mount.
Result<std::unique_ptr<FuseMount>> mount_tdx_measurements(const std::filesystem::path& mountpoint,
                                                          TdxMrModel& model);

}  // namespace ccfde::tdx_emu

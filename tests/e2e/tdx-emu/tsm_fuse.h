// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: a TsmReportModel mounted with libfuse3 where configfs-tsm's report directory would be.
#pragma once

#include <filesystem>
#include <memory>

#include "ccfde/common/status.h"
#include "fuse_mount.h"
#include "tsm_report_model.h"

namespace ccfde::tdx_emu {

// Mounts `model` at `mountpoint` (an existing directory); serve_fuse_mounts answers its requests.
// `model` must outlive the mount. Errors: those of FuseMount::mount.
Result<std::unique_ptr<FuseMount>> mount_tsm_report(const std::filesystem::path& mountpoint,
                                                    TsmReportModel& model);

}  // namespace ccfde::tdx_emu

// TEST ONLY: a TsmReportModel mounted with libfuse3 where configfs-tsm's report directory would be.
#pragma once

#include <filesystem>
#include <memory>

#include "ccfde/common/status.h"
#include "tsm_report_model.h"

struct fuse;

namespace ccfde::tdx_emu {

class TsmFuseMount {
 public:
  // Mounts `model` at `mountpoint` (an existing directory) and installs libfuse's SIGTERM, SIGINT
  // and SIGHUP handlers, which end serve(). `model` must outlive the mount. kDeviceError when
  // libfuse cannot create or mount the file system (libfuse prints why on stderr; /dev/fuse
  // absent, not root, ...).
  static Result<std::unique_ptr<TsmFuseMount>> mount(const std::filesystem::path& mountpoint,
                                                     TsmReportModel& model);

  TsmFuseMount(const TsmFuseMount&) = delete;
  TsmFuseMount& operator=(const TsmFuseMount&) = delete;
  // Unmounts and restores the signal dispositions.
  ~TsmFuseMount();

  // Answers requests one at a time until a handled signal arrives or the file system is
  // unmounted from outside (both OK). kDeviceError when libfuse's loop fails.
  Status serve();

  const std::filesystem::path& mountpoint() const { return mountpoint_; }

 private:
  TsmFuseMount(struct fuse* fuse, std::filesystem::path mountpoint)
      : fuse_(fuse), mountpoint_(std::move(mountpoint)) {}

  struct fuse* fuse_;
  std::filesystem::path mountpoint_;
  bool mounted_ = false;
  bool signal_handlers_ = false;
};

}  // namespace ccfde::tdx_emu

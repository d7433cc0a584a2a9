// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: the libfuse3 plumbing the emulation's mounts share: mounting a file system
// (tsm_fuse.h, tdx_mr_fuse.h), answering the requests of several mounts in one thread, and ending
// on SIGTERM, SIGINT or SIGHUP.
#pragma once

#include <signal.h>

#include <filesystem>
#include <memory>
#include <span>

#include "ccfde/common/status.h"
#include "ccfde/common/unique_fd.h"

struct fuse;
struct fuse_operations;

namespace ccfde::tdx_emu {

// SIGTERM, SIGINT and SIGHUP blocked in this thread from construction on and readable through a
// signalfd, so that one arriving while the mounts are being set up still ends serve_fuse_mounts
// (and the mounts get unmounted) instead of killing the process. SIGPIPE is ignored. The
// destructor restores the signal mask.
class TerminationSignals {
 public:
  // kIoError when the signals cannot be blocked or the signalfd cannot be made.
  static Result<std::unique_ptr<TerminationSignals>> block();
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;
  ~TerminationSignals();

  int fd() const { return fd_.get(); }

 private:
  TerminationSignals() = default;
  UniqueFd fd_;
  bool restore_mask_ = false;
  sigset_t old_mask_{};
};

class FuseMount {
 public:
  // Mounts a file system answering with `operations` at `mountpoint` (an existing directory);
  // `private_data` is what fuse_get_context()->private_data gives the operations, and must outlive
  // the mount. `name` is its fsname and subtype in /proc/mounts. allow_other and
  // default_permissions: the kernel applies the modes getattr reports to every user, as for the
  // real root-owned kernel file systems. kDeviceError when libfuse cannot create or mount it
  // (libfuse prints why on stderr: /dev/fuse absent, not root, ...).
  static Result<std::unique_ptr<FuseMount>> mount(const std::filesystem::path& mountpoint,
                                                  const struct fuse_operations& operations,
                                                  void* private_data, const char* name);

  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;
  // Unmounts.
  ~FuseMount();

  const std::filesystem::path& mountpoint() const { return mountpoint_; }
  struct fuse* handle() const {
    return fuse_;
  }

 private:
  FuseMount(struct fuse* fuse, std::filesystem::path mountpoint)
      : fuse_(fuse), mountpoint_(std::move(mountpoint)) {}

  struct fuse* fuse_;
  std::filesystem::path mountpoint_;
  bool mounted_ = false;
};

// Answers the requests of every mount in `mounts`, one request at a time in this thread (so the
// models behind them need no locking and see each other's changes in request order), until one of
// `signals` arrives or a mount is unmounted from outside (both OK). kDeviceError when reading
// /dev/fuse or polling fails.
Status serve_fuse_mounts(std::span<FuseMount* const> mounts, const TerminationSignals& signals);

}  // namespace ccfde::tdx_emu

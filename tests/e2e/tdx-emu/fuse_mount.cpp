// SPDX-License-Identifier: Apache-2.0
#include "fuse_mount.h"

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace ccfde::tdx_emu {

Result<std::unique_ptr<TerminationSignals>> TerminationSignals::block() {
  std::unique_ptr<TerminationSignals> result(new TerminationSignals());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (const int error = pthread_sigmask(SIG_BLOCK, &set, &result->old_mask_); error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot block SIGTERM, SIGINT and SIGHUP");
  }
  result->restore_mask_ = true;
  result->fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!result->fd_) return make_errno_error(ErrorCode::kIoError, errno, "signalfd failed");
  // A client that closes its end early must not kill the server (libfuse's own handlers do this).
  (void)::signal(SIGPIPE, SIG_IGN);
  return result;
}

TerminationSignals::~TerminationSignals() {
  fd_.reset();
  if (restore_mask_) (void)pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Result<std::unique_ptr<FuseMount>> FuseMount::mount(const std::filesystem::path& mountpoint,
                                                    const struct fuse_operations& operations,
                                                    void* private_data, const char* name) {
  std::string program = "cc-fde-tdx-emu";
  std::string option_flag = "-o";
  std::string options =
      std::string("fsname=") + name + ",subtype=" + name + ",allow_other,default_permissions";
  char* argv[] = {program.data(), option_flag.data(), options.data(), nullptr};
  struct fuse_args args = FUSE_ARGS_INIT(3, argv);
  struct fuse* fuse = fuse_new(&args, &operations, sizeof operations, private_data);
  fuse_opt_free_args(&args);
  if (fuse == nullptr) {
    return make_error(ErrorCode::kDeviceError, "libfuse cannot create the {} file system", name);
  }
  std::unique_ptr<FuseMount> result(new FuseMount(fuse, mountpoint));
  if (fuse_mount(fuse, mountpoint.c_str()) != 0) {
    return make_error(ErrorCode::kDeviceError,
                      "cannot mount the emulated {} at {} (/dev/fuse present? root?)", name,
                      mountpoint.string());
  }
  result->mounted_ = true;
  return result;
}

FuseMount::~FuseMount() {
  if (mounted_) fuse_unmount(fuse_);
  fuse_destroy(fuse_);
}

Status serve_fuse_mounts(std::span<FuseMount* const> mounts, const TerminationSignals& signals) {
  struct Served {
    struct fuse_session* session;
    struct fuse_buf buffer;
  };
  std::vector<Served> served;
  std::vector<struct pollfd> polled;
  for (FuseMount* mount : mounts) {
    struct fuse_session* session = fuse_get_session(mount->handle());
    served.push_back({session, {}});
    polled.push_back({fuse_session_fd(session), POLLIN, 0});
  }
  polled.push_back({signals.fd(), POLLIN, 0});
  // libfuse allocates each request buffer on first use and keeps it.
  struct BufferRelease {
    std::vector<Served>& served;
    ~BufferRelease() {
      for (auto& entry : served) std::free(entry.buffer.mem);
    }
  } release{served};

  for (;;) {
    if (::poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return make_errno_error(ErrorCode::kDeviceError, errno, "poll on the FUSE devices failed");
    }
    if (polled.back().revents != 0) {
      // Consume it: still pending when ~TerminationSignals unblocks it, it would kill the process.
      struct signalfd_siginfo info;
      (void)!::read(signals.fd(), &info, sizeof info);
      return Status();
    }
    for (std::size_t i = 0; i < served.size(); ++i) {
      if (polled[i].revents == 0) continue;
      const int received = fuse_session_receive_buf(served[i].session, &served[i].buffer);
      // ENOENT: the request was interrupted; EAGAIN: another reader took it.
      if (received == -EINTR || received == -EAGAIN || received == -ENOENT) continue;
      if (received < 0) {
        return make_errno_error(ErrorCode::kDeviceError, -received,
                                "reading FUSE requests for {} failed",
                                mounts[i]->mountpoint().string());
      }
      // 0 (libfuse has marked the session exited): unmounted from outside.
      if (received == 0 || fuse_session_exited(served[i].session)) return Status();
      fuse_session_process_buf(served[i].session, &served[i].buffer);
    }
  }
}

}  // namespace ccfde::tdx_emu

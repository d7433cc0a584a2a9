// SPDX-License-Identifier: Apache-2.0
// protect_key_process: what a process holding keys does first (binding.h).
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "ccfde/agent/binding.h"

namespace ccfde::agent {
namespace {

bool has_ipc_lock_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)) != 0;
}

Status lock_memory() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
    return make_errno_error(ErrorCode::kDeviceError, errno, "getrlimit(RLIMIT_MEMLOCK)");
  }
  if (limit.rlim_cur != RLIM_INFINITY && !has_ipc_lock_capability()) {
    return make_error(ErrorCode::kUnsupported,
                      "memory is not locked: the process lacks CAP_IPC_LOCK and RLIMIT_MEMLOCK is "
                      "{} KiB (run as root, or with an unlimited memlock limit)",
                      limit.rlim_cur / 1024);
  }
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    return make_errno_error(ErrorCode::kDeviceError, errno,
                            "memory is not locked: mlockall(MCL_CURRENT | MCL_FUTURE) failed");
  }
  return Status();
}

}  // namespace

Result<KeyProcessProtection> protect_key_process() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return make_errno_error(ErrorCode::kDeviceError, errno, "prctl(PR_SET_DUMPABLE, 0)");
  }
  const struct rlimit no_core {};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return make_errno_error(ErrorCode::kDeviceError, errno, "setrlimit(RLIMIT_CORE, 0)");
  }
  return KeyProcessProtection{lock_memory()};
}

}  // namespace ccfde::agent

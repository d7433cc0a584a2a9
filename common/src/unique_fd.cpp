// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/unique_fd.h"

#include <unistd.h>

namespace ccfde {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
    (void)::close(fd_);
  }
  fd_ = fd;
}

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/ioctl_device.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "kernel_errors.h"

namespace ccfde::measure {

Result<std::unique_ptr<FileIoctlDevice>> FileIoctlDevice::open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return internal::kernel_errno_status(error, fmt::format("cannot open {}", path.string()));
  }
  return std::unique_ptr<FileIoctlDevice>(new FileIoctlDevice(path.string(), std::move(fd)));
}

int FileIoctlDevice::ioctl(unsigned long request, void* argument) {
  return ::ioctl(fd_.get(), request, argument) == 0 ? 0 : errno;
}

}  // namespace ccfde::measure

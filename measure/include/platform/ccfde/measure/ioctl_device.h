// SPDX-License-Identifier: Apache-2.0
// IoctlDevice: the seam between guest-device sources and the kernel. Real code opens a character
// device; tests substitute a fake that plays the driver on the same ABI structs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "ccfde/common/status.h"
#include "ccfde/common/unique_fd.h"

namespace ccfde::measure {

// Linux _IOC encoding (asm-generic/ioctl.h), so request numbers can be pinned with static_assert
// without including kernel headers.
inline constexpr unsigned long kIocWrite = 1;
inline constexpr unsigned long kIocRead = 2;
constexpr unsigned long ioctl_number(unsigned long direction, char type, unsigned long number,
                                     unsigned long size) {
  return (direction << 30) | (size << 16) | (static_cast<unsigned long>(type) << 8) | number;
}

// One open device that accepts ioctls.
class IoctlDevice {
 public:
  virtual ~IoctlDevice() = default;
  // The device path (for messages).
  virtual std::string path() const = 0;
  // Issues `request` with `argument`, as ioctl(2) does. Returns 0 on success or the errno of the
  // failure. EINTR is returned, not retried: whether a request may be repeated is the caller's
  // decision (an SNP guest request must not be repeated blindly).
  virtual int ioctl(unsigned long request, void* argument) = 0;
};

// A real character device.
class FileIoctlDevice final : public IoctlDevice {
 public:
  // Opens `path` read-write. kNotFound when absent, kDeviceError (with errno) otherwise.
  static Result<std::unique_ptr<FileIoctlDevice>> open(const std::filesystem::path& path);

  std::string path() const override { return path_; }
  int ioctl(unsigned long request, void* argument) override;

 private:
  FileIoctlDevice(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

}  // namespace ccfde::measure

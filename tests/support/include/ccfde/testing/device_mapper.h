// SPDX-License-Identifier: Apache-2.0
// Helpers for the branches of the agent tests that run only where the kernel has device-mapper
// (the VM test runs them in its provisioning guest, tests/e2e/lib/provision.sh; this host has
// none): a guard that closes a mapping on every path out of a test, the loop devices a file image
// is attached to, and reads and writes of a block device. Header-only: only the agent tests, which
// link the agent core, include it.
#pragma once

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ccfde/agent/luks_volume.h"

namespace ccfde::testing {

// Whether the kernel offers device-mapper (/proc/misc lists it; a /dev/mapper/control node alone
// proves nothing).
inline bool have_device_mapper() {
  std::ifstream misc("/proc/misc");
  std::string line;
  while (std::getline(misc, line)) {
    if (line.find("device-mapper") != std::string::npos) return true;
  }
  return false;
}

// The loop devices ("loop0", ...) whose backing file is `file` (libcryptsetup attaches a file image
// to one to activate it, with autoclear: it must go away with the mapping).
inline std::vector<std::string> loop_devices_backing(const std::filesystem::path& file) {
  std::vector<std::string> devices;
  std::error_code error;
  const auto wanted = std::filesystem::weakly_canonical(file, error);
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("loop", 0) != 0) continue;
    std::ifstream backing(entry.path() / "loop" / "backing_file");
    std::string line;
    if (std::getline(backing, line) && std::filesystem::path(line) == wanted) {
      devices.push_back(name);
    }
  }
  return devices;
}

// Whether no loop device backs `file`, waiting up to 2 s for the kernel to detach one whose last
// user (a mapping, a libcryptsetup handle) has just gone.
inline bool no_loop_device_backs(const std::filesystem::path& file) {
  for (int i = 0; i < 40; ++i) {
    if (loop_devices_backing(file).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A loop device attached to `file` while this object lives (detached on every path; with
// autoclear, so a mapping still on it at that moment takes it along when it goes). The agent
// unlocks block devices: a mapping libcryptsetup makes of a file image reads from a loop device
// it attached itself, which LuksVolume::check_active_mapping rightly refuses as another device.
class LoopDevice {
 public:
  explicit LoopDevice(const std::filesystem::path& file) {
    for (int attempt = 0; attempt < 5 && fd_ < 0; ++attempt) {
      const int control = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
      if (control < 0) return;
      const int number = ::ioctl(control, LOOP_CTL_GET_FREE);
      ::close(control);
      if (number < 0) return;
      const std::string path = "/dev/loop" + std::to_string(number);
      const int loop = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      const int backing = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
      if (loop >= 0 && backing >= 0 && ::ioctl(loop, LOOP_SET_FD, backing) == 0) {
        fd_ = loop;
        path_ = path;
      } else if (loop >= 0) {
        ::close(loop);
      }
      if (backing >= 0) ::close(backing);
    }
    if (fd_ < 0) return;
    struct loop_info64 info {};
    info.lo_flags = LO_FLAGS_AUTOCLEAR;
    (void)::ioctl(fd_, LOOP_SET_STATUS64, &info);
  }
  ~LoopDevice() {
    if (fd_ < 0) return;
    (void)::ioctl(fd_, LOOP_CLR_FD, 0);
    ::close(fd_);
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// Closes device-mapper mapping `name` when it goes out of scope, whatever path the test took
// (an ASSERT that returned early included).
class MappingGuard {
 public:
  explicit MappingGuard(std::string name) : name_(std::move(name)) {}
  ~MappingGuard() {
    if (agent::LuksVolume::is_active(name_)) (void)agent::LuksVolume::deactivate(name_);
  }
  MappingGuard(const MappingGuard&) = delete;
  MappingGuard& operator=(const MappingGuard&) = delete;
  const std::string& name() const { return name_; }
  std::filesystem::path device() const { return std::filesystem::path("/dev/mapper") / name_; }

 private:
  std::string name_;
};

// A pattern that differs per `seed`, `size` bytes.
inline std::vector<std::uint8_t> test_pattern(std::size_t size, std::uint32_t seed) {
  std::vector<std::uint8_t> bytes(size);
  std::uint32_t state = seed * 2654435761u + 1;
  for (auto& byte : bytes) {
    state = state * 1103515245u + 12345u;
    byte = static_cast<std::uint8_t>(state >> 16);
  }
  return bytes;
}

// Writes `bytes` at `offset` of `device` and flushes them to it (fsync). False on any error.
inline bool write_device(const std::filesystem::path& device, std::uint64_t offset,
                         const std::vector<std::uint8_t>& bytes) {
  const int fd = ::open(device.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
                           static_cast<ssize_t>(bytes.size()) &&
                       ::fsync(fd) == 0;
  return ::close(fd) == 0 && written;
}

// `size` bytes at `offset` of `device` (empty on any error).
inline std::vector<std::uint8_t> read_device(const std::filesystem::path& device,
                                             std::uint64_t offset, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  const int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  const bool read =
      ::pread(fd, bytes.data(), size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
  ::close(fd);
  return read ? bytes : std::vector<std::uint8_t>{};
}

}  // namespace ccfde::testing

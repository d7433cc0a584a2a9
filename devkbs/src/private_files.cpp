// SPDX-License-Identifier: Apache-2.0
#include "private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"

namespace ccfde::devkbs {

Status make_private_directories(const std::filesystem::path& dir) {
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) return Status::ok_status();
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    CCFDE_RETURN_IF_ERROR(make_private_directories(dir.parent_path()));
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot create directory {}", dir.string());
  }
  return Status::ok_status();
}

Status write_private_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  const std::filesystem::path temporary =
      path.parent_path() / ("." + path.filename().string() + ".tmp");
  UniqueFd fd(
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", temporary.string());
  }
  if (::fchmod(fd.get(), 0600) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot chmod {}", temporary.string());
  }
  if (const int error = write_all(fd.get(), bytes); error != 0) {
    ::unlink(temporary.c_str());
    return make_errno_error(ErrorCode::kIoError, error, "cannot write {}", temporary.string());
  }
  if (::fsync(fd.get()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    return make_errno_error(ErrorCode::kIoError, error, "cannot sync {}", temporary.string());
  }
  fd.reset();
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    return make_errno_error(ErrorCode::kIoError, error, "cannot rename to {}", path.string());
  }
  return Status::ok_status();
}

}  // namespace ccfde::devkbs

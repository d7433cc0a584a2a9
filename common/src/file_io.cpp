// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "ccfde/common/unique_fd.h"

namespace ccfde {
namespace {

ErrorCode code_for_open_errno(int error) {
  return error == ENOENT || error == ENOTDIR ? ErrorCode::kNotFound : ErrorCode::kIoError;
}

}  // namespace

int write_all(int fd, std::span<const std::uint8_t> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t written = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    // A write of nothing would repeat forever; the device is not taking data.
    if (written == 0) return EIO;
    done += static_cast<std::size_t>(written);
  }
  return 0;
}

int read_all(int fd, std::vector<std::uint8_t>& out, std::size_t max_size, std::size_t chunk_size) {
  out.clear();
  while (out.size() <= max_size) {
    const std::size_t filled = out.size();
    out.resize(filled + chunk_size);
    const ssize_t got = ::read(fd, out.data() + filled, chunk_size);
    if (got < 0) {
      const int error = errno;
      out.resize(filled);
      if (error == EINTR) continue;
      return error;
    }
    out.resize(filled + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  return 0;
}

Result<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path,
                                            std::size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return make_errno_error(code_for_open_errno(error), error, "cannot open {}", path.string());
  }
  std::vector<std::uint8_t> content;
  if (const int error = read_all(fd.get(), content, max_size); error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot read {} at offset {}",
                            path.string(), content.size());
  }
  if (content.size() > max_size) {
    return make_error(ErrorCode::kInvalidArgument, "{} is larger than the limit of {} bytes",
                      path.string(), max_size);
  }
  return content;
}

Result<std::string> read_text_attribute(const std::filesystem::path& path, std::size_t max_size) {
  CCFDE_ASSIGN_OR_RETURN(auto bytes, read_file(path, max_size));
  std::string text(bytes.begin(), bytes.end());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Status write_attribute(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return make_errno_error(code_for_open_errno(error), error, "cannot open {} for writing",
                            path.string());
  }
  ssize_t written = 0;
  do {
    written = ::write(fd.get(), bytes.data(), bytes.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "cannot write {} bytes to {}", bytes.size(),
                            path.string());
  }
  if (static_cast<std::size_t>(written) != bytes.size()) {
    return make_error(ErrorCode::kIoError, "short write to {}: {} of {} bytes", path.string(),
                      written, bytes.size());
  }
  // configfs commits binary attributes on close; a close error is a write error.
  if (::close(fd.release()) != 0) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "closing {} after writing failed",
                            path.string());
  }
  return Status();
}

Status write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    const int error = errno;
    return make_errno_error(code_for_open_errno(error), error, "cannot create {}", path.string());
  }
  if (const int error = write_all(fd.get(), bytes); error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot write {}", path.string());
  }
  if (::close(fd.release()) != 0) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "cannot close {}", path.string());
  }
  return Status();
}

Result<SecretBytes> read_secret_file(const std::filesystem::path& path, std::size_t max_size,
                                     SecretFileAccess access) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is refused below.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    const int error = errno;
    return make_errno_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, error,
                            "cannot open {}", path.string());
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "cannot stat {}", path.string());
  }
  if (!S_ISREG(info.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, "{} is not a regular file", path.string());
  }
  if (access == SecretFileAccess::kOwnerOnly && (info.st_mode & 077) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} has mode {:04o}, which lets group or others access it (chmod 600 it)",
                      path.string(), info.st_mode & 07777);
  }
  if (info.st_size <= 0 || static_cast<std::uint64_t>(info.st_size) > max_size) {
    return make_error(ErrorCode::kInvalidArgument, "{} holds {} bytes (expected 1 to {})",
                      path.string(), info.st_size, max_size);
  }
  SecretBytes secret(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < secret.size()) {
    const ssize_t got = ::read(fd.get(), secret.data() + done, secret.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      return make_errno_error(ErrorCode::kIoError, error, "cannot read {}", path.string());
    }
    if (got == 0) {
      return make_error(ErrorCode::kIoError, "{} shrank while being read", path.string());
    }
    done += static_cast<std::size_t>(got);
  }
  return secret;
}

}  // namespace ccfde

#include "cli_support.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ccfde/agent/binding.h"
#include "ccfde/common/unique_fd.h"

namespace ccfde::fdectl {

int exit_status_for(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk: return 0;
    case ErrorCode::kAttestationRefused:
    case ErrorCode::kPolicyDenied:
    case ErrorCode::kResourceNotFound: return 1;
    default: return 2;
  }
}

int fail(const Status& status) {
  std::fprintf(stderr, "fdectl: %s\n", agent::one_line_printable(status.to_string()).c_str());
  return exit_status_for(status);
}

void note(std::string_view line) {
  std::fprintf(stderr, "fdectl: %s\n", agent::one_line_printable(line).c_str());
}

bool protect_process(bool warn_unlocked) {
  auto protection = agent::protect_key_process();
  if (!protection.ok()) {
    fail(protection.status().with_context("cannot protect the process that will hold keys"));
    return false;
  }
  const Status& lock = protection->memory_lock;
  if (warn_unlocked && !lock.ok()) {
    // The message without its code name: a WARNING line is not an error line.
    std::string line = "WARNING: " + lock.message();
    if (lock.sys_errno() != 0) line += fmt::format(" ({})", std::strerror(lock.sys_errno()));
    note(line + "; keys may be swapped out");
  }
  return true;
}

Result<SecretBytes> read_secret_file(const std::filesystem::path& path) {
  constexpr off_t kMaxSize = off_t{8} << 20;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
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
  if (info.st_size == 0 || info.st_size > kMaxSize) {
    return make_error(ErrorCode::kInvalidArgument, "{} holds {} bytes (expected 1 to {})",
                      path.string(), info.st_size, kMaxSize);
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

}  // namespace ccfde::fdectl

// SPDX-License-Identifier: Apache-2.0
#include "secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"

namespace ccfde::fdectl {

Status write_secret_file(const std::filesystem::path& path, const SecretBytes& secret) {
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temporary = (directory / ".fdectl-secret-XXXXXX").string();
  // mkstemp creates the file with mode 0600.
  UniqueFd fd(::mkostemp(temporary.data(), O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "cannot create a file in {}",
                            directory.string());
  }
  auto fail = [&](std::string_view what, int error) {
    (void)::unlink(temporary.c_str());
    return make_errno_error(ErrorCode::kIoError, error, "{} {}", what, path.string());
  };
  if (const int error = write_all(fd.get(), secret.span()); error != 0) {
    return fail("cannot write", error);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot sync", errno);
  if (::close(fd.release()) != 0) return fail("cannot close", errno);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return fail("cannot rename onto", errno);
  return Status();
}

}  // namespace ccfde::fdectl

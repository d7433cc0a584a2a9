// SPDX-License-Identifier: Apache-2.0
#include "cli_support.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "ccfde/agent/binding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::fdectl {

int exit_status_for(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk: return 0;
    case ErrorCode::kAttestationRefused:
    case ErrorCode::kPolicyDenied:
    case ErrorCode::kSessionRejected:
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

Result<SecretBytes> read_option_secret(const std::string& path, std::string_view option) {
  if (path.empty()) return SecretBytes();
  // cryptsetup's key file limit.
  auto secret = read_secret_file(path, std::size_t{8} << 20);
  if (!secret.ok()) return secret.status().with_context(option);
  return secret;
}

}  // namespace ccfde::fdectl

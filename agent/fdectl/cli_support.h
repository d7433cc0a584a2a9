// What every fdectl subcommand shares: one error line, the exit status, reading secret files.
#pragma once

#include <filesystem>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::fdectl {

// 1 when the broker refused (attestation, policy, missing resource), else 2.
int exit_status_for(const Status& status);

// Prints "fdectl: <code_name>: <message>" to stderr once and returns exit_status_for(status).
int fail(const Status& status);

// Prints "fdectl: <line>" to stderr (progress and notes, never secrets).
void note(std::string_view line);

// The exact bytes of `path` (no newline is stripped: a passphrase file written with `echo` holds
// the newline, as with `cryptsetup --key-file`), read straight into SecretBytes. Errors: kNotFound,
// kIoError, kInvalidArgument (empty, or larger than 8 MiB, cryptsetup's key file limit).
Result<SecretBytes> read_secret_file(const std::filesystem::path& path);

}  // namespace ccfde::fdectl

// SPDX-License-Identifier: Apache-2.0
// What every fdectl subcommand shares: one error line, the exit status, reading secret files.
#pragma once

#include <filesystem>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::fdectl {

// 1 when the broker refused (attestation, policy, missing resource), else 2.
int exit_status_for(const Status& status);

// Every line fdectl prints that may hold a string from a LUKS header, a token or the broker goes
// through agent::one_line_printable (binding.h) first, these two included.

// Prints "fdectl: <code_name>: <message>" to stderr once and returns exit_status_for(status).
int fail(const Status& status);

// Prints "fdectl: <line>" to stderr (progress and notes, never secrets).
void note(std::string_view line);

// Puts fdectl in protect_key_process's state (binding.h). Returns false, after printing why, when
// the process could not be protected; a memory lock that is not possible (no CAP_IPC_LOCK and a
// finite RLIMIT_MEMLOCK, as for an unprivileged user) is not fatal: `warn_unlocked` prints a
// WARNING line for the commands that handle keys.
bool protect_process(bool warn_unlocked);

// The secret in the file `path` that the command-line option `option` (e.g. "--unlock-with")
// names, or an empty SecretBytes when the option was not given (`path` empty). The exact bytes
// (no newline is stripped: a passphrase file written with `echo` holds the newline, as with
// `cryptsetup --key-file`), read by read_secret_file (file_io.h). Errors, prefixed with `option`:
// kNotFound, kIoError, kInvalidArgument (not a regular file, empty, or larger than 8 MiB,
// cryptsetup's key file limit).
Result<SecretBytes> read_option_secret(const std::string& path, std::string_view option);

}  // namespace ccfde::fdectl

// SPDX-License-Identifier: Apache-2.0
// Running a helper program (the agent's mkfs at a first boot) without a shell, an inherited
// environment or a path search.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde {

// Runs `program` (an absolute path, never searched) with `args` (argv[1..]; argv[0] is the
// program's path), an environment of only PATH=/usr/sbin:/usr/bin:/sbin:/bin and LC_ALL=C,
// standard input from /dev/null, standard output and error inherited, and waits for it. A program
// still running at `timeout` is killed (SIGKILL) and reaped. OK when it exited with status 0.
// Errors: kInvalidArgument (a relative path), kNotFound (no such program), kIoError (it cannot be
// started, exited with another status or was killed by a signal: the message names the program,
// and the status or the signal), kDeadlineExceeded (killed at the timeout).
Status run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout);

}  // namespace ccfde

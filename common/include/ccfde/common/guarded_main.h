// SPDX-License-Identifier: Apache-2.0
// The last line of defence of every cc-fde program's main(): library code returns Status, so an
// exception reaching main is a bug, and it should end the program with a message and an exit
// status rather than std::terminate's SIGABRT (and a core dump of a process that may hold keys).
#pragma once

#include <string_view>

namespace ccfde {

// Returns run_main(argc, argv). An std::exception that escapes it is reported on stderr as
// "<program>: internal error: <what>" and gives `error_status`; any other exception the same,
// with "unknown exception" as the text.
int guarded_main(std::string_view program, int error_status, int (*run_main)(int, char**), int argc,
                 char** argv) noexcept;

}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/guarded_main.h"

#include <cstdio>
#include <exception>

namespace ccfde {
namespace {

void report(std::string_view program, const char* what) noexcept {
  std::fprintf(stderr, "%.*s: internal error: %s\n", static_cast<int>(program.size()),
               program.data(), what);
}

}  // namespace

int guarded_main(std::string_view program, int error_status, int (*run_main)(int, char**), int argc,
                 char** argv) noexcept {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& error) {
    report(program, error.what());
  } catch (...) {
    report(program, "unknown exception");
  }
  return error_status;
}

}  // namespace ccfde

# SPDX-License-Identifier: Apache-2.0
# Warnings as errors for project code only, applied per target through an INTERFACE library.
add_library(ccfde_warnings INTERFACE)
target_compile_options(ccfde_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  -Werror=unused-result -Werror
  # GCC 12's flow-based diagnostics report false positives inside libstdc++ at -O2 (vector
  # insert/memcpy, GCC bugs 100366/105545); they stay visible as warnings, and the ASan+UBSan
  # build checks real out-of-bounds accesses.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=array-bounds -Wno-error=stringop-overflow
                          -Wno-error=stringop-overread -Wno-error=restrict>)

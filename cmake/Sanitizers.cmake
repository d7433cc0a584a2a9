# SPDX-License-Identifier: Apache-2.0
# CCFDE_SANITIZE=address,undefined instruments every target; errors abort (no recovery).
# A report needs function names and source lines: Debug and RelWithDebInfo builds have them through
# their build type's flags (which CI trims to line tables, -g1, to compile faster); other build
# types get line tables here.
if(CCFDE_SANITIZE)
  add_compile_options(-fsanitize=${CCFDE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer
                      $<$<NOT:$<CONFIG:Debug,RelWithDebInfo>>:-g1>)
  add_link_options(-fsanitize=${CCFDE_SANITIZE})
endif()

# CCFDE_FUZZ=ON (clang): coverage instrumentation for libFuzzer on every target, with ASan+UBSan.
if(CCFDE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CCFDE_FUZZ needs clang (-DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()

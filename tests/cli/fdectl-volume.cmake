# SPDX-License-Identifier: Apache-2.0
# fdectl's volume commands (enroll, list, test, rotate, unbind) on LUKS2 image files against a real
# devkbs, and the crash-injection suite (skipped, exit 77, unless fdectl has fault points:
# -DCCFDE_FAULT_INJECTION=ON).
add_test(NAME fdectl_volume_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fdectl-volume-test.sh $<TARGET_FILE:fdectl>
          $<TARGET_FILE:devkbs>)
set_tests_properties(fdectl_volume_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77)

# One test per operation, so that ctest runs the suite's shards side by side (under ASan the whole
# suite takes minutes). COST makes ctest start the long ones first even without a cost record from
# an earlier run (a clean clone).
foreach(operation enroll rotate unbind encrypt reencrypt recovery)
  add_test(NAME fdectl_crash_cli_${operation}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fdectl-crash-test.sh $<TARGET_FILE:fdectl>
            $<TARGET_FILE:devkbs> ${operation})
  set_tests_properties(fdectl_crash_cli_${operation} PROPERTIES LABELS cli SKIP_RETURN_CODE 77
                       COST 100)
endforeach()
set_tests_properties(fdectl_volume_cli PROPERTIES COST 200)

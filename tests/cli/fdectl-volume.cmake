# SPDX-License-Identifier: Apache-2.0
# fdectl's volume commands (enroll, list, test, rotate, unbind) on LUKS2 image files against a real
# devkbs, and the crash-injection suite (skipped, exit 77, unless fdectl has fault points:
# -DCCFDE_FAULT_INJECTION=ON).
add_test(NAME fdectl_volume_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fdectl-volume-test.sh $<TARGET_FILE:fdectl>
          $<TARGET_FILE:devkbs>)
set_tests_properties(fdectl_volume_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77)

add_test(NAME fdectl_crash_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fdectl-crash-test.sh $<TARGET_FILE:fdectl>
          $<TARGET_FILE:devkbs>)
set_tests_properties(fdectl_crash_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77)

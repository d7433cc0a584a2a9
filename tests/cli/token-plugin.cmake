# SPDX-License-Identifier: Apache-2.0
# The LUKS2 token plugin through the cryptsetup CLI against devkbs, in a private mount namespace
# (skipped, exit 77, where unshare/mount are not permitted); also checks `fdectl status`.
add_test(NAME token_plugin_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/token-plugin-test.sh
          $<TARGET_FILE:ccfde_token_plugin> $<TARGET_FILE:devkbs> $<TARGET_FILE:fdectl>)
set_tests_properties(token_plugin_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77 COST 50)

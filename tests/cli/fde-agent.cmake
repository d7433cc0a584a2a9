# SPDX-License-Identifier: Apache-2.0
# fde-agent unlock --dry-run and keyscript on LUKS2 image files against a real devkbs: 1 and 16
# volumes with one attestation, per-volume failures, deadlines, the failure action, crypttab names.
add_test(NAME fde_agent_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fde-agent-test.sh $<TARGET_FILE:fde-agent>
          $<TARGET_FILE:devkbs>)
set_tests_properties(fde_agent_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77 COST 100)
# fde-agent initramfs-files (what the dracut module and the initramfs-tools hook copy): the list
# for a configuration with every path setting, --root, the refusal of broken ones, and the
# example configuration the packages ship.
add_test(NAME fde_agent_initramfs_files_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fde-agent-initramfs-files-test.sh
          $<TARGET_FILE:fde-agent> ${PROJECT_SOURCE_DIR}/agent/examples/config.json)
set_tests_properties(fde_agent_initramfs_files_cli PROPERTIES LABELS cli)

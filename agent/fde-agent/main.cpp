// SPDX-License-Identifier: Apache-2.0
// fde-agent: unattended unlock of cc-fde volumes at boot.
//   fde-agent unlock [--config FILE] [--all | DEVICE...] [--dry-run] [--json]
//   fde-agent keyscript      (crypttab keyscript= of Debian's cryptroot: key on stdout; also
//                            run as the link fde-agent-keyscript, which ignores its argument)
//   fde-agent phase-end [--config FILE]   (end of the initramfs unlock phase: RTMR3 event, once
//                            per boot; exit 0 recorded/already/unsupported, 1 failed, 2 bad
//                            configuration after ending the phase at the default platform root)
//   fde-agent initramfs-files [--config FILE] [--root DIR] [--programs]   (image build time: the
//                            configuration and every file it names that the agent reads at boot,
//                            or with --programs the programs it runs (mkfs of unlock.first_boot),
//                            one absolute path a line; exit 2 for an invalid configuration or a
//                            missing file)
// Exit status: 0 done (every volume unlocked, verified, already active or skipped, or left to the
// passphrase prompt by failure_action "prompt"); 1 a volume failed and failure_action is "fail"
// (or a dry run failed); 2 bad configuration or command line.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "agent_main.h"
#include "ccfde/agent/binding.h"
#include "ccfde/common/guarded_main.h"

namespace {

int run_main(int argc, char** argv) {
  // Keys live in this process: no core dumps, no ptrace by non-root, nothing swapped out.
  auto protection = ccfde::agent::protect_key_process();
  if (!protection.ok()) {
    std::fprintf(stderr, "fde-agent: %s\n", protection.status().to_string().c_str());
    return 2;
  }

  using namespace ccfde::fde_agent;
  // Debian's cryptroot runs a keyscript as `keyscript KEY-FIELD`: the fde-agent-keyscript link
  // behaves as `fde-agent keyscript` whatever its argument (usually "none").
  if (argc > 0 && std::string_view(argv[0]).ends_with("fde-agent-keyscript")) {
    return run_keyscript(CommonOptions{}, KeyscriptCommand{});
  }
  CLI::App app{
      "fde-agent: unlock cc-fde LUKS2 volumes with keys from an attested key broker.\n"
      "Exit status: 0 done, 1 a volume failed (failure_action fail, or a dry run), 2 bad input."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fde-agent 0.1.0");

  CommonOptions common;
  auto add_common = [&common](CLI::App* command) {
    command->add_option("--config", common.config_path,
                        "Configuration file (default /etc/cc-fde/config.json, or "
                        "rd.cc-fde.config=)");
    command->add_option("--cmdline", common.cmdline_path,
                        "Kernel command line to read rd.cc-fde.* from (default /proc/cmdline)");
  };

  UnlockCommand unlock;
  auto* unlock_command =
      app.add_subcommand("unlock", "Attest once and unlock every cc-fde volume found");
  add_common(unlock_command);
  unlock_command->add_flag("--all", unlock.all,
                           "Every LUKS2 volume with a cc-fde token (block devices and crypttab)");
  unlock_command->add_option("devices", unlock.devices,
                             "Devices (paths or UUID=..., as in crypttab)");
  unlock_command->add_flag("--dry-run", unlock.dry_run,
                           "Verify each key against its keyslot; activate nothing");
  unlock_command->add_flag("--json", unlock.json, "Print a JSON summary on stdout");
  unlock_command->add_option("--sys-root", unlock.sys_root, "sysfs root (testing)");
  unlock_command->add_option("--dev-root", unlock.dev_root, "/dev root (testing)");
  unlock_command->add_option("--run-dir", unlock.run_dir, "/run (testing)");

  auto* keyscript_command = app.add_subcommand(
      "keyscript",
      "crypttab keyscript=: the key of $CRYPTTAB_SOURCE on stdout (Debian's cryptroot)");
  add_common(keyscript_command);
  KeyscriptCommand keyscript;
  keyscript_command->add_option("--run-dir", keyscript.run_dir, "/run (testing)");

  PhaseEndCommand phase_end;
  auto* phase_end_command = app.add_subcommand(
      "phase-end",
      "End the initramfs unlock phase: extend RTMR3 with the phase-end event (once per boot)");
  phase_end_command->add_option("--config", common.config_path,
                                "Configuration file (default /etc/cc-fde/config.json; the "
                                "kernel command line is not read)");
  phase_end_command->add_option("--run-dir", phase_end.run_dir, "/run (testing)");

  InitramfsFilesCommand initramfs_files;
  auto* initramfs_files_command = app.add_subcommand(
      "initramfs-files",
      "Image build time: validate the configuration and print it and every file it names that the "
      "agent reads at boot (CA bundles, client certificate and key, a crypttab other than "
      "/etc/crypttab), one absolute path a line, for the initramfs hooks to copy. Never the admin "
      "token. Exit 2 (nothing printed) for an invalid configuration or a missing file");
  initramfs_files_command->add_option(
      "--config", initramfs_files.config_path,
      "The configuration, as the initramfs names it (default /etc/cc-fde/config.json; the kernel "
      "command line is not read)");
  initramfs_files_command->add_option(
      "--root", initramfs_files.root,
      "Find the configuration and its files under DIR (the system the image is built from; "
      "default /); the paths printed are those inside the image");
  initramfs_files_command->add_flag(
      "--programs", initramfs_files.programs,
      "Print the programs the agent runs at boot instead (the mkfs of each unlock.first_boot file "
      "system), for the hooks to install with their libraries");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (*unlock_command) {
    if (unlock.all == !unlock.devices.empty()) {
      std::fprintf(stderr, "fde-agent: invalid_argument: give either --all or DEVICE...\n");
      return 2;
    }
    return run_unlock(common, unlock);
  }
  if (*keyscript_command) return run_keyscript(common, keyscript);
  if (*phase_end_command) return run_phase_end(common, phase_end);
  if (*initramfs_files_command) return run_initramfs_files(initramfs_files);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return ccfde::guarded_main("fde-agent", 2, run_main, argc, argv);
}

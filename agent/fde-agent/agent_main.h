// SPDX-License-Identifier: Apache-2.0
// The fde-agent commands. Each returns the process exit status (see main.cpp).
#pragma once

#include <string>
#include <vector>

namespace ccfde::fde_agent {

struct CommonOptions {
  std::string config_path;  // empty: rd.cc-fde.config= or the default
  std::string cmdline_path = "/proc/cmdline";
};

struct UnlockCommand {
  bool all = false;
  std::vector<std::string> devices;
  bool dry_run = false;
  bool json = false;
  std::string sys_root = "/sys";
  std::string dev_root = "/dev";
  std::string run_dir = "/run";  // the prompt hand-off goes to <run_dir>/cc-fde/prompt
};

struct KeyscriptCommand {
  std::string run_dir = "/run";  // the unlock mark goes to <run_dir>/cc-fde/unlocks
};

struct PhaseEndCommand {
  std::string run_dir = "/run";  // the once-per-boot marker: <run_dir>/cc-fde/phase-ended
};

struct InitramfsFilesCommand {
  std::string config_path;  // empty: /etc/cc-fde/config.json (a path inside the image)
  std::string root = "/";   // where the image's files are found at build time (dracut's sysroot)
  bool programs = false;    // list the programs (ELF executables) instead of the files
};

int run_unlock(const CommonOptions& common, const UnlockCommand& command);
int run_keyscript(const CommonOptions& common, const KeyscriptCommand& command);
// phase_end.cpp. Exit 0 recorded, already recorded or unsupported; 1 the extend failed; 2 the
// configuration could not be loaded (the phase was still ended at the default platform root).
int run_phase_end(const CommonOptions& common, const PhaseEndCommand& command);
// initramfs_files.cpp. Prints the configuration's path and every file it names that the agent
// reads at boot, one absolute path a line (agent::boot_files). Exit 0; 2 an invalid configuration
// or a named file that is missing or not a regular file (nothing is printed then).
int run_initramfs_files(const InitramfsFilesCommand& command);

}  // namespace ccfde::fde_agent

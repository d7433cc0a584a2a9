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

int run_unlock(const CommonOptions& common, const UnlockCommand& command);
int run_keyscript(const CommonOptions& common);

}  // namespace ccfde::fde_agent

// SPDX-License-Identifier: Apache-2.0
// fde-agent initramfs-files: the files an initramfs must carry for the configuration, for the
// image generators' hooks (dracut's 50cc-fde module, initramfs-tools' hooks/cc-fde). The
// configuration is loaded and validated with the agent's own parser, so an image build fails on a
// configuration the agent would refuse at boot instead of shipping an initramfs that cannot
// unlock.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "agent_main.h"
#include "ccfde/agent/config.h"
#include "ccfde/agent/first_boot.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::fde_agent {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

// `path` as the image names it, found under `root` (the system the image is built from).
std::filesystem::path under_root(const std::filesystem::path& root,
                                 const std::filesystem::path& path) {
  return root / path.relative_path();
}

// A path is printed one a line; a line break in it cannot be.
Status check_listable(std::string_view setting, const std::filesystem::path& path) {
  if (path.string().find_first_of("\n\r") == std::string::npos) return Status::ok_status();
  return make_error(ErrorCode::kConfigInvalid, "{}: \"{}\" contains a line break", setting,
                    escape_nonprintable(path.string()));
}

// The regular file (after following links) at `path` under `root`, which the image must carry.
Status check_present(const std::filesystem::path& root, const agent::NamedFile& file) {
  const std::filesystem::path found = under_root(root, file.path);
  struct stat info {};
  if (::stat(found.c_str(), &info) != 0) {
    const int error = errno;
    return make_errno_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, error,
                            "{} names {}, which the initramfs needs", file.setting,
                            escape_nonprintable(found.string()));
  }
  if (!S_ISREG(info.st_mode)) {
    return make_error(ErrorCode::kConfigInvalid, "{} names {}, which is not a regular file",
                      file.setting, escape_nonprintable(found.string()));
  }
  return check_listable(file.setting, file.path);
}

Result<std::vector<std::filesystem::path>> list_files(const InitramfsFilesCommand& command) {
  const std::filesystem::path config_path = command.config_path.empty()
                                                ? std::filesystem::path(agent::kDefaultConfigPath)
                                                : std::filesystem::path(command.config_path);
  if (!config_path.is_absolute()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--config {}: an absolute path (as the initramfs names it) is required",
                      escape_nonprintable(config_path.string()));
  }
  CCFDE_RETURN_IF_ERROR(check_listable("--config", config_path));
  CCFDE_ASSIGN_OR_RETURN(const agent::AgentConfig config,
                         agent::read_config_file(under_root(command.root, config_path)));
  if (command.programs) {
    std::vector<std::filesystem::path> programs;
    for (std::size_t i = 0; i < config.unlock.first_boot.size(); ++i) {
      const auto& volume = config.unlock.first_boot[i];
      const std::filesystem::path program = agent::mkfs_program(volume.filesystem);
      if (program.empty() ||
          std::find(programs.begin(), programs.end(), program) != programs.end()) {
        continue;
      }
      CCFDE_RETURN_IF_ERROR(check_present(
          command.root,
          {fmt::format("unlock/first_boot/{}/filesystem ({})", i, volume.filesystem), program}));
      programs.push_back(program);
    }
    return programs;
  }
  std::vector<std::filesystem::path> files = {config_path};
  for (const agent::NamedFile& file : agent::boot_files(config)) {
    CCFDE_RETURN_IF_ERROR(check_present(command.root, file));
    if (file.path != config_path) files.push_back(file.path);
  }
  return files;
}

}  // namespace

int run_initramfs_files(const InitramfsFilesCommand& command) {
  auto files = list_files(command);
  if (!files.ok()) {
    std::fprintf(stderr, "fde-agent: initramfs-files: %s\n", files.status().to_string().c_str());
    return kExitBadInput;
  }
  std::string out;
  for (const auto& file : *files) out += file.string() + '\n';
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "fde-agent: initramfs-files: io_error: writing the list failed\n");
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace ccfde::fde_agent

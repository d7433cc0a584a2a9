// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/prompt_handoff.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "run_names.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

// Creates the directories above `path` (0755 under the umask) as needed.
Status create_parent_directories(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) {
    return make_error(ErrorCode::kIoError, "cannot create {}: {}", path.parent_path().string(),
                      error.message());
  }
  return Status::ok_status();
}

}  // namespace

fs::path verdict_path(const PromptHandoffPaths& paths, std::string_view mapping) {
  if (!is_mapping_name(mapping)) return {};
  return paths.run_dir / "cc-fde" / "verdict" / std::string(mapping);
}

Status record_volume_verdict(const PromptHandoffPaths& paths, std::string_view mapping,
                             std::string_view uuid, VolumeVerdict verdict) {
  const fs::path path = verdict_path(paths, mapping);
  if (path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" is not a device-mapper name",
                      escape_nonprintable(mapping));
  }
  if (!is_luks_uuid(uuid)) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" is not a LUKS UUID",
                      escape_nonprintable(uuid));
  }
  CCFDE_RETURN_IF_ERROR(create_parent_directories(path));
  const std::string text =
      std::string(verdict == VolumeVerdict::kUnlocked ? "unlocked" : "prompt") + " " +
      std::string(uuid) + "\n";
  const fs::path temp = path.parent_path() / ("." + std::string(mapping) + ".tmp");
  {
    const UniqueFd fd(
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", temp.string());
    if (const int failed = write_all(fd.get(), as_bytes(text)); failed != 0) {
      return make_errno_error(ErrorCode::kIoError, failed, "cannot write {}", temp.string());
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", path.string());
  }
  return Status::ok_status();
}

fs::path prompt_handoff_path(const PromptHandoffPaths& paths, std::string_view uuid) {
  if (!is_luks_uuid(uuid)) return {};
  return paths.run_dir / "cc-fde" / "prompt" / std::string(uuid);
}

Status record_prompt_handoff(const PromptHandoffPaths& paths, std::string_view uuid) {
  const fs::path path = prompt_handoff_path(paths, uuid);
  if (path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" is not a LUKS UUID",
                      escape_nonprintable(uuid));
  }
  CCFDE_RETURN_IF_ERROR(create_parent_directories(path));
  const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) {
    const int saved = errno;
    return make_errno_error(ErrorCode::kIoError, saved, "cannot create {}", path.string());
  }
  return Status::ok_status();
}

bool prompt_handed_off_in_initrd(const PromptHandoffPaths& paths, std::string_view uuid) {
  const fs::path path = prompt_handoff_path(paths, uuid);
  if (path.empty()) return false;
  std::error_code error;
  return fs::exists(paths.initrd_release, error) &&
         fs::is_regular_file(fs::symlink_status(path, error));
}

}  // namespace ccfde::agent

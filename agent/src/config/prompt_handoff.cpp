#include "ccfde/agent/prompt_handoff.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "ccfde/common/encoding.h"
#include "ccfde/common/unique_fd.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

bool is_luks_uuid(std::string_view uuid) {
  return !uuid.empty() && uuid.size() <= 64 && std::all_of(uuid.begin(), uuid.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  });
}

}  // namespace

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
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) {
    return make_error(ErrorCode::kIoError, "cannot create {}: {}", path.parent_path().string(),
                      error.message());
  }
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

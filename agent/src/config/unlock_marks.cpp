// SPDX-License-Identifier: Apache-2.0
// Unlock marks in /run (unlock_marks.h).
#include "ccfde/agent/unlock_marks.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "run_names.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

// A mark is a few hundred bytes; anything much larger is not one.
constexpr std::size_t kMaxMarkSize = 4096;

// The boot id as the kernel reports it: a UUID of hex digits and dashes.
Result<std::string> current_boot_id(const fs::path& path) {
  CCFDE_ASSIGN_OR_RETURN(std::string boot_id, read_text_attribute(path));
  if (!is_luks_uuid(boot_id)) {
    return make_error(ErrorCode::kIoError, "{} holds no boot id", path.string());
  }
  return boot_id;
}

Status check_names(UnlockOpener opener, std::string_view mapping, std::string_view luks_uuid) {
  if (!is_luks_uuid(luks_uuid)) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" is not a LUKS UUID",
                      escape_nonprintable(luks_uuid));
  }
  if (opener == UnlockOpener::kAgent && !is_mapping_name(mapping)) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" is not a device-mapper name",
                      escape_nonprintable(mapping));
  }
  if (opener == UnlockOpener::kTokenPlugin && !mapping.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a token-plugin mark names no mapping (got \"{}\")",
                      escape_nonprintable(mapping));
  }
  return Status::ok_status();
}

std::string mark_file_name(UnlockOpener opener, std::string_view mapping,
                           std::string_view luks_uuid) {
  std::string name = std::string(unlock_opener_name(opener)) + "@" + std::string(luks_uuid);
  if (opener == UnlockOpener::kAgent) name += "@" + std::string(mapping);
  return name;
}

// Whether a directory or file with `st` may be trusted: owned by root or this user, and not
// writable by group or others. Returns why not, or "".
std::string untrusted_because(const struct stat& st) {
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return "is owned by uid " + std::to_string(st.st_uid);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return "is writable by group or others";
  return "";
}

// Opens `path` as a directory without following a symlink at its last component and checks that
// it may be trusted (for writing: owned by this user).
Result<UniqueFd> open_mark_dir(const fs::path& path, bool for_writing) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int saved = errno;
    if (saved == ELOOP || saved == ENOTDIR) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{} is a symlink or not a directory: not using it", path.string());
    }
    return make_errno_error(saved == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, saved,
                            "cannot open {}", path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot stat {}", path.string());
  }
  std::string why = untrusted_because(st);
  if (why.empty() && for_writing && st.st_uid != ::geteuid()) {
    why = "is owned by uid " + std::to_string(st.st_uid);
  }
  if (!why.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{} {}: not using it", path.string(), why);
  }
  return fd;
}

// Opens (creating it 0700 if absent) the mark directory; its parent is created 0755 as needed.
Result<UniqueFd> open_or_create_mark_dir(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir.parent_path(), error);
  if (error) {
    return make_error(ErrorCode::kIoError, "cannot create {}: {}", dir.parent_path().string(),
                      error.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", dir.string());
  }
  return open_mark_dir(dir, true);
}

// Reads one mark file at `name` in `dir_fd`: regular, trusted, at most kMaxMarkSize bytes.
Result<UnlockMark> read_mark_file(int dir_fd, const fs::path& path) {
  const std::string name = path.filename().string();
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    const int saved = errno;
    if (saved == ELOOP) {
      return make_error(ErrorCode::kInvalidArgument, "{} is a symlink", path.string());
    }
    return make_errno_error(ErrorCode::kIoError, saved, "cannot open {}", path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot stat {}", path.string());
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, "{} is not a regular file", path.string());
  }
  if (const std::string why = untrusted_because(st); !why.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{} {}", path.string(), why);
  }
  std::vector<std::uint8_t> bytes;
  if (const int failed = read_all(fd.get(), bytes, kMaxMarkSize); failed != 0) {
    return make_errno_error(ErrorCode::kIoError, failed, "cannot read {}", path.string());
  }
  if (bytes.size() > kMaxMarkSize) {
    return make_error(ErrorCode::kMalformed, "{} holds more than {} bytes", path.string(),
                      kMaxMarkSize);
  }
  auto mark = parse_unlock_mark(as_chars(bytes));
  if (!mark.ok()) return mark.status().with_context(path.string());
  return mark;
}

}  // namespace

std::string_view unlock_opener_name(UnlockOpener opener) noexcept {
  return opener == UnlockOpener::kTokenPlugin ? "token-plugin" : "fde-agent";
}

std::string unlock_mark_json(const UnlockMark& mark) {
  const nlohmann::ordered_json json = {{"mapping", mark.mapping},
                                       {"luks_uuid", mark.luks_uuid},
                                       {"opened_by", unlock_opener_name(mark.opened_by)},
                                       {"boot_id", mark.boot_id}};
  return json.dump(-1, ' ', true) + "\n";
}

Result<UnlockMark> parse_unlock_mark(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return make_error(ErrorCode::kMalformed, "not a JSON object");
  }
  for (const auto& [key, value] : json.items()) {
    if (key != "mapping" && key != "luks_uuid" && key != "opened_by" && key != "boot_id") {
      return make_error(ErrorCode::kMalformed, "unknown member \"{}\"", escape_nonprintable(key));
    }
    if (!value.is_string()) {
      return make_error(ErrorCode::kMalformed, "member \"{}\" is not a string", key);
    }
  }
  for (const char* key : {"mapping", "luks_uuid", "opened_by", "boot_id"}) {
    if (!json.contains(key)) return make_error(ErrorCode::kMalformed, "no member \"{}\"", key);
  }
  UnlockMark mark;
  mark.mapping = json["mapping"].get<std::string>();
  mark.luks_uuid = json["luks_uuid"].get<std::string>();
  mark.boot_id = json["boot_id"].get<std::string>();
  const auto opened_by = json["opened_by"].get<std::string>();
  if (opened_by == unlock_opener_name(UnlockOpener::kAgent)) {
    mark.opened_by = UnlockOpener::kAgent;
  } else if (opened_by == unlock_opener_name(UnlockOpener::kTokenPlugin)) {
    mark.opened_by = UnlockOpener::kTokenPlugin;
  } else {
    return make_error(ErrorCode::kMalformed, "unknown opened_by \"{}\"",
                      escape_nonprintable(opened_by));
  }
  if (Status names = check_names(mark.opened_by, mark.mapping, mark.luks_uuid); !names.ok()) {
    return Status(ErrorCode::kMalformed, names.message());
  }
  if (!is_luks_uuid(mark.boot_id)) {
    return make_error(ErrorCode::kMalformed, "\"{}\" is not a boot id",
                      escape_nonprintable(mark.boot_id));
  }
  return mark;
}

Status write_unlock_mark(const UnlockMarkPaths& paths, UnlockOpener opener,
                         std::string_view mapping, std::string_view luks_uuid) {
  CCFDE_RETURN_IF_ERROR(check_names(opener, mapping, luks_uuid));
  CCFDE_ASSIGN_OR_RETURN(std::string boot_id, current_boot_id(paths.boot_id));
  CCFDE_ASSIGN_OR_RETURN(const UniqueFd dir, open_or_create_mark_dir(paths.dir));
  const UnlockMark mark{std::string(mapping), std::string(luks_uuid), opener, std::move(boot_id)};
  const std::string name = mark_file_name(opener, mapping, luks_uuid);
  const fs::path path = paths.dir / name;
  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} exists and is not a regular file: not replacing it", path.string());
  }
  const std::string temp = "." + name + "." + std::to_string(::getpid()) + ".tmp";
  {
    const UniqueFd fd(::openat(dir.get(), temp.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
      return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}",
                              (paths.dir / temp).string());
    }
    int failed = ::fchmod(fd.get(), 0600) == 0 ? 0 : errno;
    if (failed == 0) failed = write_all(fd.get(), as_bytes(unlock_mark_json(mark)));
    if (failed != 0) {
      (void)::unlinkat(dir.get(), temp.c_str(), 0);
      return make_errno_error(ErrorCode::kIoError, failed, "cannot write {}",
                              (paths.dir / temp).string());
    }
  }
  if (::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
    const int saved = errno;
    (void)::unlinkat(dir.get(), temp.c_str(), 0);
    return make_errno_error(ErrorCode::kIoError, saved, "cannot create {}", path.string());
  }
  return Status::ok_status();
}

Status remove_unlock_mark(const UnlockMarkPaths& paths, UnlockOpener opener,
                          std::string_view mapping, std::string_view luks_uuid) {
  CCFDE_RETURN_IF_ERROR(check_names(opener, mapping, luks_uuid));
  auto dir = open_mark_dir(paths.dir, true);
  if (!dir.ok()) {
    return dir.status().code() == ErrorCode::kNotFound ? Status::ok_status() : dir.status();
  }
  const std::string name = mark_file_name(opener, mapping, luks_uuid);
  if (::unlinkat(dir->get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot remove {}",
                            (paths.dir / name).string());
  }
  return Status::ok_status();
}

Result<UnlockMarks> read_unlock_marks(const UnlockMarkPaths& paths) {
  auto dir = open_mark_dir(paths.dir, false);
  if (!dir.ok()) {
    if (dir.status().code() == ErrorCode::kNotFound) return UnlockMarks{};
    return dir.status();
  }
  CCFDE_ASSIGN_OR_RETURN(const std::string boot_id, current_boot_id(paths.boot_id));
  // fdopendir takes the descriptor: give it a duplicate, so `dir` still serves openat.
  const int listing_fd = ::fcntl(dir->get(), F_DUPFD_CLOEXEC, 0);
  if (listing_fd < 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot list {}", paths.dir.string());
  }
  const std::unique_ptr<DIR, int (*)(DIR*)> listing(::fdopendir(listing_fd), ::closedir);
  if (!listing) {
    const int saved = errno;
    ::close(listing_fd);
    return make_errno_error(ErrorCode::kIoError, saved, "cannot list {}", paths.dir.string());
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(listing.get())) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  if (errno != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot list {}", paths.dir.string());
  }
  std::sort(names.begin(), names.end());
  UnlockMarks out;
  for (const std::string& name : names) {
    const fs::path path = paths.dir / name;
    auto mark = read_mark_file(dir->get(), path);
    if (!mark.ok()) {
      out.ignored.push_back(mark.status());
    } else if (mark->boot_id != boot_id) {
      out.ignored.push_back(make_error(ErrorCode::kInvalidArgument,
                                       "{} is from boot {}, not this boot ({})", path.string(),
                                       mark->boot_id, boot_id));
    } else {
      out.marks.push_back(std::move(mark).value());
    }
  }
  return out;
}

}  // namespace ccfde::agent

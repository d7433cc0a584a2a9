// SPDX-License-Identifier: Apache-2.0
#include "tdx_mr_fuse.h"

#define FUSE_USE_VERSION 31
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

namespace ccfde::tdx_emu {
namespace {

TdxMrModel& model() {
  return *static_cast<TdxMrModel*>(fuse_get_context()->private_data);
}

int fuse_error(const Status& status) {
  return status.sys_errno() != 0 ? -status.sys_errno() : -EIO;
}

// The register file a path names ("/rtmr3:sha384"), or nullptr (also for the directory itself).
const TdxMrFileInfo* file_of(const char* path) {
  const std::string_view view(path);
  if (view.size() < 2 || view.front() != '/') return nullptr;
  return find_tdx_mr_file(view.substr(1));
}

const std::time_t kMountTime = std::time(nullptr);

int mr_getattr(const char* path, struct stat* st, struct fuse_file_info*) {
  std::memset(st, 0, sizeof *st);
  st->st_mtime = st->st_ctime = st->st_atime = kMountTime;
  if (std::string_view(path) == "/") {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  const TdxMrFileInfo* file = file_of(path);
  if (file == nullptr) return -ENOENT;
  // tsm-mr.c: 0444 for every register, | 0200 for the writable ones; a binary attribute reports
  // its size.
  st->st_mode = S_IFREG | 0444U | (file->writable ? 0200U : 0U);
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(measure::kTdxRegisterSize);
  return 0;
}

int mr_readdir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
               enum fuse_readdir_flags) {
  if (std::string_view(path) != "/") return file_of(path) != nullptr ? -ENOTDIR : -ENOENT;
  const auto flags = static_cast<fuse_fill_dir_flags>(0);
  fill(buffer, ".", nullptr, 0, flags);
  fill(buffer, "..", nullptr, 0, flags);
  for (const auto& file : tdx_mr_files()) {
    const std::string name(measure::tdx_register_file_name(file.id));
    fill(buffer, name.c_str(), nullptr, 0, flags);
  }
  return 0;
}

// sysfs directories take no new entries, and their attributes cannot be removed.
int mr_mkdir(const char*, mode_t) {
  return -EPERM;
}
int mr_unlink(const char* path) {
  return file_of(path) != nullptr ? -EPERM : -ENOENT;
}
int mr_create(const char*, mode_t, struct fuse_file_info*) {
  return -EACCES;
}

// O_TRUNC on a writable attribute is accepted and ignored, as kernfs does.
int mr_truncate(const char* path, off_t, struct fuse_file_info*) {
  const TdxMrFileInfo* file = file_of(path);
  if (file == nullptr) return std::string_view(path) == "/" ? -EISDIR : -ENOENT;
  return file->writable ? 0 : -EACCES;
}

int mr_open(const char* path, struct fuse_file_info* info) {
  const TdxMrFileInfo* file = file_of(path);
  if (file == nullptr) return -ENOENT;
  const Status opened = TdxMrModel::check_open(file->id, (info->flags & O_ACCMODE) != O_RDONLY);
  if (!opened.ok()) return fuse_error(opened);
  info->fh = static_cast<std::uint64_t>(file->id);
  // Every read and write must reach the model unchanged: no page cache, no merged writes.
  info->direct_io = 1;
  return 0;
}

int mr_read(const char*, char* buffer, std::size_t size, off_t offset,
            struct fuse_file_info* info) {
  if (offset < 0) return -EINVAL;
  const Bytes bytes = model().read(static_cast<measure::TdxRegister>(info->fh),
                                   static_cast<std::size_t>(offset), size);
  std::copy(bytes.begin(), bytes.end(), buffer);
  return static_cast<int>(bytes.size());
}

int mr_write(const char*, const char* buffer, std::size_t size, off_t offset,
             struct fuse_file_info* info) {
  if (offset < 0) return -EINVAL;
  const auto* first = reinterpret_cast<const std::uint8_t*>(buffer);
  auto written = model().write(static_cast<measure::TdxRegister>(info->fh),
                               static_cast<std::size_t>(offset), std::span(first, size));
  if (!written.ok()) return fuse_error(written.status());
  return static_cast<int>(*written);
}

void* mr_init(struct fuse_conn_info*, struct fuse_config* config) {
  config->entry_timeout = 0;
  config->attr_timeout = 0;
  config->negative_timeout = 0;
  config->direct_io = 1;
  return fuse_get_context()->private_data;
}

struct fuse_operations make_operations() {
  struct fuse_operations operations {};
  operations.getattr = mr_getattr;
  operations.readdir = mr_readdir;
  operations.mkdir = mr_mkdir;
  operations.unlink = mr_unlink;
  operations.create = mr_create;
  operations.truncate = mr_truncate;
  operations.open = mr_open;
  operations.read = mr_read;
  operations.write = mr_write;
  operations.init = mr_init;
  return operations;
}

}  // namespace

Result<std::unique_ptr<FuseMount>> mount_tdx_measurements(const std::filesystem::path& mountpoint,
                                                          TdxMrModel& model) {
  static const struct fuse_operations operations = make_operations();
  return FuseMount::mount(mountpoint, operations, &model, "tdx-emu-mr");
}

}  // namespace ccfde::tdx_emu

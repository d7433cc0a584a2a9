// SPDX-License-Identifier: Apache-2.0
#include "tsm_fuse.h"

#define FUSE_USE_VERSION 31
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

namespace ccfde::tdx_emu {
namespace {

// A path inside the mount: the report directory, an instance, or an attribute of one.
struct ParsedPath {
  enum class Kind { kRoot, kInstance, kAttribute, kInvalid } kind = Kind::kInvalid;
  std::string_view instance;
  const TsmAttributeInfo* attribute = nullptr;
};

ParsedPath parse_path(std::string_view path) {
  if (path == "/") return {ParsedPath::Kind::kRoot, {}, nullptr};
  if (path.empty() || path.front() != '/') return {};
  path.remove_prefix(1);
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) return {ParsedPath::Kind::kInstance, path, nullptr};
  const std::string_view name = path.substr(slash + 1);
  const TsmAttributeInfo* attribute = find_tsm_attribute(name);
  if (attribute == nullptr) return {};
  return {ParsedPath::Kind::kAttribute, path.substr(0, slash), attribute};
}

TsmReportModel& model() {
  return *static_cast<TsmReportModel*>(fuse_get_context()->private_data);
}

// The negative errno FUSE expects for a failed Status.
int fuse_error(const Status& status) {
  return status.sys_errno() != 0 ? -status.sys_errno() : -EIO;
}

const std::time_t kMountTime = std::time(nullptr);

void fill_directory_stat(struct stat* st) {
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  st->st_mtime = st->st_ctime = st->st_atime = kMountTime;
}

int emu_getattr(const char* path, struct stat* st, struct fuse_file_info*) {
  std::memset(st, 0, sizeof *st);
  const ParsedPath parsed = parse_path(path);
  switch (parsed.kind) {
    case ParsedPath::Kind::kRoot: fill_directory_stat(st); return 0;
    case ParsedPath::Kind::kInstance:
      if (!model().has_instance(parsed.instance)) return -ENOENT;
      fill_directory_stat(st);
      return 0;
    case ParsedPath::Kind::kAttribute: {
      if (!model().has_instance(parsed.instance)) return -ENOENT;
      const TsmAttributeInfo& info = *parsed.attribute;
      st->st_mode = S_IFREG | (info.readable ? 0444U : 0U) | (info.writable ? 0200U : 0U);
      st->st_nlink = 1;
      // configfs reports a page for text attributes and nothing for binary ones.
      st->st_size = info.binary ? 0 : 4096;
      st->st_mtime = st->st_ctime = st->st_atime = kMountTime;
      return 0;
    }
    case ParsedPath::Kind::kInvalid: return -ENOENT;
  }
  return -ENOENT;
}

int emu_readdir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
                enum fuse_readdir_flags) {
  const ParsedPath parsed = parse_path(path);
  if (parsed.kind == ParsedPath::Kind::kRoot) {
    fill(buffer, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    fill(buffer, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    for (const auto& name : model().instance_names()) {
      fill(buffer, name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    }
    return 0;
  }
  if (parsed.kind == ParsedPath::Kind::kInstance) {
    if (!model().has_instance(parsed.instance)) return -ENOENT;
    fill(buffer, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    fill(buffer, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    for (const auto& attribute : tsm_attributes()) {
      const std::string name(attribute.name);
      fill(buffer, name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    }
    return 0;
  }
  return parsed.kind == ParsedPath::Kind::kAttribute ? -ENOTDIR : -ENOENT;
}

int emu_mkdir(const char* path, mode_t) {
  const ParsedPath parsed = parse_path(path);
  if (parsed.kind == ParsedPath::Kind::kInstance) {
    const Status made = model().make_instance(parsed.instance);
    return made.ok() ? 0 : fuse_error(made);
  }
  // configfs: report instances hold attributes only.
  return -EPERM;
}

int emu_rmdir(const char* path) {
  const ParsedPath parsed = parse_path(path);
  if (parsed.kind == ParsedPath::Kind::kInstance) {
    const Status removed = model().remove_instance(parsed.instance);
    return removed.ok() ? 0 : fuse_error(removed);
  }
  return parsed.kind == ParsedPath::Kind::kAttribute ? -ENOTDIR : -EPERM;
}

int emu_unlink(const char* path) {
  return parse_path(path).kind == ParsedPath::Kind::kAttribute ? -EPERM : -ENOENT;
}

// No file can be created in configfs (the VFS answers EACCES without a ->create).
int emu_create(const char*, mode_t, struct fuse_file_info*) {
  return -EACCES;
}

// O_TRUNC on a writable attribute is accepted and ignored, as configfs does.
int emu_truncate(const char* path, off_t, struct fuse_file_info*) {
  const ParsedPath parsed = parse_path(path);
  if (parsed.kind != ParsedPath::Kind::kAttribute) return -EISDIR;
  if (!model().has_instance(parsed.instance)) return -ENOENT;
  return parsed.attribute->writable ? 0 : -EACCES;
}

int emu_open(const char* path, struct fuse_file_info* file) {
  const ParsedPath parsed = parse_path(path);
  if (parsed.kind != ParsedPath::Kind::kAttribute) return -ENOENT;
  const int access = file->flags & O_ACCMODE;
  auto handle =
      model().open(parsed.instance, parsed.attribute->id, access != O_WRONLY, access != O_RDONLY);
  if (!handle.ok()) return fuse_error(handle.status());
  file->fh = *handle;
  // Every read and write must reach the model: no page cache, no size limit from getattr.
  file->direct_io = 1;
  return 0;
}

int emu_read(const char*, char* buffer, std::size_t size, off_t offset,
             struct fuse_file_info* file) {
  if (offset < 0) return -EINVAL;
  auto bytes = model().read(file->fh, static_cast<std::size_t>(offset), size);
  if (!bytes.ok()) return fuse_error(bytes.status());
  std::copy(bytes->begin(), bytes->end(), buffer);
  return static_cast<int>(bytes->size());
}

int emu_write(const char*, const char* buffer, std::size_t size, off_t offset,
              struct fuse_file_info* file) {
  if (offset < 0) return -EINVAL;
  const auto* first = reinterpret_cast<const std::uint8_t*>(buffer);
  auto written = model().write(file->fh, static_cast<std::size_t>(offset), std::span(first, size));
  if (!written.ok()) return fuse_error(written.status());
  return static_cast<int>(*written);
}

// close(): FUSE sends FLUSH synchronously (RELEASE is asynchronous), so the inblob commit and
// its generation bump are visible as soon as close() returns, as with configfs.
int emu_flush(const char*, struct fuse_file_info* file) {
  const Status flushed = model().flush(file->fh);
  return flushed.ok() ? 0 : fuse_error(flushed);
}

int emu_release(const char*, struct fuse_file_info* file) {
  model().release(file->fh);
  return 0;
}

void* emu_init(struct fuse_conn_info*, struct fuse_config* config) {
  // The kernel must ask again for every lookup and attribute: instances come and go.
  config->entry_timeout = 0;
  config->attr_timeout = 0;
  config->negative_timeout = 0;
  config->direct_io = 1;
  return fuse_get_context()->private_data;
}

struct fuse_operations make_operations() {
  struct fuse_operations operations {};
  operations.getattr = emu_getattr;
  operations.readdir = emu_readdir;
  operations.mkdir = emu_mkdir;
  operations.rmdir = emu_rmdir;
  operations.unlink = emu_unlink;
  operations.create = emu_create;
  operations.truncate = emu_truncate;
  operations.open = emu_open;
  operations.read = emu_read;
  operations.write = emu_write;
  operations.flush = emu_flush;
  operations.release = emu_release;
  operations.init = emu_init;
  return operations;
}

}  // namespace

Result<std::unique_ptr<FuseMount>> mount_tsm_report(const std::filesystem::path& mountpoint,
                                                    TsmReportModel& model) {
  static const struct fuse_operations operations = make_operations();
  return FuseMount::mount(mountpoint, operations, &model, "tdx-emu");
}

}  // namespace ccfde::tdx_emu

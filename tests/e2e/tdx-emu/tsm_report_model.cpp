// SPDX-License-Identifier: Apache-2.0
#include "tsm_report_model.h"

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "kernel_errno.h"

namespace ccfde::tdx_emu {
namespace {

// Linux 6.7 shows every attribute for every provider (later kernels hide privlevel and auxblob
// from TDX guests); a TDX report has no auxblob, so it reads empty there.
constexpr TsmAttributeInfo kAttributes[] = {
    {"auxblob", TsmAttribute::kAuxblob, true, false, true},
    {"generation", TsmAttribute::kGeneration, true, false, false},
    {"inblob", TsmAttribute::kInblob, false, true, true},
    {"outblob", TsmAttribute::kOutblob, true, false, true},
    {"privlevel", TsmAttribute::kPrivlevel, true, true, false},
    {"privlevel_floor", TsmAttribute::kPrivlevelFloor, true, false, false},
    {"provider", TsmAttribute::kProvider, true, false, false},
};

// TSM_PRIVLEVEL_MAX.
constexpr unsigned kPrivlevelMax = 3;

Bytes text_bytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

}  // namespace

std::span<const TsmAttributeInfo> tsm_attributes() noexcept {
  return kAttributes;
}

const TsmAttributeInfo* find_tsm_attribute(std::string_view name) noexcept {
  const auto* found =
      std::find_if(std::begin(kAttributes), std::end(kAttributes),
                   [name](const TsmAttributeInfo& info) { return info.name == name; });
  return found == std::end(kAttributes) ? nullptr : found;
}

TsmReportModel::TsmReportModel(TsmProvider provider, ReportGenerator generator)
    : provider_(provider), generator_(std::move(generator)) {}

Status TsmReportModel::make_instance(std::string_view name) {
  if (instances_.contains(name)) {
    return errno_status(EEXIST, fmt::format("report instance {} exists", name));
  }
  instances_.emplace(std::string(name), std::make_shared<Instance>());
  return Status();
}

Status TsmReportModel::remove_instance(std::string_view name) {
  const auto found = instances_.find(name);
  if (found == instances_.end()) {
    return errno_status(ENOENT, fmt::format("no report instance {}", name));
  }
  found->second->removed = true;
  instances_.erase(found);
  return Status();
}

bool TsmReportModel::has_instance(std::string_view name) const {
  return instances_.contains(name);
}

std::vector<std::string> TsmReportModel::instance_names() const {
  std::vector<std::string> names;
  for (const auto& [name, instance] : instances_) names.push_back(name);
  return names;
}

Result<std::uint64_t> TsmReportModel::open(std::string_view instance, TsmAttribute attribute,
                                           bool for_read, bool for_write) {
  const auto found = instances_.find(instance);
  if (found == instances_.end()) {
    return errno_status(ENOENT, fmt::format("no report instance {}", instance));
  }
  const auto* info =
      std::find_if(std::begin(kAttributes), std::end(kAttributes),
                   [attribute](const TsmAttributeInfo& a) { return a.id == attribute; });
  if ((for_read && !info->readable) || (for_write && !info->writable)) {
    return errno_status(EACCES, fmt::format("{} cannot be opened for {}", info->name,
                                            for_write ? "writing" : "reading"));
  }
  const std::uint64_t handle = next_handle_++;
  handles_.emplace(handle, Handle{found->second, attribute, std::nullopt, {}, false});
  return handle;
}

Result<TsmReportModel::Handle*> TsmReportModel::find_handle(std::uint64_t handle) {
  const auto found = handles_.find(handle);
  if (found == handles_.end()) return errno_status(EBADF, "unknown file handle");
  if (found->second.instance->removed) {
    return errno_status(ENOENT, "the report instance was removed");
  }
  return &found->second;
}

Result<const TsmReport*> TsmReportModel::report(Instance& instance) {
  if (instance.report_generation == instance.generation) return &instance.report;
  // Both providers refuse anything but a full 64-byte REPORTDATA / REPORT_DATA field.
  if (instance.inblob.size() != kInblobSize) {
    return errno_status(EINVAL, fmt::format("inblob holds {} bytes, {} needs exactly {}",
                                            instance.inblob.size(), provider_.name, kInblobSize));
  }
  auto generated =
      generator_(std::span<const std::uint8_t, kInblobSize>(instance.inblob.data(), kInblobSize),
                 instance.privlevel);
  if (!generated.ok()) return errno_status(EIO, generated.status().to_string());
  for (const auto& [name, blob] :
       {std::pair{"outblob", &generated->outblob}, std::pair{"auxblob", &generated->auxblob}}) {
    if (blob->size() > kOutblobMax) {
      return errno_status(EIO, fmt::format("the {} has {} bytes, more than the limit {}", name,
                                           blob->size(), kOutblobMax));
    }
  }
  instance.report = std::move(generated).value();
  instance.report_generation = instance.generation;
  return &instance.report;
}

Result<Bytes> TsmReportModel::read(std::uint64_t handle, std::size_t offset, std::size_t size) {
  CCFDE_ASSIGN_OR_RETURN(Handle * open_file, find_handle(handle));
  Instance& instance = *open_file->instance;
  const Bytes* content = nullptr;
  switch (open_file->attribute) {
    case TsmAttribute::kOutblob: {
      CCFDE_ASSIGN_OR_RETURN(const TsmReport* generated, report(instance));
      content = &generated->outblob;
      break;
    }
    case TsmAttribute::kAuxblob: {
      CCFDE_ASSIGN_OR_RETURN(const TsmReport* generated, report(instance));
      content = &generated->auxblob;
      break;
    }
    case TsmAttribute::kInblob: return errno_status(EACCES, "inblob is write-only");
    case TsmAttribute::kGeneration:
    case TsmAttribute::kPrivlevel:
    case TsmAttribute::kPrivlevelFloor:
    case TsmAttribute::kProvider: {
      if (!open_file->text) {
        const TsmAttribute attribute = open_file->attribute;
        open_file->text = text_bytes(
            attribute == TsmAttribute::kGeneration  ? fmt::format("{}\n", instance.generation)
            : attribute == TsmAttribute::kPrivlevel ? fmt::format("{}\n", instance.privlevel)
            : attribute == TsmAttribute::kPrivlevelFloor
                ? fmt::format("{}\n", provider_.privlevel_floor)
                : fmt::format("{}\n", provider_.name));
      }
      content = &*open_file->text;
      break;
    }
  }
  if (offset >= content->size()) return Bytes();
  const std::size_t count = std::min(size, content->size() - offset);
  const auto begin = content->begin() + static_cast<std::ptrdiff_t>(offset);
  return Bytes(begin, begin + static_cast<std::ptrdiff_t>(count));
}

Result<std::size_t> TsmReportModel::write(std::uint64_t handle, std::size_t offset,
                                          std::span<const std::uint8_t> bytes) {
  CCFDE_ASSIGN_OR_RETURN(Handle * open_file, find_handle(handle));
  Instance& instance = *open_file->instance;
  if (open_file->attribute == TsmAttribute::kInblob) {
    if (offset > kInblobSize || bytes.size() > kInblobSize - offset) {
      return errno_status(EFBIG, fmt::format("inblob takes at most {} bytes", kInblobSize));
    }
    if (open_file->pending.size() < offset + bytes.size()) {
      open_file->pending.resize(offset + bytes.size());
    }
    std::copy(bytes.begin(), bytes.end(),
              open_file->pending.begin() + static_cast<std::ptrdiff_t>(offset));
    open_file->written = true;
    return bytes.size();
  }
  if (open_file->attribute == TsmAttribute::kPrivlevel) {
    std::string_view text = as_chars(bytes);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    unsigned level = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), level);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
        level < provider_.privlevel_floor || level > kPrivlevelMax) {
      return errno_status(
          EINVAL, fmt::format("privlevel takes {}..{}", provider_.privlevel_floor, kPrivlevelMax));
    }
    instance.privlevel = level;
    ++instance.generation;
    return bytes.size();
  }
  return errno_status(EACCES, "the attribute is read-only");
}

Status TsmReportModel::flush(std::uint64_t handle) {
  const auto found = handles_.find(handle);
  if (found == handles_.end()) return errno_status(EBADF, "unknown file handle");
  Handle& open_file = found->second;
  if (open_file.attribute != TsmAttribute::kInblob || !open_file.written) return Status();
  open_file.written = false;
  // A commit on a removed instance goes nowhere, as configfs drops it with the fragment.
  if (open_file.instance->removed) return Status();
  open_file.instance->inblob = std::move(open_file.pending);
  open_file.pending.clear();
  ++open_file.instance->generation;
  return Status();
}

void TsmReportModel::release(std::uint64_t handle) {
  handles_.erase(handle);
}

}  // namespace ccfde::tdx_emu

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/first_boot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <vector>

#include "ccfde/agent/binding.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::agent {
namespace fs = std::filesystem;
namespace {

// The "KEY=value" lines of a sysfs uevent file.
std::map<std::string, std::string, std::less<>> uevent_values(const std::string& text) {
  std::map<std::string, std::string, std::less<>> values;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    if (const auto equals = line.find('='); equals != std::string_view::npos) {
      values.emplace(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
    }
    start = end + 1;
  }
  return values;
}

// Whether the start of `device` reads as zeros (file comment of first_boot.h).
Result<bool> reads_as_zeros(const fs::path& device) {
  UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return make_errno_error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, errno,
                            "{}: cannot open it", device.string());
  }
  std::vector<std::uint8_t> start;
  if (const int error = read_all(fd.get(), start, kBlankCheckBytes, std::size_t{1} << 16);
      error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "{}: cannot read its first {} bytes",
                            device.string(), kBlankCheckBytes);
  }
  const auto end = start.begin() + static_cast<std::ptrdiff_t>(
                                       std::min<std::size_t>(start.size(), kBlankCheckBytes));
  return std::all_of(start.begin(), end, [](std::uint8_t byte) { return byte == 0; });
}

Result<std::string> new_first_boot_id() {
  std::array<std::uint8_t, measure::kFirstBootIdSize / 2> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return make_error(ErrorCode::kCryptoError, "the random generator failed to produce an id");
  }
  return hex_encode(random);
}

FormatOptions pending_format(std::string_view id) {
  FormatOptions options;
  options.label = std::string(id);
  options.subsystem = std::string(kFirstBootSubsystem);
  return options;
}

}  // namespace

Result<fs::path> find_partition_by_label(std::string_view partlabel, const fs::path& sys_root,
                                         const fs::path& dev_root) {
  std::vector<fs::path> found;
  std::error_code error;
  fs::directory_iterator it(sys_root / "class" / "block", error);
  if (!error) {
    for (const auto& entry : it) {
      auto uevent = read_text_attribute(entry.path() / "uevent");
      if (!uevent.ok()) continue;
      const auto values = uevent_values(*uevent);
      const auto name = values.find("PARTNAME");
      if (name == values.end() || name->second != partlabel) continue;
      const auto devname = values.find("DEVNAME");
      const std::string node =
          devname != values.end() ? devname->second : entry.path().filename().string();
      // DEVNAME is relative to /dev ("vdb1"); a path that climbs out of it is not a device.
      if (node.empty() || node.find("..") != std::string::npos || node.front() == '/') continue;
      found.push_back(dev_root / node);
    }
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    return make_error(ErrorCode::kNotFound, "no partition is named {} (GPT PARTNAME)", partlabel);
  }
  if (found.size() > 1) {
    std::vector<std::string> names;
    names.reserve(found.size());
    for (const auto& path : found) names.push_back(path.string());
    return make_error(ErrorCode::kMalformed,
                      "several partitions are named {}: {} (the partition table is ambiguous; "
                      "cc-fde picks none)",
                      partlabel, fmt::join(names, ", "));
  }
  return found.front();
}

Result<FirstBootInspection> inspect_first_boot_volume(const fs::path& device) {
  CCFDE_ASSIGN_OR_RETURN(const bool blank, reads_as_zeros(device));
  if (blank) return FirstBootInspection{FirstBootState::kBlank, {}};
  auto volume = LuksVolume::open(device);
  if (!volume.ok()) {
    if (volume.status().code() == ErrorCode::kNotLuks2) {
      return make_error(ErrorCode::kNotLuks2,
                        "{} is neither blank (its first {} bytes are not all zero) nor LUKS2: "
                        "cc-fde formats only a blank partition, and leaves this one alone",
                        device.string(), kBlankCheckBytes);
    }
    return volume.status();
  }
  if (volume->subsystem() != kFirstBootSubsystem) {
    return FirstBootInspection{FirstBootState::kEstablished, {}};
  }
  const std::string id = volume->label();
  if (!measure::is_first_boot_id(id)) {
    return make_error(ErrorCode::kMalformed,
                      "{}: a pending first-boot header (subsystem {}) whose label \"{}\" is not a "
                      "first-boot id ({} lowercase hex digits)",
                      device.string(), kFirstBootSubsystem, escape_nonprintable(id),
                      measure::kFirstBootIdSize);
  }
  return FirstBootInspection{FirstBootState::kPending, id};
}

Result<std::string> begin_first_boot(const fs::path& device) {
  CCFDE_ASSIGN_OR_RETURN(const FirstBootInspection inspection, inspect_first_boot_volume(device));
  if (inspection.state != FirstBootState::kBlank) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is not blank: a first boot begins only on a blank partition",
                      device.string());
  }
  CCFDE_ASSIGN_OR_RETURN(std::string id, new_first_boot_id());
  // The throwaway key makes a valid header; the volume key it opens is never used for data.
  SecretBytes throwaway(kGeneratedKeyBytes);
  if (RAND_priv_bytes(throwaway.data(), static_cast<int>(throwaway.size())) != 1) {
    return make_error(ErrorCode::kCryptoError, "the random generator failed to produce a key");
  }
  CCFDE_RETURN_IF_ERROR(
      LuksVolume::format(device, throwaway.span(), KeyslotKdf::kMinimalPbkdf2, pending_format(id))
          .status());
  return id;
}

Result<FirstBootResult> complete_first_boot(const fs::path& device, std::string_view id,
                                            const FirstBootVolume& volume,
                                            const FirstBootActions& actions) {
  CCFDE_ASSIGN_OR_RETURN(const FirstBootInspection inspection, inspect_first_boot_volume(device));
  if (inspection.state != FirstBootState::kPending || inspection.id != id) {
    return make_error(ErrorCode::kUnfinishedOperation,
                      "{} is no longer pending with first-boot id {}: it changed during the boot",
                      device.string(), id);
  }
  CCFDE_RETURN_IF_ERROR(actions.record_event(id).with_context("recording the first boot"));
  CCFDE_ASSIGN_OR_RETURN(const SecretBytes key, actions.fetch_key());
  CCFDE_RETURN_IF_ERROR(check_broker_key(key.span()).with_context(volume.resource));
  CCFDE_ASSIGN_OR_RETURN(
      LuksVolume luks,
      LuksVolume::format(device, key.span(), KeyslotKdf::kMinimalPbkdf2, pending_format(id)));
  FirstBootResult result;
  result.uuid = luks.uuid();
  const auto keyslots = luks.active_keyslots();
  if (keyslots.size() != 1) {
    return make_error(ErrorCode::kInternal, "{}: a fresh header has {} keyslots, not 1",
                      device.string(), keyslots.size());
  }
  result.keyslot = keyslots.front();
  CcFdeToken token;
  token.keyslots = {result.keyslot};
  token.profile = volume.profile;
  token.resource = volume.resource;
  CCFDE_ASSIGN_OR_RETURN(const std::string token_json, token_to_json(token));
  CCFDE_ASSIGN_OR_RETURN(result.token, luks.set_token(kAnyToken, token_json));
  CCFDE_RETURN_IF_ERROR(actions.activate(luks, key.span(), volume.name)
                            .with_context(fmt::format("activating /dev/mapper/{}", volume.name)));
  CCFDE_RETURN_IF_ERROR(
      actions.record_unlock(luks, key.span(), result, volume.name)
          .with_context(fmt::format("recording the unlock of /dev/mapper/{}", volume.name)));
  if (volume.filesystem != "none") {
    CCFDE_RETURN_IF_ERROR(actions.make_filesystem(volume.name, volume.filesystem)
                              .with_context(fmt::format("making {} on /dev/mapper/{}",
                                                        volume.filesystem, volume.name)));
  }
  CCFDE_RETURN_IF_ERROR(luks.set_label("", ""));
  return result;
}

fs::path mkfs_program(std::string_view filesystem) {
  if (filesystem == "ext4") return "/usr/sbin/mkfs.ext4";
  if (filesystem == "xfs") return "/usr/sbin/mkfs.xfs";
  return {};
}

std::vector<std::string> mkfs_arguments(std::string_view filesystem, const std::string& device) {
  return {"-q", filesystem == "xfs" ? "-f" : "-F", device};
}

}  // namespace ccfde::agent

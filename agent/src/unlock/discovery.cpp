// SPDX-License-Identifier: Apache-2.0
// Volume discovery for fde-agent: block devices from sysfs, identified by libblkid, plus crypttab.
#include <blkid/blkid.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <set>
#include <system_error>

#include "ccfde/agent/config_checks.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/unlock.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

struct BlkidProbeFree {
  void operator()(blkid_probe probe) const noexcept { blkid_free_probe(probe); }
};
using BlkidProbePtr = std::unique_ptr<std::remove_pointer_t<blkid_probe>, BlkidProbeFree>;

// Whether libblkid sees a LUKS2 superblock. Cheap compared with crypt_load, and it keeps
// libcryptsetup away from devices that are plainly something else.
bool looks_like_luks2(const fs::path& device) {
  BlkidProbePtr probe(blkid_new_probe_from_filename(device.c_str()));
  if (!probe) return false;
  blkid_probe_enable_superblocks(probe.get(), 1);
  blkid_probe_set_superblocks_flags(probe.get(), BLKID_SUBLKS_TYPE | BLKID_SUBLKS_VERSION);
  if (blkid_do_safeprobe(probe.get()) != 0) return false;
  const char* type = nullptr;
  const char* version = nullptr;
  if (blkid_probe_lookup_value(probe.get(), "TYPE", &type, nullptr) != 0 || type == nullptr) {
    return false;
  }
  if (std::string_view(type) != "crypto_LUKS") return false;
  if (blkid_probe_lookup_value(probe.get(), "VERSION", &version, nullptr) == 0 &&
      version != nullptr) {
    return std::string_view(version) == "2";
  }
  return true;
}

// Block devices listed in <sys_root>/class/block with a non-zero size (empty loop devices and
// drives without media have size 0, and opening them can block).
std::vector<fs::path> scan_block_devices(const DiscoveryOptions& options) {
  std::vector<fs::path> devices;
  std::error_code error;
  fs::directory_iterator it(options.sys_root / "class" / "block", error);
  if (error) return devices;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    auto size = read_text_attribute(entry.path() / "size");
    if (!size.ok() || size->empty() || *size == "0") continue;
    devices.push_back(options.dev_root / name);
  }
  std::sort(devices.begin(), devices.end());
  return devices;
}

std::optional<CrypttabEntry> crypttab_entry_for(const DiscoveryOptions& options,
                                                const fs::path& device, const std::string& uuid) {
  std::error_code error;
  for (const auto& entry : options.crypttab) {
    if (entry.source == "UUID=" + uuid) return entry;
    auto resolved = resolve_crypttab_source(entry.source, options.dev_root);
    if (!resolved.ok()) continue;
    if (*resolved == device || fs::equivalent(*resolved, device, error)) return entry;
  }
  return std::nullopt;
}

// Adds a candidate per cc-fde token of `device`. `explicitly_named` turns "no token" into a
// problem.
void add_volume(const DiscoveryOptions& options, const fs::path& device, bool explicitly_named,
                Discovery& out) {
  auto volume = LuksVolume::open(device);
  if (!volume.ok()) {
    if (explicitly_named) out.problems.push_back({device.string(), volume.status()});
    return;
  }
  auto tokens = volume->tokens();
  if (!tokens.ok()) {
    out.problems.push_back({device.string(), tokens.status()});
    return;
  }
  const std::string raw_uuid = volume->uuid();
  const auto normalized = config_checks::normalize_uuid(raw_uuid);
  if (!normalized) {
    // The header's UUID becomes mapping names, file names, log lines and JSON: only the canonical
    // form a LUKS2 formatter writes is accepted.
    out.problems.push_back(
        {device.string(),
         Status(ErrorCode::kMalformed,
                fmt::format("{}: the LUKS2 header's UUID \"{}\" is not an 8-4-4-4-12 "
                            "UUID: the header is not trusted",
                            device.string(), escape_nonprintable(raw_uuid)))});
    return;
  }
  const std::string& uuid = raw_uuid;
  if (volume->reencryption_in_progress()) {
    // Activating it would stack the old and the new key's segments: never from the initramfs.
    out.problems.push_back(
        {device.string(),
         Status(ErrorCode::kUnfinishedOperation,
                fmt::format("{}: the LUKS2 header records an unfinished reencryption: finish it "
                            "offline (`fdectl reencrypt`) before booting from it",
                            device.string()))});
    return;
  }
  if (volume->subsystem() == kFirstBootSubsystem) {
    // Its file system may be incomplete: only the first-boot path (unlock.first_boot) finishes it.
    out.problems.push_back(
        {device.string(),
         Status(ErrorCode::kUnfinishedOperation,
                fmt::format("{}: the LUKS2 header records an unfinished first boot (subsystem {}): "
                            "only the agent's unlock.first_boot for this partition completes it",
                            device.string(), kFirstBootSubsystem))});
    return;
  }
  const auto crypttab = crypttab_entry_for(options, device, uuid);
  bool found = false;
  for (const auto& token : *tokens) {
    if (token.type != kTokenType) continue;
    found = true;
    auto parsed = parse_token(token.json);
    if (!parsed.ok()) {
      out.problems.push_back(
          {device.string(), parsed.status().with_context(fmt::format("token {}", token.id))});
      continue;
    }
    VolumeCandidate candidate;
    candidate.device = device;
    candidate.uuid = uuid;
    candidate.mapping_name = crypttab ? crypttab->name : "luks-" + uuid;
    candidate.token_id = token.id;
    candidate.token = std::move(parsed).value();
    candidate.crypttab = crypttab;
    candidate.cipher = volume->segment_cipher();
    candidate.sector_size = volume->sector_size();
    candidate.integrity = volume->integrity();
    out.volumes.push_back(std::move(candidate));
  }
  if (!found) out.without_token.push_back({device, uuid});
  if (!found && explicitly_named) {
    out.problems.push_back(
        {device.string(), Status(ErrorCode::kNoToken,
                                 fmt::format("{}: no cc-fde token in the LUKS2 header (enroll it "
                                             "with `fdectl enroll`)",
                                             device.string()))});
  }
}

}  // namespace

std::vector<RequiredVolumeRef> required_volumes(const AgentConfig& config,
                                                const std::vector<CrypttabEntry>& crypttab,
                                                const fs::path& dev_root) {
  std::vector<RequiredVolumeRef> out;
  for (const auto& volume : config.unlock.volumes) {
    out.push_back({volume.uuid, {}, volume.profile, volume.resource, "unlock.volumes"});
  }
  if (!config.unlock.require_crypttab) return out;
  for (const auto& entry : crypttab) {
    bool excluded = false;
    for (std::string_view option :
         {"noauto", "nofail", "swap", "tmp", "plain", "tcrypt", "bitlk", "luks1"}) {
      excluded = excluded || entry.has_option(option);
    }
    const bool key_file = !entry.key.empty() && entry.key != "none" && entry.key != "-";
    if (excluded || key_file) continue;
    RequiredVolumeRef required;
    required.origin = fmt::format("crypttab line {} ({})", entry.line, entry.name);
    if (entry.source.substr(0, 5) == "UUID=") {
      const auto uuid = config_checks::normalize_uuid(entry.source.substr(5));
      if (uuid) required.uuid = *uuid;
    }
    if (required.uuid.empty()) {
      auto device = resolve_crypttab_source(entry.source, dev_root);
      required.device = device.ok() ? *device : fs::path(entry.source);
    }
    const bool duplicate = std::any_of(out.begin(), out.end(), [&](const RequiredVolumeRef& r) {
      return !required.uuid.empty() && r.uuid == required.uuid;
    });
    if (!duplicate) out.push_back(std::move(required));
  }
  return out;
}

bool matches_required(const RequiredVolumeRef& required, const fs::path& device,
                      std::string_view uuid) {
  if (!required.uuid.empty()) {
    const auto normalized = config_checks::normalize_uuid(uuid);
    return normalized && *normalized == required.uuid;
  }
  std::error_code error;
  return required.device == device || fs::equivalent(required.device, device, error);
}

Discovery discover_volumes(const DiscoveryOptions& options) {
  Discovery out;
  std::set<fs::path> seen;
  auto consider = [&](const fs::path& device, bool explicitly_named) {
    std::error_code error;
    fs::path canonical = fs::weakly_canonical(device, error);
    if (error) canonical = device;
    if (!seen.insert(canonical).second) return;
    add_volume(options, device, explicitly_named, out);
  };

  if (!options.devices.empty()) {
    for (const auto& name : options.devices) {
      auto device = resolve_crypttab_source(name, options.dev_root);
      if (!device.ok()) {
        out.problems.push_back({name, device.status()});
        continue;
      }
      consider(*device, true);
    }
    return out;
  }
  for (const auto& device : scan_block_devices(options)) {
    if (looks_like_luks2(device)) consider(device, false);
  }
  for (const auto& entry : options.crypttab) {
    auto device = resolve_crypttab_source(entry.source, options.dev_root);
    if (device.ok()) consider(*device, false);
  }
  return out;
}

}  // namespace ccfde::agent

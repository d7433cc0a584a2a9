// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/platform.h"

#include <algorithm>
#include <string_view>
#include <system_error>

#include "ccfde/common/file_io.h"

namespace ccfde::measure {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRelevantCpuFlags[] = {"tdx_guest", "sev", "sev_es", "sev_snp",
                                                  "hypervisor"};

InterfaceProbe probe(std::string name, const fs::path& path) {
  InterfaceProbe result{std::move(name), path, false, {}};
  std::error_code error;
  result.present = fs::exists(path, error);
  if (error) result.error = error.message();
  return result;
}

// The relevant flags of the first "flags" line of /proc/cpuinfo (x86 lists the same flags for
// every CPU).
std::vector<std::string> relevant_cpu_flags(std::string_view cpuinfo) {
  std::vector<std::string> found;
  while (!cpuinfo.empty()) {
    const auto newline = cpuinfo.find('\n');
    std::string_view line = cpuinfo.substr(0, newline);
    cpuinfo.remove_prefix(newline == std::string_view::npos ? cpuinfo.size() : newline + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key != "flags") continue;
    std::string_view rest = line.substr(colon + 1);
    while (!rest.empty()) {
      const auto start = rest.find_first_not_of(' ');
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const auto end = rest.find(' ');
      const std::string_view flag = rest.substr(0, end);
      if (std::find(std::begin(kRelevantCpuFlags), std::end(kRelevantCpuFlags), flag) !=
          std::end(kRelevantCpuFlags)) {
        found.emplace_back(flag);
      }
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    break;
  }
  return found;
}

bool has_flag(const std::vector<std::string>& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

bool directory_exists(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool path_exists(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);
}

}  // namespace

PlatformPaths PlatformPaths::rooted_at(const fs::path& root) {
  PlatformPaths paths;
  for (fs::path* path : {&paths.tsm_report, &paths.tdx_guest_device, &paths.sev_guest_device,
                         &paths.tdx_measurements, &paths.ccel_table, &paths.ccel_data,
                         &paths.tpm2_event_log, &paths.ima_ascii_list, &paths.ima_binary_list,
                         &paths.cpuinfo, &paths.runtime_event_log, &paths.smbios_entries}) {
    *path = root / path->relative_path();
  }
  return paths;
}

PlatformInfo detect_platform(const PlatformPaths& paths) {
  PlatformInfo info;
  info.interfaces = {
      probe("configfs_tsm_report", paths.tsm_report),
      probe("tdx_guest_device", paths.tdx_guest_device),
      probe("sev_guest_device", paths.sev_guest_device),
      probe("tdx_measurements", paths.tdx_measurements),
      probe("ccel_table", paths.ccel_table),
      probe("ccel_data", paths.ccel_data),
      probe("tpm2_event_log", paths.tpm2_event_log),
      probe("ima_ascii_list", paths.ima_ascii_list),
      probe("ima_binary_list", paths.ima_binary_list),
      probe("cpuinfo", paths.cpuinfo),
  };
  if (auto cpuinfo = read_file(paths.cpuinfo, std::size_t{16} << 20); cpuinfo.ok()) {
    info.cpu_flags = relevant_cpu_flags(as_chars(*cpuinfo));
  } else {
    info.interfaces.back().error = cpuinfo.status().to_string();
  }

  std::vector<std::string> tdx_reasons;
  std::vector<std::string> snp_reasons;
  if (info.interfaces[1].present)
    tdx_reasons.push_back(paths.tdx_guest_device.string() + " exists");
  if (has_flag(info.cpu_flags, "tdx_guest")) tdx_reasons.emplace_back("cpu flag tdx_guest");
  if (info.interfaces[2].present)
    snp_reasons.push_back(paths.sev_guest_device.string() + " exists");
  if (has_flag(info.cpu_flags, "sev_snp") && has_flag(info.cpu_flags, "hypervisor")) {
    snp_reasons.emplace_back("cpu flags sev_snp and hypervisor");
  }
  const auto join = [](const std::vector<std::string>& parts) {
    return fmt::format("{}", fmt::join(parts, ", "));
  };
  if (!tdx_reasons.empty() && !snp_reasons.empty()) {
    info.reason = fmt::format("conflicting signs of TDX ({}) and SNP ({})", join(tdx_reasons),
                              join(snp_reasons));
  } else if (!tdx_reasons.empty()) {
    info.tee = TeeKind::kTdx;
    info.reason = join(tdx_reasons);
  } else if (!snp_reasons.empty()) {
    info.tee = TeeKind::kSnp;
    info.reason = join(snp_reasons);
  } else {
    info.reason = fmt::format("neither {} nor {} exists and no TEE guest cpu flag is set",
                              paths.tdx_guest_device.string(), paths.sev_guest_device.string());
  }
  return info;
}

nlohmann::json to_json(const PlatformInfo& info) {
  nlohmann::json interfaces = nlohmann::json::array();
  for (const auto& probe_result : info.interfaces) {
    nlohmann::json entry{{"name", probe_result.name},
                         {"path", probe_result.path.string()},
                         {"present", probe_result.present}};
    if (!probe_result.error.empty()) entry["error"] = probe_result.error;
    interfaces.push_back(std::move(entry));
  }
  return nlohmann::json{{"tee", tee_kind_name(info.tee)},
                        {"reason", info.reason},
                        {"cpu_flags", info.cpu_flags},
                        {"interfaces", std::move(interfaces)}};
}

std::string_view evidence_source_kind_name(EvidenceSourceKind kind) noexcept {
  switch (kind) {
    case EvidenceSourceKind::kAuto: return "auto";
    case EvidenceSourceKind::kConfigfsTsm: return "configfs-tsm";
    case EvidenceSourceKind::kTdxGuestDevice: return "tdx-guest-device";
    case EvidenceSourceKind::kSevGuestDevice: return "sev-guest-device";
    case EvidenceSourceKind::kSample: return "sample";
  }
  return "unknown";
}

Result<std::unique_ptr<EvidenceSource>> open_evidence_source(const PlatformPaths& paths,
                                                             const EvidenceSourceOptions& options,
                                                             const PlatformSeams& seams) {
  using SourcePtr = std::unique_ptr<EvidenceSource>;
  const auto open_device = [&](const fs::path& path) -> Result<std::unique_ptr<IoctlDevice>> {
    if (seams.open_device) return seams.open_device(path);
    CCFDE_ASSIGN_OR_RETURN(auto device, FileIoctlDevice::open(path));
    return std::unique_ptr<IoctlDevice>(std::move(device));
  };
  const auto make_configfs = [&] {
    auto ops = seams.tsm_file_ops ? seams.tsm_file_ops() : std::make_unique<PosixTsmFileOps>();
    return std::make_unique<ConfigfsTsmSource>(paths.tsm_report, options.configfs, std::move(ops));
  };
  const auto make_tdx = [&]() -> Result<SourcePtr> {
    CCFDE_ASSIGN_OR_RETURN(auto device, open_device(paths.tdx_guest_device));
    auto connector =
        seams.qgs_connector
            ? seams.qgs_connector(options.qgs_vsock_cid, options.qgs_vsock_port)
            : std::make_unique<VsockConnector>(options.qgs_vsock_cid, options.qgs_vsock_port);
    return SourcePtr(std::make_unique<TdxGuestDeviceSource>(std::move(device), std::move(connector),
                                                            options.tdx));
  };
  const auto make_sev = [&]() -> Result<SourcePtr> {
    CCFDE_ASSIGN_OR_RETURN(auto device, open_device(paths.sev_guest_device));
    return SourcePtr(std::make_unique<SevGuestDeviceSource>(std::move(device), options.sev));
  };

  switch (options.preference) {
    case EvidenceSourceKind::kSample:
      if (options.sample_digest_size == 0 || options.sample_digest_size > kReportDataSize) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sample evidence digest size must be 1..{} bytes, got {}",
                          kReportDataSize, options.sample_digest_size);
      }
      return SourcePtr(std::make_unique<SampleEvidenceSource>(options.sample_digest_size));
    case EvidenceSourceKind::kConfigfsTsm:
      if (!directory_exists(paths.tsm_report)) {
        return make_error(ErrorCode::kNotFound,
                          "configfs-tsm report directory {} is absent (kernel >= 6.7 with "
                          "CONFIG_TSM_REPORTS and configfs mounted on /sys/kernel/config?)",
                          paths.tsm_report.string());
      }
      return SourcePtr(make_configfs());
    case EvidenceSourceKind::kTdxGuestDevice: return make_tdx();
    case EvidenceSourceKind::kSevGuestDevice: return make_sev();
    case EvidenceSourceKind::kAuto: break;
  }

  std::vector<std::string> rejected;
  if (directory_exists(paths.tsm_report)) {
    auto source = make_configfs();
    auto provider = source->probe_provider();
    if (provider.ok()) return SourcePtr(std::move(source));
    rejected.push_back(fmt::format("configfs-tsm {} unusable ({})", paths.tsm_report.string(),
                                   provider.status().to_string()));
  } else {
    rejected.push_back(fmt::format("configfs-tsm {} absent", paths.tsm_report.string()));
  }
  // A device that exists but cannot be opened is the interface to use; its error is returned.
  if (path_exists(paths.tdx_guest_device)) return make_tdx();
  rejected.push_back(fmt::format("{} absent", paths.tdx_guest_device.string()));
  if (path_exists(paths.sev_guest_device)) return make_sev();
  rejected.push_back(fmt::format("{} absent", paths.sev_guest_device.string()));
  return make_error(ErrorCode::kUnsupported,
                    "no TEE evidence interface found: {} (not a TDX or SEV-SNP guest, or the "
                    "guest drivers are not loaded; the sample source is only used when requested "
                    "explicitly)",
                    fmt::join(rejected, "; "));
}

}  // namespace ccfde::measure

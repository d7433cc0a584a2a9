// SPDX-License-Identifier: Apache-2.0
// Where the guest interfaces live, which TEE this is, and which evidence source to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/configfs_tsm.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/ioctl_device.h"
#include "ccfde/measure/sev_guest_device.h"
#include "ccfde/measure/tdx_guest_device.h"

namespace ccfde::measure {

// Every path cc-fde reads or writes on the guest. Defaults are the real locations.
struct PlatformPaths {
  std::filesystem::path tsm_report = "/sys/kernel/config/tsm/report";
  std::filesystem::path tdx_guest_device = "/dev/tdx_guest";
  std::filesystem::path sev_guest_device = "/dev/sev-guest";
  std::filesystem::path tdx_measurements = "/sys/devices/virtual/misc/tdx_guest/measurements";
  std::filesystem::path ccel_table = "/sys/firmware/acpi/tables/CCEL";
  std::filesystem::path ccel_data = "/sys/firmware/acpi/tables/data/CCEL";
  std::filesystem::path tpm2_event_log = "/sys/kernel/security/tpm0/binary_bios_measurements";
  std::filesystem::path ima_ascii_list = "/sys/kernel/security/ima/ascii_runtime_measurements";
  std::filesystem::path ima_binary_list = "/sys/kernel/security/ima/binary_runtime_measurements";
  std::filesystem::path cpuinfo = "/proc/cpuinfo";
  // The runtime event log (AAEL records, runtime_event.h) a guest appends to when it extends RTMR3
  // at run time: guest-components' location, shared with it.
  std::filesystem::path runtime_event_log = "/run/attestation-agent/eventlog";
  // The SMBIOS structures, one directory per structure ("<type>-<n>").
  std::filesystem::path smbios_entries = "/sys/firmware/dmi/entries";

  // The default paths re-rooted below `root` ("/dev/tdx_guest" -> root/"dev/tdx_guest"), for
  // tests and for inspecting a copied guest tree.
  static PlatformPaths rooted_at(const std::filesystem::path& root);
};

// Presence of one kernel interface.
struct InterfaceProbe {
  std::string name;  // "configfs_tsm_report", "tdx_guest_device", ...
  std::filesystem::path path;
  bool present = false;
  std::string error;  // why presence could not be decided (e.g. permission denied); else empty
};

struct PlatformInfo {
  TeeKind tee = TeeKind::kNone;        // kTdx, kSnp or kNone (never kSample)
  std::string reason;                  // which evidence decided `tee`
  std::vector<std::string> cpu_flags;  // the relevant /proc/cpuinfo flags found
  std::vector<InterfaceProbe> interfaces;
};

// Looks at `paths` without side effects (no configfs instance is created): TDX when
// /dev/tdx_guest exists or cpuinfo has "tdx_guest"; SNP when /dev/sev-guest exists or cpuinfo has
// both "sev_snp" and "hypervisor" (an SNP host has sev_snp too); kNone when neither or both.
// Never fails: unreadable paths are recorded in InterfaceProbe::error.
PlatformInfo detect_platform(const PlatformPaths& paths);

// {"tee", "reason", "cpu_flags": [...], "interfaces": [{"name", "path", "present", "error"?}]}.
nlohmann::json to_json(const PlatformInfo& info);

enum class EvidenceSourceKind { kAuto, kConfigfsTsm, kTdxGuestDevice, kSevGuestDevice, kSample };

// "auto", "configfs-tsm", "tdx-guest-device", "sev-guest-device", "sample".
std::string_view evidence_source_kind_name(EvidenceSourceKind kind) noexcept;

struct EvidenceSourceOptions {
  EvidenceSourceKind preference = EvidenceSourceKind::kAuto;
  ConfigfsTsmOptions configfs;
  SevGuestDeviceOptions sev;
  TdxGuestDeviceOptions tdx;
  std::uint32_t qgs_vsock_cid = 2;
  std::uint32_t qgs_vsock_port = 4050;
  std::size_t sample_digest_size = 48;
};

// Test seams for open_evidence_source; empty members mean the real implementation.
struct PlatformSeams {
  std::function<std::unique_ptr<TsmFileOps>()> tsm_file_ops;
  std::function<Result<std::unique_ptr<IoctlDevice>>(const std::filesystem::path&)> open_device;
  std::function<std::unique_ptr<StreamConnector>(std::uint32_t cid, std::uint32_t port)>
      qgs_connector;
};

// The evidence source for `options.preference`. kAuto tries, in order: configfs-tsm (when the
// report directory exists and an instance reports a known provider), /dev/tdx_guest (with the QGS
// over vsock), /dev/sev-guest; the sample source is never chosen automatically. An explicit
// preference opens that source or fails with its error (kNotFound for an absent interface).
// kUnsupported when auto-detection finds nothing; the message names every path looked at and
// why it was rejected.
Result<std::unique_ptr<EvidenceSource>> open_evidence_source(
    const PlatformPaths& paths, const EvidenceSourceOptions& options = {},
    const PlatformSeams& seams = {});

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// configfs-tsm "report" (Linux >= 6.7, docs/reference/MEASUREMENT-FORMATS.md §1.1): the preferred
// way to get a TDX quote or an SNP report. One private report instance per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/evidence_source.h"

namespace ccfde::measure {

// TSM_REPORT_OUTBLOB_MAX: the kernel's limit for outblob and auxblob.
inline constexpr std::size_t kTsmBlobMax = std::size_t{32} * 1024;

// The file-system operations the configfs-tsm source needs. PosixTsmFileOps is the real one;
// tests derive from it to emulate the kernel side (generation counter, outblob) on a plain
// directory tree.
class TsmFileOps {
 public:
  virtual ~TsmFileOps() = default;
  // mkdir: creates a report instance. kNotFound when the parent is absent, kDeviceError otherwise.
  virtual Status make_directory(const std::filesystem::path& path) = 0;
  // rmdir: removes a report instance. kDeviceError (with errno) on failure.
  virtual Status remove_directory(const std::filesystem::path& path) = 0;
  // open / one write of all bytes / close (configfs commits binary attributes on close).
  // kNotFound when absent, kBusy for EBUSY, kDeviceError (with errno) otherwise.
  virtual Status write_blob(const std::filesystem::path& path,
                            std::span<const std::uint8_t> bytes) = 0;
  // Reads the whole attribute through one open file with a buffer of at least kTsmBlobMax
  // bytes. kNotFound when absent; kBusy (EBUSY), kDeadlineExceeded (ETIMEDOUT) or kDeviceError
  // (other errno) when the kernel fails the read; kMalformed when larger than `max_size`.
  virtual Result<Bytes> read_blob(const std::filesystem::path& path, std::size_t max_size) = 0;
};

// The real file-system operations.
class PosixTsmFileOps : public TsmFileOps {
 public:
  Status make_directory(const std::filesystem::path& path) override;
  Status remove_directory(const std::filesystem::path& path) override;
  Status write_blob(const std::filesystem::path& path,
                    std::span<const std::uint8_t> bytes) override;
  Result<Bytes> read_blob(const std::filesystem::path& path, std::size_t max_size) override;
};

struct ConfigfsTsmOptions {
  // SEV only: the VMPL written to `privlevel` (0..3, >= privlevel_floor). Unset: the kernel
  // default (privlevel_floor).
  std::optional<std::uint32_t> sev_privlevel;
};

// Evidence through /sys/kernel/config/tsm/report.
class ConfigfsTsmSource final : public EvidenceSource {
 public:
  // `report_root` is the configfs-tsm report directory (PlatformPaths::tsm_report). `ops` must
  // not be null.
  explicit ConfigfsTsmSource(std::filesystem::path report_root, ConfigfsTsmOptions options = {},
                             std::unique_ptr<TsmFileOps> ops = std::make_unique<PosixTsmFileOps>());

  std::string name() const override;

  // mkdir a randomly named instance, read `provider` and `generation`, write the 64-byte inblob
  // (and privlevel), check that `generation` advanced by exactly the number of writes, read
  // outblob (and auxblob for sev_guest), check that `generation` did not change, rmdir the
  // instance (on every path). Errors: kNotFound (configfs-tsm absent, attribute absent),
  // kUnsupported (unknown provider), kInvalidArgument (privlevel out of range or given for TDX),
  // kBusy (another writer changed the instance: the generation race of MEASUREMENT-FORMATS.md §1.1;
  // or EBUSY), kDeadlineExceeded (ETIMEDOUT from the quoting path), kDeviceError (other kernel
  // failures, including an instance that cannot be removed after a successful read),
  // kFirmwareError (empty outblob: a misconfigured or too old quoting service), kTruncated /
  // kMalformed (outblob of an impossible size, unparsable generation).
  Result<Evidence> get_evidence(const ReportData& report_data) override;

  // Which TEE the registered provider serves, by creating and removing an instance and reading
  // its `provider`. Same errors as get_evidence for the steps it shares.
  Result<TeeKind> probe_provider();

 private:
  std::filesystem::path root_;
  ConfigfsTsmOptions options_;
  std::unique_ptr<TsmFileOps> ops_;
};

// "tdx_guest" -> kTdx, "sev_guest" -> kSnp (a trailing newline is ignored); kUnsupported
// otherwise.
Result<TeeKind> tee_kind_from_tsm_provider(std::string_view provider);

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/configfs_tsm.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>
#include <utility>

#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "kernel_errors.h"

namespace ccfde::measure {
namespace {

constexpr std::size_t kTextAttributeMax = 4096;
constexpr std::uint32_t kTsmPrivlevelMax = 3;

Result<std::string> random_instance_name() {
  std::uint8_t random[8];
  std::size_t got = 0;
  while (got < sizeof random) {
    const ssize_t n = ::getrandom(random + got, sizeof random - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return make_errno_error(ErrorCode::kIoError, error,
                              "getrandom failed while naming a configfs-tsm instance");
    }
    got += static_cast<std::size_t>(n);
  }
  return "ccfde-" + hex_encode(random);
}

std::string_view trim_newline(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

// Removes the report instance when the request ends, whichever way it ends.
class InstanceGuard {
 public:
  InstanceGuard(TsmFileOps& ops, std::filesystem::path dir) : ops_(ops), dir_(std::move(dir)) {}
  InstanceGuard(const InstanceGuard&) = delete;
  InstanceGuard& operator=(const InstanceGuard&) = delete;
  ~InstanceGuard() {
    if (armed_) (void)ops_.remove_directory(dir_);
  }
  const std::filesystem::path& dir() const { return dir_; }
  // Removes the instance now and reports whether that worked.
  Status remove() {
    armed_ = false;
    return ops_.remove_directory(dir_);
  }

 private:
  TsmFileOps& ops_;
  std::filesystem::path dir_;
  bool armed_ = true;
};

Result<std::string> read_text(TsmFileOps& ops, const std::filesystem::path& path) {
  CCFDE_ASSIGN_OR_RETURN(auto bytes, ops.read_blob(path, kTextAttributeMax));
  return std::string(trim_newline(as_chars(bytes)));
}

Result<std::uint64_t> read_generation(TsmFileOps& ops, const std::filesystem::path& dir) {
  const auto path = dir / "generation";
  CCFDE_ASSIGN_OR_RETURN(auto text, read_text(ops, path));
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return make_error(ErrorCode::kMalformed,
                      "{} holds \"{}\", expected a decimal generation counter", path.string(),
                      text);
  }
  return value;
}

Status check_outblob_size(TeeKind tee, const std::filesystem::path& path, std::size_t size) {
  if (size == 0) {
    // configfs-tsm returns an empty outblob without an error when the host's quoting service is
    // misconfigured or too old (guest-components#823).
    return make_error(ErrorCode::kFirmwareError,
                      "{} is empty: the quoting service produced no evidence (for TDX check the "
                      "host QGS; DCAP >= 1.21 is needed)",
                      path.string());
  }
  if (tee == TeeKind::kTdx && size < kEvidenceMinTdxQuoteSize) {
    return make_error(ErrorCode::kTruncated,
                      "{} holds {} bytes, a TDX quote needs at least {} bytes", path.string(), size,
                      kEvidenceMinTdxQuoteSize);
  }
  if (tee == TeeKind::kSnp && size != kEvidenceSnpReportSize) {
    return make_error(size < kEvidenceSnpReportSize ? ErrorCode::kTruncated : ErrorCode::kMalformed,
                      "{} holds {} bytes, an SNP attestation report is {} bytes", path.string(),
                      size, kEvidenceSnpReportSize);
  }
  return Status();
}

}  // namespace

Status PosixTsmFileOps::make_directory(const std::filesystem::path& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return Status();
  const int error = errno;
  if (error == ENOENT) {
    return make_errno_error(ErrorCode::kNotFound, error,
                            "cannot create {}: the configfs-tsm report directory is absent "
                            "(kernel >= 6.7 with CONFIG_TSM_REPORTS and configfs mounted?)",
                            path.string());
  }
  return internal::kernel_errno_status(error, fmt::format("cannot create {}", path.string()));
}

Status PosixTsmFileOps::remove_directory(const std::filesystem::path& path) {
  if (::rmdir(path.c_str()) == 0) return Status();
  const int error = errno;
  return make_errno_error(ErrorCode::kDeviceError, error, "cannot remove {}", path.string());
}

Status PosixTsmFileOps::write_blob(const std::filesystem::path& path,
                                   std::span<const std::uint8_t> bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return internal::kernel_errno_status(error,
                                         fmt::format("cannot open {} for writing", path.string()));
  }
  if (const int error = write_all(fd.get(), bytes); error != 0) {
    return internal::kernel_errno_status(
        error, fmt::format("cannot write {} bytes to {}", bytes.size(), path.string()));
  }
  // configfs hands the buffered bytes to the kernel on close.
  if (::close(fd.release()) != 0) {
    const int error = errno;
    return internal::kernel_errno_status(
        error,
        fmt::format("the kernel refused the {} bytes written to {}", bytes.size(), path.string()));
  }
  return Status();
}

Result<Bytes> PosixTsmFileOps::read_blob(const std::filesystem::path& path, std::size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return internal::kernel_errno_status(error, fmt::format("cannot open {}", path.string()));
  }
  // configfs fills a per-open snapshot on the first read; asking for the kernel's maximum gets it
  // in one call. One byte more detects an oversized attribute.
  Bytes buffer;
  if (const int error = read_all(fd.get(), buffer, max_size, std::max(max_size, kTsmBlobMax) + 1);
      error != 0) {
    return internal::kernel_errno_status(
        error, fmt::format("reading {} failed at offset {}", path.string(), buffer.size()));
  }
  if (buffer.size() > max_size) {
    return make_error(ErrorCode::kMalformed, "{} holds more than {} bytes", path.string(),
                      max_size);
  }
  return buffer;
}

Result<TeeKind> tee_kind_from_tsm_provider(std::string_view provider) {
  provider = trim_newline(provider);
  if (provider == "tdx_guest") return TeeKind::kTdx;
  if (provider == "sev_guest") return TeeKind::kSnp;
  return make_error(ErrorCode::kUnsupported,
                    "configfs-tsm provider \"{}\" is not supported (expected tdx_guest or "
                    "sev_guest)",
                    provider);
}

ConfigfsTsmSource::ConfigfsTsmSource(std::filesystem::path report_root, ConfigfsTsmOptions options,
                                     std::unique_ptr<TsmFileOps> ops)
    : root_(std::move(report_root)), options_(options), ops_(std::move(ops)) {}

std::string ConfigfsTsmSource::name() const {
  return fmt::format("configfs-tsm ({})", root_.string());
}

Result<TeeKind> ConfigfsTsmSource::probe_provider() {
  CCFDE_ASSIGN_OR_RETURN(auto instance_name, random_instance_name());
  CCFDE_RETURN_IF_ERROR(ops_->make_directory(root_ / instance_name));
  InstanceGuard instance(*ops_, root_ / instance_name);
  auto provider = read_text(*ops_, instance.dir() / "provider");
  CCFDE_RETURN_IF_ERROR(instance.remove());
  if (!provider.ok()) return provider.status();
  return tee_kind_from_tsm_provider(*provider);
}

Result<Evidence> ConfigfsTsmSource::get_evidence(const ReportData& report_data) {
  if (options_.sev_privlevel && *options_.sev_privlevel > kTsmPrivlevelMax) {
    return make_error(ErrorCode::kInvalidArgument, "SEV privlevel {} is out of range 0..{}",
                      *options_.sev_privlevel, kTsmPrivlevelMax);
  }
  CCFDE_ASSIGN_OR_RETURN(auto instance_name, random_instance_name());
  CCFDE_RETURN_IF_ERROR(ops_->make_directory(root_ / instance_name));
  InstanceGuard instance(*ops_, root_ / instance_name);
  const auto& dir = instance.dir();

  CCFDE_ASSIGN_OR_RETURN(auto provider, read_text(*ops_, dir / "provider"));
  CCFDE_ASSIGN_OR_RETURN(const TeeKind tee, tee_kind_from_tsm_provider(provider));
  if (options_.sev_privlevel && tee != TeeKind::kSnp) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a privlevel was requested, but the configfs-tsm provider is {} (privlevel "
                      "is an SEV option)",
                      provider);
  }

  // docs/reference/MEASUREMENT-FORMATS.md §1.1: the generation must advance by exactly our writes,
  // and not move while we read; anything else means another writer touched the instance and the
  // blob may not be ours.
  CCFDE_ASSIGN_OR_RETURN(const std::uint64_t before, read_generation(*ops_, dir));
  std::uint64_t writes = 0;
  if (options_.sev_privlevel) {
    const std::string level = std::to_string(*options_.sev_privlevel);
    CCFDE_RETURN_IF_ERROR(ops_->write_blob(dir / "privlevel", as_bytes(level)));
    ++writes;
  }
  CCFDE_RETURN_IF_ERROR(ops_->write_blob(dir / "inblob", report_data));
  ++writes;
  CCFDE_ASSIGN_OR_RETURN(const std::uint64_t written, read_generation(*ops_, dir));
  if (written != before + writes) {
    return make_error(ErrorCode::kBusy,
                      "{}: generation went from {} to {} after {} write(s), expected {}: another "
                      "process wrote to this report instance",
                      dir.string(), before, written, writes, before + writes);
  }

  CCFDE_ASSIGN_OR_RETURN(auto outblob, ops_->read_blob(dir / "outblob", kTsmBlobMax));
  Bytes auxblob;
  if (tee == TeeKind::kSnp) {
    CCFDE_ASSIGN_OR_RETURN(auxblob, ops_->read_blob(dir / "auxblob", kTsmBlobMax));
  }
  CCFDE_ASSIGN_OR_RETURN(const std::uint64_t after, read_generation(*ops_, dir));
  if (after != written) {
    return make_error(ErrorCode::kBusy,
                      "{}: generation changed from {} to {} while the evidence was read: another "
                      "process wrote to this report instance",
                      dir.string(), written, after);
  }
  CCFDE_RETURN_IF_ERROR(check_outblob_size(tee, dir / "outblob", outblob.size()));
  CCFDE_RETURN_IF_ERROR(instance.remove());
  return Evidence{tee, std::move(outblob), std::move(auxblob), name()};
}

}  // namespace ccfde::measure

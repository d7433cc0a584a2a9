// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/sev_guest_device.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "ccfde/common/byte_reader.h"
#include "kernel_errors.h"

namespace ccfde::measure {
namespace {

constexpr std::uint8_t kSnpMessageVersion = 1;
constexpr std::size_t kReportResponseHeader = 0x20;

struct FreeDeleter {
  void operator()(void* pointer) const noexcept { std::free(pointer); }
};
using PageBuffer = std::unique_ptr<std::uint8_t[], FreeDeleter>;

PageBuffer allocate_pages(std::size_t size) {
  auto* pointer = static_cast<std::uint8_t*>(std::aligned_alloc(kSnpPageSize, size));
  if (pointer != nullptr) std::memset(pointer, 0, size);
  return PageBuffer(pointer);
}

std::uint64_t user_address(const void* pointer) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(pointer));
}

// Points `request` at a new zeroed, page-aligned certificate buffer of `size` bytes, which
// `buffer` then owns. kInternal when the allocation fails.
Status attach_certificate_buffer(SnpExtReportReq& request, PageBuffer& buffer, std::size_t size) {
  buffer = allocate_pages(size);
  if (!buffer) {
    return make_error(ErrorCode::kInternal, "cannot allocate a {}-byte certificate buffer", size);
  }
  request.certs_address = user_address(buffer.get());
  request.certs_len = static_cast<std::uint32_t>(size);
  return Status();
}

std::uint32_t vmm_error_of(std::uint64_t exitinfo2) {
  return static_cast<std::uint32_t>(exitinfo2 >> 32);
}

std::uint32_t fw_error_of(std::uint64_t exitinfo2) {
  return static_cast<std::uint32_t>(exitinfo2 & 0xFFFFFFFFU);
}

}  // namespace

std::string_view sev_firmware_error_name(std::uint32_t fw_error) noexcept {
  static constexpr std::array<std::string_view, 0x26> kNames = {
      "SUCCESS",
      "INVALID_PLATFORM_STATE",
      "INVALID_GUEST_STATE",
      "INVALID_CONFIG",
      "INVALID_LEN",
      "ALREADY_OWNED",
      "INVALID_CERTIFICATE",
      "POLICY_FAILURE",
      "INACTIVE",
      "INVALID_ADDRESS",
      "BAD_SIGNATURE",
      "BAD_MEASUREMENT",
      "ASID_OWNED",
      "INVALID_ASID",
      "WBINVD_REQUIRED",
      "DFFLUSH_REQUIRED",
      "INVALID_GUEST",
      "INVALID_COMMAND",
      "ACTIVE",
      "HWERROR_PLATFORM",
      "HWERROR_UNSAFE",
      "UNSUPPORTED",
      "INVALID_PARAM",
      "RESOURCE_LIMIT",
      "SECURE_DATA_INVALID",
      "INVALID_PAGE_SIZE",
      "INVALID_PAGE_STATE",
      "INVALID_MDATA_ENTRY",
      "INVALID_PAGE_OWNER",
      "AEAD_OFLOW",
      "RMP_INIT_REQUIRED",
      "BAD_SVN",
      "BAD_VERSION",
      "SHUTDOWN_REQUIRED",
      "UPDATE_FAILED",
      "RESTORE_REQUIRED",
      "RMP_INITIALIZATION_FAILED",
      "INVALID_KEY",
  };
  if (fw_error == 0xFFFFFFFFU) return "NO_FW_CALL";
  return fw_error < kNames.size() ? kNames[fw_error] : "unknown";
}

std::string describe_snp_exitinfo2(std::uint64_t exitinfo2) {
  const std::uint32_t fw = fw_error_of(exitinfo2);
  const std::uint32_t vmm = vmm_error_of(exitinfo2);
  std::string text;
  if (fw != 0) {
    text = fmt::format("firmware error 0x{:x} ({})", fw, sev_firmware_error_name(fw));
  }
  if (vmm != 0) {
    std::string_view vmm_name = "unknown";
    if (vmm == kSnpVmmErrorInvalidLen) vmm_name = "INVALID_LEN";
    if (vmm == kSnpVmmErrorBusy) vmm_name = "BUSY";
    if (vmm == 0xFFFFFFFFU) vmm_name = "GENERIC";
    if (!text.empty()) text += ", ";
    text += fmt::format("host error {} ({})", vmm, vmm_name);
  }
  return text.empty() ? "no error code" : text;
}

Result<std::size_t> snp_certificate_table_extent(std::span<const std::uint8_t> table) {
  ByteReader reader(table);
  std::size_t extent = 0;
  for (std::size_t index = 0;; ++index) {
    const std::size_t entry_offset = reader.offset();
    auto guid = reader.bytes(16, "certificate table entry GUID");
    if (!guid.ok()) {
      return make_error(ErrorCode::kTruncated,
                        "certificate table has no all-zero terminator within its {} bytes "
                        "(entry {} at offset {})",
                        table.size(), index, entry_offset);
    }
    if (std::all_of(guid->begin(), guid->end(), [](std::uint8_t b) { return b == 0; })) break;
    CCFDE_ASSIGN_OR_RETURN(const std::uint32_t offset, reader.u32le("certificate entry offset"));
    CCFDE_ASSIGN_OR_RETURN(const std::uint32_t length, reader.u32le("certificate entry length"));
    const std::uint64_t end = std::uint64_t{offset} + length;
    if (end > table.size()) {
      return make_error(ErrorCode::kMalformed,
                        "certificate table entry {} at offset {} covers [{}, {}), beyond the "
                        "{}-byte buffer",
                        index, entry_offset, offset, end, table.size());
    }
    extent = std::max(extent, static_cast<std::size_t>(end));
  }
  return extent;
}

SevGuestDeviceSource::SevGuestDeviceSource(std::unique_ptr<IoctlDevice> device,
                                           SevGuestDeviceOptions options)
    : device_(std::move(device)), options_(options) {}

std::string SevGuestDeviceSource::name() const {
  return fmt::format("sev-guest ioctl ({}{})", device_->path(),
                     options_.with_certificates ? ", extended report" : "");
}

Result<Evidence> SevGuestDeviceSource::get_evidence(const ReportData& report_data) {
  std::size_t cert_size = options_.certificate_buffer_size;
  if (options_.with_certificates &&
      (cert_size == 0 || cert_size % kSnpPageSize != 0 || cert_size > kSnpMaxCertificateBuffer)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "certificate buffer size {} must be a non-zero multiple of {} and at most {}",
                      cert_size, kSnpPageSize, kSnpMaxCertificateBuffer);
  }

  SnpExtReportReq request{};
  std::memcpy(request.data.user_data, report_data.data(), report_data.size());
  request.data.vmpl = options_.vmpl;
  auto response = std::make_unique<SnpReportResp>();
  SnpGuestRequestIoctl io{};
  io.msg_version = kSnpMessageVersion;
  io.resp_data = user_address(response.get());

  PageBuffer certificates;
  const char* operation = "SNP_GET_REPORT";
  int error = 0;
  if (!options_.with_certificates) {
    io.req_data = user_address(&request.data);
    error = device_->ioctl(kSnpGetReport, &io);
  } else {
    operation = "SNP_GET_EXT_REPORT";
    CCFDE_RETURN_IF_ERROR(attach_certificate_buffer(request, certificates, cert_size));
    io.req_data = user_address(&request);
    error = device_->ioctl(kSnpGetExtReport, &io);
    // The one failure that may be retried: the host needs a larger certificate buffer. The
    // driver completed that request with a plain report internally, so the VMPCK sequence
    // number is still in step.
    if (error != 0 && vmm_error_of(io.exitinfo2) == kSnpVmmErrorInvalidLen) {
      const std::size_t needed = request.certs_len;
      if (needed <= cert_size || needed > kSnpMaxCertificateBuffer || needed % kSnpPageSize != 0) {
        return make_errno_error(ErrorCode::kFirmwareError, error,
                                "{} on {}: the host needs a certificate buffer of {} bytes (had "
                                "{}), which the kernel cannot provide (multiple of {}, at most {})",
                                operation, device_->path(), needed, cert_size, kSnpPageSize,
                                kSnpMaxCertificateBuffer);
      }
      cert_size = needed;
      CCFDE_RETURN_IF_ERROR(attach_certificate_buffer(request, certificates, cert_size));
      io.exitinfo2 = 0;
      *response = SnpReportResp{};
      error = device_->ioctl(kSnpGetExtReport, &io);
    }
  }

  if (error != 0) {
    if (io.exitinfo2 == 0) {
      return internal::kernel_errno_status(
          error, fmt::format("{} on {} failed", operation, device_->path()));
    }
    // Not retried: after a failed guest request the driver may have wiped the VMPCK, and
    // repeating the request cannot succeed until the guest reboots.
    return make_errno_error(vmm_error_of(io.exitinfo2) == kSnpVmmErrorBusy
                                ? ErrorCode::kBusy
                                : ErrorCode::kFirmwareError,
                            error, "{} on {} failed: {}", operation, device_->path(),
                            describe_snp_exitinfo2(io.exitinfo2));
  }

  const std::span<const std::uint8_t> raw(response->data);
  const std::uint32_t status = load_u32le(raw, 0);
  const std::uint32_t report_size = load_u32le(raw, 4);
  if (status != 0) {
    return make_error(ErrorCode::kFirmwareError, "{} on {}: MSG_REPORT_RSP status 0x{:x} ({})",
                      operation, device_->path(), status, sev_firmware_error_name(status));
  }
  if (report_size != kEvidenceSnpReportSize) {
    return make_error(ErrorCode::kMalformed,
                      "{} on {}: MSG_REPORT_RSP REPORT_SIZE at offset 4 is {}, expected {}",
                      operation, device_->path(), report_size, kEvidenceSnpReportSize);
  }
  const auto report = raw.subspan(kReportResponseHeader, kEvidenceSnpReportSize);

  Bytes auxiliary;
  if (certificates) {
    const std::span<const std::uint8_t> table(certificates.get(), cert_size);
    auto extent = snp_certificate_table_extent(table);
    if (!extent.ok()) {
      return extent.status().with_context(
          fmt::format("{} on {}: host certificate table", operation, device_->path()));
    }
    auxiliary.assign(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(*extent));
  }
  return Evidence{TeeKind::kSnp, Bytes(report.begin(), report.end()), std::move(auxiliary), name()};
}

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// SNP evidence for kernels without configfs-tsm: SNP_GET_REPORT / SNP_GET_EXT_REPORT on
// /dev/sev-guest (include/uapi/linux/sev-guest.h, docs/reference/MEASUREMENT-FORMATS.md §1.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/ioctl_device.h"

namespace ccfde::measure {

// ---- ABI structs (pinned to the kernel layout) ----

struct SnpReportReq {
  std::uint8_t user_data[64];
  std::uint32_t vmpl;
  std::uint8_t rsvd[28];
};
static_assert(sizeof(SnpReportReq) == 96);
static_assert(offsetof(SnpReportReq, vmpl) == 0x40);

struct SnpReportResp {
  std::uint8_t data[4000];
};
static_assert(sizeof(SnpReportResp) == 4000);

struct SnpGuestRequestIoctl {
  std::uint8_t msg_version;
  std::uint64_t req_data;
  std::uint64_t resp_data;
  std::uint64_t exitinfo2;  // bits 31:0 fw_error, bits 63:32 vmm_error
};
static_assert(sizeof(SnpGuestRequestIoctl) == 32);
static_assert(offsetof(SnpGuestRequestIoctl, req_data) == 8);
static_assert(offsetof(SnpGuestRequestIoctl, resp_data) == 16);
static_assert(offsetof(SnpGuestRequestIoctl, exitinfo2) == 24);

struct SnpExtReportReq {
  SnpReportReq data;
  std::uint64_t certs_address;
  std::uint32_t certs_len;
};
static_assert(sizeof(SnpExtReportReq) == 112);
static_assert(offsetof(SnpExtReportReq, certs_address) == 96);
static_assert(offsetof(SnpExtReportReq, certs_len) == 104);

inline constexpr unsigned long kSnpGetReport =
    ioctl_number(kIocRead | kIocWrite, 'S', 0, sizeof(SnpGuestRequestIoctl));
inline constexpr unsigned long kSnpGetExtReport =
    ioctl_number(kIocRead | kIocWrite, 'S', 2, sizeof(SnpGuestRequestIoctl));
static_assert(kSnpGetReport == 0xC0205300UL);
static_assert(kSnpGetExtReport == 0xC0205302UL);

inline constexpr std::uint32_t kSnpVmmErrorInvalidLen = 1;
inline constexpr std::uint32_t kSnpVmmErrorBusy = 2;
// The kernel's SEV_FW_BLOB_MAX_SIZE: the largest certificate buffer it accepts.
inline constexpr std::size_t kSnpMaxCertificateBuffer = std::size_t{16} * 1024;
inline constexpr std::size_t kSnpPageSize = 4096;

// The name of an SEV firmware status code ("INVALID_PARAM"), or "unknown".
std::string_view sev_firmware_error_name(std::uint32_t fw_error) noexcept;

// Describes exitinfo2 ("firmware error 0x16 (INVALID_PARAM)", "host error 2 (BUSY)") for messages.
std::string describe_snp_exitinfo2(std::uint64_t exitinfo2);

// The used extent of a GHCB certificate table (docs/reference/MEASUREMENT-FORMATS.md §3.5):
// max(offset + length) over the entries before the all-zero terminator, or 0 for an empty table.
// kTruncated when the table has no terminator inside `table`, kMalformed when an entry points
// outside it.
Result<std::size_t> snp_certificate_table_extent(std::span<const std::uint8_t> table);

struct SevGuestDeviceOptions {
  // The VMPL requested for the report (must be >= the VMPL the guest runs at).
  std::uint32_t vmpl = 0;
  // Use SNP_GET_EXT_REPORT and return the host's certificate table as auxiliary evidence.
  bool with_certificates = true;
  // Initial certificate buffer: a multiple of 4096, at most kSnpMaxCertificateBuffer.
  std::size_t certificate_buffer_size = kSnpMaxCertificateBuffer;
};

// Evidence through /dev/sev-guest.
class SevGuestDeviceSource final : public EvidenceSource {
 public:
  // `device` must not be null.
  explicit SevGuestDeviceSource(std::unique_ptr<IoctlDevice> device,
                                SevGuestDeviceOptions options = {});

  std::string name() const override;

  // One guest request (msg_version 1). For the extended report, the certificate buffer is
  // page-aligned; when the host answers INVALID_LEN with a larger size (<= 16 KiB) the request is
  // retried exactly once with that size. Any other failure is reported, never retried: after a
  // failed guest request the driver may wipe the VMPCK, and a blind retry cannot help.
  // Errors: kInvalidArgument (options), kFirmwareError (fw_error / vmm_error in exitinfo2, or a
  // non-zero MSG_REPORT_RSP status; the message decodes the code), kBusy (host BUSY),
  // kDeviceError (errno without firmware detail), kMalformed (REPORT_SIZE != 0x4A0, bad
  // certificate table).
  Result<Evidence> get_evidence(const ReportData& report_data) override;

 private:
  std::unique_ptr<IoctlDevice> device_;
  SevGuestDeviceOptions options_;
};

}  // namespace ccfde::measure

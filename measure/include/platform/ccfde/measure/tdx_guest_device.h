// SPDX-License-Identifier: Apache-2.0
// TDX evidence for kernels without configfs-tsm (< 6.7): TDX_CMD_GET_REPORT0 on /dev/tdx_guest
// gives a TDREPORT, and the quote generation service (QGS) on the host turns it into a quote over
// vsock (docs/reference/MEASUREMENT-FORMATS.md §1.3, §1.4).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/ioctl_device.h"

namespace ccfde::measure {

// ---- /dev/tdx_guest (include/uapi/linux/tdx-guest.h) ----

inline constexpr std::size_t kTdxGuestTdReportSize = 1024;
using TdReport = std::array<std::uint8_t, kTdxGuestTdReportSize>;

struct TdxReportReq {
  std::uint8_t reportdata[64];
  std::uint8_t tdreport[kTdxGuestTdReportSize];
};
static_assert(sizeof(TdxReportReq) == 1088);
static_assert(offsetof(TdxReportReq, tdreport) == 64);

inline constexpr unsigned long kTdxCmdGetReport0 =
    ioctl_number(kIocRead | kIocWrite, 'T', 1, sizeof(TdxReportReq));
static_assert(kTdxCmdGetReport0 == 0xC4405401UL);

// TDX_CMD_GET_REPORT0: the TDREPORT_STRUCT whose REPORTDATA is `report_data`. kDeviceError (with
// errno) when the ioctl fails.
Result<TdReport> tdx_get_report0(IoctlDevice& device, const ReportData& report_data);

// ---- QGS messages (qgs_msg_lib.h, little-endian, packed) ----

inline constexpr std::uint16_t kQgsMajorVersion = 1;
inline constexpr std::uint16_t kQgsMinorVersion = 1;
inline constexpr std::uint32_t kQgsGetQuoteRequest = 0;
inline constexpr std::uint32_t kQgsGetQuoteResponse = 1;
inline constexpr std::size_t kQgsHeaderSize = 16;
// Largest response accepted (quotes are a few KiB; DICE quotes exceed 8 KiB).
inline constexpr std::size_t kQgsMaxMessageSize = std::size_t{1024} * 1024;

struct QgsGetQuoteResponse {
  std::uint16_t major_version = 0;
  std::uint16_t minor_version = 0;
  std::uint32_t error_code = 0;  // 0 = success
  Bytes selected_id;             // the attestation key id QGS chose
  Bytes quote;
};

// A GET_QUOTE_REQ message for `td_report` with an empty key-id list: 16 + 8 + 1024 bytes.
Bytes encode_qgs_get_quote_request(const TdReport& td_report);

// Decodes a GET_QUOTE_RESP message (without the 4-byte transport length). Checks the major
// version (kUnsupportedVersion), the type and the declared sizes (kMalformed/kTruncated). With a
// non-zero error_code only the header is decoded; the caller reports it.
Result<QgsGetQuoteResponse> decode_qgs_get_quote_response(std::span<const std::uint8_t> message);

// ---- stream transport to the QGS ----

// One connected byte stream (a vsock socket in production).
class StreamConnection {
 public:
  virtual ~StreamConnection() = default;
  // Sends all of `bytes` before `deadline`. kIoError (with errno), kDeadlineExceeded.
  virtual Status send_all(std::span<const std::uint8_t> bytes,
                          std::chrono::steady_clock::time_point deadline) = 0;
  // Receives at least one byte into `buffer` (non-empty) before `deadline`; 0 means the peer
  // closed the stream. kIoError (with errno), kDeadlineExceeded.
  virtual Result<std::size_t> receive_some(std::span<std::uint8_t> buffer,
                                           std::chrono::steady_clock::time_point deadline) = 0;
};

// Opens connections to the QGS.
class StreamConnector {
 public:
  virtual ~StreamConnector() = default;
  // A human-readable address ("vsock cid 2 port 4050").
  virtual std::string address() const = 0;
  // Connects. kNotFound when nothing listens (ECONNREFUSED, ENODEV, ENOENT), kUnsupported when
  // the socket family is unavailable, kIoError otherwise, kDeadlineExceeded.
  virtual Result<std::unique_ptr<StreamConnection>> connect(
      std::chrono::steady_clock::time_point deadline) = 0;
};

// A StreamConnection over an owned, connected socket descriptor (any stream socket: vsock in
// production, a socketpair in tests).
class FdStreamConnection final : public StreamConnection {
 public:
  explicit FdStreamConnection(UniqueFd fd) : fd_(std::move(fd)) {}
  Status send_all(std::span<const std::uint8_t> bytes,
                  std::chrono::steady_clock::time_point deadline) override;
  Result<std::size_t> receive_some(std::span<std::uint8_t> buffer,
                                   std::chrono::steady_clock::time_point deadline) override;

 private:
  UniqueFd fd_;
};

// AF_VSOCK connector (VMADDR_CID_HOST = 2, QGS port 4050 by default).
class VsockConnector final : public StreamConnector {
 public:
  explicit VsockConnector(std::uint32_t cid = 2, std::uint32_t port = 4050)
      : cid_(cid), port_(port) {}
  std::string address() const override;
  Result<std::unique_ptr<StreamConnection>> connect(
      std::chrono::steady_clock::time_point deadline) override;

 private:
  std::uint32_t cid_;
  std::uint32_t port_;
};

// Sends `message` framed as [u32 big-endian length][message] and returns the response message
// (its 4-byte big-endian length removed), reading until all declared bytes arrived.
// kTruncated when the peer closes early (names the bytes received and expected), kMalformed when
// the declared length is 0 or above kQgsMaxMessageSize, kDeadlineExceeded, kIoError.
Result<Bytes> qgs_exchange(StreamConnection& connection, std::span<const std::uint8_t> message,
                           std::chrono::steady_clock::time_point deadline);

struct TdxGuestDeviceOptions {
  // Deadline for the whole QGS exchange (quote generation can take seconds).
  std::chrono::milliseconds qgs_timeout{30000};
};

// TDREPORT via /dev/tdx_guest, quote via the QGS.
class TdxGuestDeviceSource final : public EvidenceSource {
 public:
  // Neither pointer may be null.
  TdxGuestDeviceSource(std::unique_ptr<IoctlDevice> device,
                       std::unique_ptr<StreamConnector> connector,
                       TdxGuestDeviceOptions options = {});

  std::string name() const override;

  // GET_REPORT0, then one GET_QUOTE exchange with the QGS. kDeviceError (ioctl), connector and
  // qgs_exchange errors, decode errors, kFirmwareError (QGS error_code != 0, or an empty quote),
  // kTruncated (a quote shorter than kEvidenceMinTdxQuoteSize).
  Result<Evidence> get_evidence(const ReportData& report_data) override;

 private:
  std::unique_ptr<IoctlDevice> device_;
  std::unique_ptr<StreamConnector> connector_;
  TdxGuestDeviceOptions options_;
};

}  // namespace ccfde::measure

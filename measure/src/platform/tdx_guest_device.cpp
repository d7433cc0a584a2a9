// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_guest_device.h"

#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "ccfde/common/byte_reader.h"
#include "kernel_errors.h"

namespace ccfde::measure {
namespace {

using Clock = std::chrono::steady_clock;

void put_u16le(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}

void put_u32le(Bytes& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void put_u32be(Bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

std::string_view qgs_error_name(std::uint32_t code) {
  switch (code) {
    case 0x00012001: return " (QGS_MSG_ERROR_UNEXPECTED)";
    case 0x00012002: return " (QGS_MSG_ERROR_OUT_OF_MEMORY)";
    case 0x00012003: return " (QGS_MSG_ERROR_INVALID_PARAMETER)";
    case 0x00012004: return " (QGS_MSG_ERROR_INVALID_VERSION)";
    case 0x00012005: return " (QGS_MSG_ERROR_INVALID_TYPE)";
    case 0x00012006: return " (QGS_MSG_ERROR_INVALID_SIZE)";
    case 0x00012007: return " (QGS_MSG_ERROR_INVALID_CODE)";
    default: return "";
  }
}

// Milliseconds left until `deadline`, for poll(2): at least 0, at most INT_MAX.
int poll_timeout(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
}

// Waits until `fd` is ready for `events`. kDeadlineExceeded when the deadline passes first.
Status wait_ready(int fd, short events, Clock::time_point deadline, std::string_view what) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, poll_timeout(deadline));
    if (ready > 0) return Status();
    if (ready == 0) {
      return make_error(ErrorCode::kDeadlineExceeded, "the deadline passed while waiting to {}",
                        what);
    }
    if (errno != EINTR) {
      const int error = errno;
      return make_errno_error(ErrorCode::kIoError, error, "poll failed while waiting to {}", what);
    }
  }
}

// Reads exactly `buffer.size()` bytes.
Status receive_exact(StreamConnection& connection, std::span<std::uint8_t> buffer,
                     Clock::time_point deadline, std::string_view what) {
  std::size_t got = 0;
  while (got < buffer.size()) {
    CCFDE_ASSIGN_OR_RETURN(const std::size_t n,
                           connection.receive_some(buffer.subspan(got), deadline));
    if (n == 0) {
      return make_error(ErrorCode::kTruncated,
                        "the QGS closed the connection after {} of the {} bytes of the {}", got,
                        buffer.size(), what);
    }
    got += n;
  }
  return Status();
}

}  // namespace

Result<TdReport> tdx_get_report0(IoctlDevice& device, const ReportData& report_data) {
  TdxReportReq request{};
  std::memcpy(request.reportdata, report_data.data(), report_data.size());
  int error = 0;
  // GET_REPORT0 has no side effects, so an interrupted call may be repeated.
  do {
    error = device.ioctl(kTdxCmdGetReport0, &request);
  } while (error == EINTR);
  if (error != 0) {
    return make_errno_error(ErrorCode::kDeviceError, error, "TDX_CMD_GET_REPORT0 on {} failed",
                            device.path());
  }
  TdReport report{};
  std::memcpy(report.data(), request.tdreport, report.size());
  return report;
}

Bytes encode_qgs_get_quote_request(const TdReport& td_report) {
  constexpr std::uint32_t kSize = kQgsHeaderSize + 8 + kTdxGuestTdReportSize;
  Bytes message;
  message.reserve(kSize);
  put_u16le(message, kQgsMajorVersion);
  put_u16le(message, kQgsMinorVersion);
  put_u32le(message, kQgsGetQuoteRequest);
  put_u32le(message, kSize);
  put_u32le(message, 0);  // error_code
  put_u32le(message, static_cast<std::uint32_t>(kTdxGuestTdReportSize));
  put_u32le(message, 0);  // id_list_size: let the QGS pick the attestation key
  message.insert(message.end(), td_report.begin(), td_report.end());
  return message;
}

Result<QgsGetQuoteResponse> decode_qgs_get_quote_response(std::span<const std::uint8_t> message) {
  ByteReader reader(message);
  QgsGetQuoteResponse response;
  CCFDE_ASSIGN_OR_RETURN(response.major_version, reader.u16le("QGS major_version"));
  CCFDE_ASSIGN_OR_RETURN(response.minor_version, reader.u16le("QGS minor_version"));
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t type, reader.u32le("QGS type"));
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t size, reader.u32le("QGS size"));
  CCFDE_ASSIGN_OR_RETURN(response.error_code, reader.u32le("QGS error_code"));
  if (response.major_version != kQgsMajorVersion) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "QGS major_version at offset 0 is {}, expected {}", response.major_version,
                      kQgsMajorVersion);
  }
  if (type != kQgsGetQuoteResponse) {
    return make_error(ErrorCode::kMalformed,
                      "QGS type at offset 4 is {}, expected {} (GET_QUOTE_RESP)", type,
                      kQgsGetQuoteResponse);
  }
  if (size != message.size()) {
    return make_error(ErrorCode::kMalformed,
                      "QGS size at offset 8 is {}, but the message has {} bytes", size,
                      message.size());
  }
  if (response.error_code != 0) return response;
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t id_size, reader.u32le("QGS selected_id_size"));
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t quote_size, reader.u32le("QGS quote_size"));
  if (std::uint64_t{id_size} + quote_size != reader.remaining()) {
    return make_error(ErrorCode::kMalformed,
                      "QGS selected_id_size {} + quote_size {} at offset 16 do not match the {} "
                      "bytes that follow offset 24",
                      id_size, quote_size, reader.remaining());
  }
  CCFDE_ASSIGN_OR_RETURN(auto id, reader.bytes(id_size, "QGS selected id"));
  CCFDE_ASSIGN_OR_RETURN(auto quote, reader.bytes(quote_size, "QGS quote"));
  response.selected_id.assign(id.begin(), id.end());
  response.quote.assign(quote.begin(), quote.end());
  return response;
}

Status FdStreamConnection::send_all(std::span<const std::uint8_t> bytes,
                                    Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    CCFDE_RETURN_IF_ERROR(wait_ready(fd_.get(), POLLOUT, deadline, "send to the QGS"));
    const ssize_t n =
        ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      const int error = errno;
      return make_errno_error(ErrorCode::kIoError, error,
                              "sending to the QGS failed after {} of {} bytes", sent, bytes.size());
    }
    sent += static_cast<std::size_t>(n);
  }
  return Status();
}

Result<std::size_t> FdStreamConnection::receive_some(std::span<std::uint8_t> buffer,
                                                     Clock::time_point deadline) {
  for (;;) {
    CCFDE_RETURN_IF_ERROR(wait_ready(fd_.get(), POLLIN, deadline, "receive from the QGS"));
    const ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    const int error = errno;
    return make_errno_error(ErrorCode::kIoError, error, "receiving from the QGS failed");
  }
}

std::string VsockConnector::address() const {
  return fmt::format("vsock cid {} port {}", cid_, port_);
}

Result<std::unique_ptr<StreamConnection>> VsockConnector::connect(Clock::time_point deadline) {
  UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    const int error = errno;
    if (error == EAFNOSUPPORT) {
      return make_errno_error(ErrorCode::kUnsupported, error,
                              "AF_VSOCK sockets are unavailable (vsock transport not loaded)");
    }
    return make_errno_error(ErrorCode::kIoError, error, "cannot create a vsock socket");
  }
  sockaddr_vm address{};
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid_;
  address.svm_port = port_;
  int error = 0;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      CCFDE_RETURN_IF_ERROR(wait_ready(fd.get(), POLLOUT, deadline,
                                       fmt::format("connect to the QGS at {}", this->address())));
      socklen_t length = sizeof error;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    }
  }
  if (error != 0) {
    switch (error) {
      case ECONNREFUSED:
      case ECONNRESET:
      case ENODEV:
      case ENOENT:
      case EHOSTUNREACH:
      case ENETUNREACH:
        return make_errno_error(ErrorCode::kNotFound, error,
                                "nothing accepts connections at {} (is the QGS running on the "
                                "host?)",
                                this->address());
      case ETIMEDOUT:
        return make_errno_error(ErrorCode::kDeadlineExceeded, error,
                                "connecting to the QGS at {} timed out", this->address());
      default:
        return make_errno_error(ErrorCode::kIoError, error, "cannot connect to the QGS at {}",
                                this->address());
    }
  }
  return std::unique_ptr<StreamConnection>(std::make_unique<FdStreamConnection>(std::move(fd)));
}

Result<Bytes> qgs_exchange(StreamConnection& connection, std::span<const std::uint8_t> message,
                           Clock::time_point deadline) {
  if (message.size() > kQgsMaxMessageSize) {
    return make_error(ErrorCode::kInvalidArgument, "QGS request of {} bytes exceeds {} bytes",
                      message.size(), kQgsMaxMessageSize);
  }
  Bytes frame;
  frame.reserve(4 + message.size());
  put_u32be(frame, static_cast<std::uint32_t>(message.size()));
  frame.insert(frame.end(), message.begin(), message.end());
  CCFDE_RETURN_IF_ERROR(connection.send_all(frame, deadline));

  std::uint8_t prefix[4] = {};
  CCFDE_RETURN_IF_ERROR(receive_exact(connection, prefix, deadline, "response length"));
  const std::uint32_t length = (std::uint32_t{prefix[0]} << 24) | (std::uint32_t{prefix[1]} << 16) |
                               (std::uint32_t{prefix[2]} << 8) | std::uint32_t{prefix[3]};
  if (length == 0 || length > kQgsMaxMessageSize) {
    return make_error(ErrorCode::kMalformed,
                      "the QGS announced a response of {} bytes, expected 1..{}", length,
                      kQgsMaxMessageSize);
  }
  Bytes response(length);
  CCFDE_RETURN_IF_ERROR(receive_exact(connection, response, deadline, "response"));
  return response;
}

TdxGuestDeviceSource::TdxGuestDeviceSource(std::unique_ptr<IoctlDevice> device,
                                           std::unique_ptr<StreamConnector> connector,
                                           TdxGuestDeviceOptions options)
    : device_(std::move(device)), connector_(std::move(connector)), options_(options) {}

std::string TdxGuestDeviceSource::name() const {
  return fmt::format("tdx_guest ioctl ({}) + QGS ({})", device_->path(), connector_->address());
}

Result<Evidence> TdxGuestDeviceSource::get_evidence(const ReportData& report_data) {
  const auto deadline = Clock::now() + options_.qgs_timeout;
  CCFDE_ASSIGN_OR_RETURN(const TdReport report, tdx_get_report0(*device_, report_data));
  auto connection = connector_->connect(deadline);
  if (!connection.ok()) return connection.status();
  const Bytes request = encode_qgs_get_quote_request(report);
  auto raw = qgs_exchange(**connection, request, deadline);
  if (!raw.ok()) return raw.status().with_context(fmt::format("QGS at {}", connector_->address()));
  CCFDE_ASSIGN_OR_RETURN(auto response, decode_qgs_get_quote_response(*raw));
  if (response.error_code != 0) {
    return make_error(ErrorCode::kFirmwareError, "the QGS at {} returned error 0x{:08x}{}",
                      connector_->address(), response.error_code,
                      qgs_error_name(response.error_code));
  }
  if (response.quote.empty()) {
    return make_error(ErrorCode::kFirmwareError, "the QGS at {} returned an empty quote",
                      connector_->address());
  }
  if (response.quote.size() < kEvidenceMinTdxQuoteSize) {
    return make_error(ErrorCode::kTruncated,
                      "the QGS at {} returned a {}-byte quote, a TDX quote needs at least {} bytes",
                      connector_->address(), response.quote.size(), kEvidenceMinTdxQuoteSize);
  }
  return Evidence{TeeKind::kTdx, std::move(response.quote), {}, name()};
}

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// Fakes of the kernel side of the guest interfaces, for the platform tests. They play the driver
// on the real ABI structs and file layouts; they are never linked into a product binary.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/configfs_tsm.h"
#include "ccfde/measure/sev_guest_device.h"
#include "ccfde/measure/tdx_guest_device.h"

namespace ccfde::measure::fakes {

// ---- configfs-tsm ----

struct TsmKernelState {
  std::string provider = "tdx_guest";
  Bytes outblob;
  Bytes auxblob;
  // Extra generation increments after each of our writes: another writer racing us.
  int racing_writes_per_write = 0;
  // Another writer bumps the generation while outblob is being read.
  bool race_during_read = false;
  std::optional<Status> outblob_error;
  std::vector<std::filesystem::path> created;
  std::vector<std::filesystem::path> removed;
  std::optional<Bytes> inblob;
  std::optional<std::string> privlevel;
};

// Real POSIX operations on a plain directory tree, plus what the kernel does in report.c:
// attributes appear on mkdir, writes bump `generation`, a written inblob produces the outblob.
class FakeTsmKernel : public PosixTsmFileOps {
 public:
  explicit FakeTsmKernel(std::shared_ptr<TsmKernelState> state) : state_(std::move(state)) {}

  Status make_directory(const std::filesystem::path& path) override {
    CCFDE_RETURN_IF_ERROR(PosixTsmFileOps::make_directory(path));
    state_->created.push_back(path);
    const std::string provider = state_->provider + "\n";
    CCFDE_RETURN_IF_ERROR(write_file(path / "provider", as_bytes(provider)));
    CCFDE_RETURN_IF_ERROR(write_file(path / "inblob", {}));
    CCFDE_RETURN_IF_ERROR(write_file(path / "outblob", {}));
    if (state_->provider == "sev_guest") {
      CCFDE_RETURN_IF_ERROR(write_file(path / "auxblob", {}));
      CCFDE_RETURN_IF_ERROR(write_file(path / "privlevel", {}));
    }
    generation_[path] = 0;
    return store_generation(path);
  }

  Status remove_directory(const std::filesystem::path& path) override {
    state_->removed.push_back(path);
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path, ignored)) {
      std::filesystem::remove(entry.path(), ignored);
    }
    return PosixTsmFileOps::remove_directory(path);
  }

  Status write_blob(const std::filesystem::path& path,
                    std::span<const std::uint8_t> bytes) override {
    CCFDE_RETURN_IF_ERROR(PosixTsmFileOps::write_blob(path, bytes));
    const auto dir = path.parent_path();
    const auto name = path.filename().string();
    if (name == "privlevel") state_->privlevel = std::string(as_chars(bytes));
    if (name == "inblob") {
      state_->inblob = Bytes(bytes.begin(), bytes.end());
      CCFDE_RETURN_IF_ERROR(write_file(dir / "outblob", state_->outblob));
      if (state_->provider == "sev_guest") {
        CCFDE_RETURN_IF_ERROR(write_file(dir / "auxblob", state_->auxblob));
      }
    }
    generation_[dir] += 1 + static_cast<std::uint64_t>(state_->racing_writes_per_write);
    return store_generation(dir);
  }

  Result<Bytes> read_blob(const std::filesystem::path& path, std::size_t max_size) override {
    const bool outblob = path.filename() == "outblob";
    if (outblob && state_->outblob_error) return *state_->outblob_error;
    auto result = PosixTsmFileOps::read_blob(path, max_size);
    if (outblob && state_->race_during_read) {
      generation_[path.parent_path()] += 1;
      CCFDE_RETURN_IF_ERROR(store_generation(path.parent_path()));
    }
    return result;
  }

 private:
  Status store_generation(const std::filesystem::path& dir) {
    const std::string text = std::to_string(generation_[dir]) + "\n";
    return write_file(dir / "generation", as_bytes(text));
  }

  std::shared_ptr<TsmKernelState> state_;
  std::map<std::filesystem::path, std::uint64_t> generation_;
};

// ---- /dev/sev-guest ----

struct SevDeviceState {
  Bytes report;             // the ATTESTATION_REPORT to return
  Bytes certificate_table;  // copied into the caller's buffer
  std::size_t required_certs_len = 4096;
  // Each INVALID_LEN answer raises the requirement by this much (a host whose table grows).
  std::size_t requirement_growth = 0;
  std::uint64_t failure_exitinfo2 = 0;  // non-zero: fail every request with EIO and this
  int failure_errno = 0;                // non-zero (with exitinfo2 0): plain errno failure
  std::uint32_t response_status = 0;
  std::uint32_t response_report_size = 0x4A0;
  // Observations.
  int calls = 0;
  std::vector<unsigned long> requests;
  std::vector<std::uint32_t> certs_lens;
  bool certs_page_aligned = true;
  std::uint8_t msg_version = 0;
  std::uint32_t vmpl = 0xFFFFFFFF;
  Bytes user_data;
};

class FakeSevDevice final : public IoctlDevice {
 public:
  explicit FakeSevDevice(std::shared_ptr<SevDeviceState> state) : state_(std::move(state)) {}
  std::string path() const override { return "/fake/sev-guest"; }

  int ioctl(unsigned long request, void* argument) override {
    auto& s = *state_;
    ++s.calls;
    s.requests.push_back(request);
    auto* io = static_cast<SnpGuestRequestIoctl*>(argument);
    s.msg_version = io->msg_version;
    if (io->msg_version == 0) return EINVAL;
    SnpReportReq* report_request = nullptr;
    if (request == kSnpGetExtReport) {
      auto* ext = reinterpret_cast<SnpExtReportReq*>(static_cast<std::uintptr_t>(io->req_data));
      report_request = &ext->data;
      s.certs_lens.push_back(ext->certs_len);
      if (ext->certs_address % kSnpPageSize != 0) s.certs_page_aligned = false;
      if (s.failure_exitinfo2 == 0 && s.failure_errno == 0) {
        if (ext->certs_len < s.required_certs_len) {
          ext->certs_len = static_cast<std::uint32_t>(s.required_certs_len);
          s.required_certs_len += s.requirement_growth;
          io->exitinfo2 = std::uint64_t{kSnpVmmErrorInvalidLen} << 32;
          return EIO;
        }
        auto* certs =
            reinterpret_cast<std::uint8_t*>(static_cast<std::uintptr_t>(ext->certs_address));
        std::copy_n(s.certificate_table.begin(),
                    std::min<std::size_t>(s.certificate_table.size(), ext->certs_len), certs);
      }
    } else if (request == kSnpGetReport) {
      report_request = reinterpret_cast<SnpReportReq*>(static_cast<std::uintptr_t>(io->req_data));
    } else {
      return ENOTTY;
    }
    s.vmpl = report_request->vmpl;
    s.user_data.assign(report_request->user_data, report_request->user_data + 64);
    if (s.failure_exitinfo2 != 0) {
      io->exitinfo2 = s.failure_exitinfo2;
      return EIO;
    }
    if (s.failure_errno != 0) return s.failure_errno;
    auto* response = reinterpret_cast<SnpReportResp*>(static_cast<std::uintptr_t>(io->resp_data));
    std::memset(response->data, 0, sizeof response->data);
    std::memcpy(response->data, &s.response_status, 4);
    std::memcpy(response->data + 4, &s.response_report_size, 4);
    std::copy_n(s.report.begin(), std::min<std::size_t>(s.report.size(), 1184),
                response->data + 0x20);
    return 0;
  }

 private:
  std::shared_ptr<SevDeviceState> state_;
};

// ---- /dev/tdx_guest and the QGS ----

struct TdxDeviceState {
  int failure_errno = 0;
  int calls = 0;
  Bytes reportdata;
};

// Returns a TDREPORT of 0x5A bytes with the caller's REPORTDATA at offset 128, as the TDX module
// places it.
class FakeTdxDevice final : public IoctlDevice {
 public:
  explicit FakeTdxDevice(std::shared_ptr<TdxDeviceState> state) : state_(std::move(state)) {}
  std::string path() const override { return "/fake/tdx_guest"; }
  int ioctl(unsigned long request, void* argument) override {
    ++state_->calls;
    if (request != kTdxCmdGetReport0) return ENOTTY;
    if (state_->failure_errno != 0) return state_->failure_errno;
    auto* req = static_cast<TdxReportReq*>(argument);
    state_->reportdata.assign(req->reportdata, req->reportdata + 64);
    std::memset(req->tdreport, 0x5A, sizeof req->tdreport);
    std::memcpy(req->tdreport + 128, req->reportdata, 64);
    return 0;
  }

 private:
  std::shared_ptr<TdxDeviceState> state_;
};

struct QgsPeerState {
  Bytes response_stream;  // bytes the peer sends back (length prefix included)
  std::size_t chunk = 7;  // delivered in pieces of this size, to exercise the read loop
  Bytes received;         // what the client sent
  std::optional<Status> connect_error;
  std::optional<Status> receive_error;
};

class FakeQgsConnection final : public StreamConnection {
 public:
  explicit FakeQgsConnection(std::shared_ptr<QgsPeerState> state) : state_(std::move(state)) {}
  Status send_all(std::span<const std::uint8_t> bytes,
                  std::chrono::steady_clock::time_point) override {
    state_->received.insert(state_->received.end(), bytes.begin(), bytes.end());
    return Status();
  }
  Result<std::size_t> receive_some(std::span<std::uint8_t> buffer,
                                   std::chrono::steady_clock::time_point) override {
    if (state_->receive_error) return *state_->receive_error;
    const std::size_t n =
        std::min({buffer.size(), state_->chunk, state_->response_stream.size() - position_});
    std::copy_n(state_->response_stream.begin() + static_cast<std::ptrdiff_t>(position_), n,
                buffer.begin());
    position_ += n;
    return n;
  }

 private:
  std::shared_ptr<QgsPeerState> state_;
  std::size_t position_ = 0;
};

class FakeQgsConnector final : public StreamConnector {
 public:
  explicit FakeQgsConnector(std::shared_ptr<QgsPeerState> state) : state_(std::move(state)) {}
  std::string address() const override { return "fake qgs"; }
  Result<std::unique_ptr<StreamConnection>> connect(
      std::chrono::steady_clock::time_point) override {
    if (state_->connect_error) return *state_->connect_error;
    return std::unique_ptr<StreamConnection>(std::make_unique<FakeQgsConnection>(state_));
  }

 private:
  std::shared_ptr<QgsPeerState> state_;
};

// A GET_QUOTE_RESP message: header, selected id, quote.
inline Bytes qgs_response(std::uint32_t error_code, const Bytes& id, const Bytes& quote,
                          std::uint16_t major = 1, std::uint32_t type = 1) {
  Bytes out;
  const auto put16 = [&](std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  const auto put32 = [&](std::uint32_t v) {
    for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(v >> s));
  };
  const auto size = static_cast<std::uint32_t>(kQgsHeaderSize + 8 + id.size() + quote.size());
  put16(major);
  put16(1);
  put32(type);
  put32(size);
  put32(error_code);
  put32(static_cast<std::uint32_t>(id.size()));
  put32(static_cast<std::uint32_t>(quote.size()));
  out.insert(out.end(), id.begin(), id.end());
  out.insert(out.end(), quote.begin(), quote.end());
  return out;
}

// [u32 big-endian length][message].
inline Bytes frame(const Bytes& message) {
  const auto n = static_cast<std::uint32_t>(message.size());
  Bytes out{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
            static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

}  // namespace ccfde::measure::fakes

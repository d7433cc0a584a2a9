// SPDX-License-Identifier: Apache-2.0
#include "tdx_mr_model.h"

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "ccfde/common/digest.h"
#include "kernel_errno.h"

namespace ccfde::tdx_emu {
namespace {

using measure::kTdxRegisterSize;
using measure::TdxRegister;

// tdx-guest.c's tdx_mrs[]: the RTMRs are TSM_MR_F_RTMR (readable, writable, live), the rest
// read-only.
constexpr TdxMrFileInfo kFiles[] = {
    {TdxRegister::kRtmr0, true},    {TdxRegister::kRtmr1, true},
    {TdxRegister::kRtmr2, true},    {TdxRegister::kRtmr3, true},
    {TdxRegister::kMrtd, false},    {TdxRegister::kMrConfigId, false},
    {TdxRegister::kMrOwner, false}, {TdxRegister::kMrOwnerConfig, false},
};

// The RTMR index of `reg`, or -1.
int rtmr_index(TdxRegister reg) {
  switch (reg) {
    case TdxRegister::kRtmr0: return 0;
    case TdxRegister::kRtmr1: return 1;
    case TdxRegister::kRtmr2: return 2;
    case TdxRegister::kRtmr3: return 3;
    default: return -1;
  }
}

}  // namespace

std::span<const TdxMrFileInfo> tdx_mr_files() noexcept {
  return kFiles;
}

const TdxMrFileInfo* find_tdx_mr_file(std::string_view name) noexcept {
  const auto* found = std::find_if(std::begin(kFiles), std::end(kFiles), [name](const auto& file) {
    return measure::tdx_register_file_name(file.id) == name;
  });
  return found == std::end(kFiles) ? nullptr : found;
}

TdxMrModel::TdxMrModel(const measure::TdxRegisterValue& mr_td,
                       const measure::TdxRegisterValue& mr_config_id, const RtmrValues& rtmr)
    : mr_td_(mr_td), mr_config_id_(mr_config_id), rtmr_(rtmr) {}

const measure::TdxRegisterValue& TdxMrModel::value(TdxRegister reg) const {
  const int index = rtmr_index(reg);
  if (index >= 0) return rtmr_[static_cast<std::size_t>(index)];
  switch (reg) {
    case TdxRegister::kMrtd: return mr_td_;
    case TdxRegister::kMrConfigId: return mr_config_id_;
    default: return zero_;
  }
}

Status TdxMrModel::check_open(TdxRegister reg, bool for_write) {
  if (for_write && rtmr_index(reg) < 0) {
    return errno_status(EACCES,
                        fmt::format("{} is read-only", measure::tdx_register_file_name(reg)));
  }
  return Status();
}

Bytes TdxMrModel::read(TdxRegister reg, std::size_t offset, std::size_t size) const {
  const measure::TdxRegisterValue& current = value(reg);
  if (offset >= current.size()) return Bytes();
  const std::size_t count = std::min(size, current.size() - offset);
  const auto begin = current.begin() + static_cast<std::ptrdiff_t>(offset);
  return Bytes(begin, begin + static_cast<std::ptrdiff_t>(count));
}

Result<std::size_t> TdxMrModel::write(TdxRegister reg, std::size_t offset,
                                      std::span<const std::uint8_t> bytes) {
  const std::string_view name = measure::tdx_register_file_name(reg);
  const int index = rtmr_index(reg);
  if (index < 0) return errno_status(EACCES, fmt::format("{} is read-only", name));
  // sysfs_kf_bin_write: the attribute's size bounds the write before the driver sees it.
  if (offset >= kTdxRegisterSize) {
    return errno_status(EFBIG, fmt::format("{} ends at byte {}", name, kTdxRegisterSize));
  }
  const std::size_t count = std::min(bytes.size(), kTdxRegisterSize - offset);
  if (count == 0) return std::size_t{0};
  // tm_digest_write: partial writes are not supported.
  if (offset != 0 || count != kTdxRegisterSize) {
    return errno_status(EINVAL, fmt::format("{} takes exactly {} bytes at offset 0, got {} at {}",
                                            name, kTdxRegisterSize, count, offset));
  }
  measure::TdxRegisterValue& rtmr = rtmr_[static_cast<std::size_t>(index)];
  auto extended = digest(DigestAlgorithm::kSha384, {rtmr, bytes.first(kTdxRegisterSize)});
  if (!extended.ok() || extended->size() != kTdxRegisterSize) {
    return errno_status(EIO, fmt::format("extending {}: SHA-384 failed", name));
  }
  std::copy(extended->begin(), extended->end(), rtmr.begin());
  return kTdxRegisterSize;
}

}  // namespace ccfde::tdx_emu

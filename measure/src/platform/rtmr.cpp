// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/rtmr.h"

#include <algorithm>

#include "ccfde/common/file_io.h"

namespace ccfde::measure {
namespace {

TdxRegister rtmr_register(unsigned index) {
  constexpr TdxRegister kRtmrs[] = {TdxRegister::kRtmr0, TdxRegister::kRtmr1, TdxRegister::kRtmr2,
                                    TdxRegister::kRtmr3};
  return kRtmrs[index];
}

}  // namespace

std::string_view tdx_register_file_name(TdxRegister reg) noexcept {
  switch (reg) {
    case TdxRegister::kMrtd: return "mrtd:sha384";
    case TdxRegister::kRtmr0: return "rtmr0:sha384";
    case TdxRegister::kRtmr1: return "rtmr1:sha384";
    case TdxRegister::kRtmr2: return "rtmr2:sha384";
    case TdxRegister::kRtmr3: return "rtmr3:sha384";
    case TdxRegister::kMrConfigId: return "mrconfigid";
    case TdxRegister::kMrOwner: return "mrowner";
    case TdxRegister::kMrOwnerConfig: return "mrownerconfig";
  }
  return "unknown";
}

Result<TdxRegisterValue> TdxMeasurementRegisters::read(TdxRegister reg) const {
  const auto path = dir_ / tdx_register_file_name(reg);
  auto bytes = read_file(path, 4096);
  if (!bytes.ok()) {
    return bytes.status().with_context(
        fmt::format("TDX register {} (sysfs measurements need Linux >= 6.16 in a TDX guest)",
                    tdx_register_file_name(reg)));
  }
  if (bytes->size() != kTdxRegisterSize) {
    return make_error(ErrorCode::kMalformed, "{} holds {} bytes, expected {} raw bytes",
                      path.string(), bytes->size(), kTdxRegisterSize);
  }
  TdxRegisterValue value{};
  std::copy(bytes->begin(), bytes->end(), value.begin());
  return value;
}

Status TdxMeasurementRegisters::extend_rtmr(unsigned index, std::span<const std::uint8_t> digest,
                                            RtmrExtendPolicy policy) const {
  if (index > 3) {
    return make_error(ErrorCode::kInvalidArgument, "RTMR index {} is out of range 0..3", index);
  }
  if (digest.size() != kTdxRegisterSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "an RTMR extend takes exactly {} bytes (a SHA-384 digest), got {}",
                      kTdxRegisterSize, digest.size());
  }
  if (index < 2 && policy != RtmrExtendPolicy::kForceAnyRegister) {
    return make_error(ErrorCode::kInvalidArgument,
                      "refusing to extend RTMR{}: it holds firmware measurements, and an extra "
                      "extend makes the CCEL replay disagree with every later quote (use RTMR2 or "
                      "RTMR3, or force it explicitly)",
                      index);
  }
  const auto path = dir_ / tdx_register_file_name(rtmr_register(index));
  return write_attribute(path, digest).with_context(fmt::format("extending RTMR{}", index));
}

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// TDX measurement registers through sysfs (Linux >= 6.16, docs/reference/MEASUREMENT-FORMATS.md
// §1.2): /sys/devices/virtual/misc/tdx_guest/measurements/{mrtd,rtmr0..3}:sha384 and the static
// IDs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::measure {

inline constexpr std::size_t kTdxRegisterSize = 48;
using TdxRegisterValue = std::array<std::uint8_t, kTdxRegisterSize>;

enum class TdxRegister {
  kMrtd,
  kRtmr0,
  kRtmr1,
  kRtmr2,
  kRtmr3,
  kMrConfigId,
  kMrOwner,
  kMrOwnerConfig
};

// The sysfs file name of a register: "mrtd:sha384", "rtmr0:sha384", ..., "mrconfigid".
std::string_view tdx_register_file_name(TdxRegister reg) noexcept;

// Whether extend_rtmr may touch the registers the firmware owns.
enum class RtmrExtendPolicy {
  kApplicationRegistersOnly,  // RTMR2 and RTMR3 only (the default)
  kForceAnyRegister,          // also RTMR0/RTMR1: breaks the replay of the firmware log
};

// Reads and extends TDX registers in a measurements directory (PlatformPaths::tdx_measurements).
class TdxMeasurementRegisters {
 public:
  explicit TdxMeasurementRegisters(std::filesystem::path measurements_dir)
      : dir_(std::move(measurements_dir)) {}

  // The current value (48 raw bytes). kNotFound (with the path) when the file is absent (kernel
  // older than 6.16 or not a TDX guest), kIoError on a read failure, kMalformed when the file does
  // not hold exactly 48 bytes.
  Result<TdxRegisterValue> read(TdxRegister reg) const;

  // Extends RTMR[index] with `digest` by writing exactly its 48 bytes (the kernel performs
  // TDG.MR.RTMR.EXTEND: RTMR = SHA-384(RTMR || digest)). The kernel keeps no log; the caller must
  // record the digest in its own log (docs/reference/MEASUREMENT-FORMATS.md §4.7). kInvalidArgument
  // when index > 3, when the digest is not 48 bytes, or for RTMR0/1 without kForceAnyRegister
  // (RTMR0/1 hold the firmware's measurements, and any extra extend makes the CCEL replay disagree
  // with the quote forever). kNotFound when the register file is absent, kIoError when the kernel
  // refuses the write.
  Status extend_rtmr(unsigned index, std::span<const std::uint8_t> digest,
                     RtmrExtendPolicy policy = RtmrExtendPolicy::kApplicationRegistersOnly) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace ccfde::measure

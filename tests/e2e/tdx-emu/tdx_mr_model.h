// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: the TDX guest's measurement registers as Linux >= 6.16 shows them in sysfs
// (/sys/devices/virtual/misc/tdx_guest/measurements; drivers/virt/coco/tsm-mr.c and
// drivers/virt/coco/tdx-guest/tdx-guest.c, Documentation/ABI/testing/
// sysfs-devices-virtual-misc-tdx_guest), without FUSE: the same files, modes and read/write
// semantics, with TDG.MR.RTMR.EXTEND done in software. tdx_mr_fuse.h mounts it. Errors carry the
// errno the kernel would return (Status::sys_errno()), which the FUSE adapter hands back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/rtmr.h"

namespace ccfde::tdx_emu {

using RtmrValues = std::array<measure::TdxRegisterValue, 4>;

struct TdxMrFileInfo {
  measure::TdxRegister id;
  bool writable;  // RTMR0..3 (mode 0644); the others are read-only (0444)
};

// Every file of the measurements directory, in the kernel's order (rtmr0..3:sha384,
// mrtd:sha384, mrconfigid, mrowner, mrownerconfig). Names: measure::tdx_register_file_name.
std::span<const TdxMrFileInfo> tdx_mr_files() noexcept;

// The file called `name` (e.g. "rtmr3:sha384"), or nullptr.
const TdxMrFileInfo* find_tdx_mr_file(std::string_view name) noexcept;

class TdxMrModel {
 public:
  // Registers at launch: MRTD, MRCONFIGID and RTMR0..3 as given (the emulated quotes carry the
  // same); MROWNER and MROWNERCONFIG zero.
  TdxMrModel(const measure::TdxRegisterValue& mr_td, const measure::TdxRegisterValue& mr_config_id,
             const RtmrValues& rtmr);

  // open: EACCES when a read-only register is opened for writing (kernfs refuses it even for
  // root, who passes the mode check).
  static Status check_open(measure::TdxRegister reg, bool for_write);

  // read at `offset` (a sysfs binary attribute of 48 bytes): the current value's bytes from
  // `offset`, at most `size`; empty at or after byte 48.
  Bytes read(measure::TdxRegister reg, std::size_t offset, std::size_t size) const;

  // write at `offset`, as sysfs and tsm-mr handle it: EFBIG at offset >= 48; the count is
  // clipped to 48 - offset; nothing happens for 0 bytes; then anything but 48 bytes at offset 0
  // is EINVAL ("partial writes"). 48 bytes extend the RTMR: RTMR := SHA-384(RTMR || bytes), and
  // the result is 48 (so a longer write extends with its first 48 bytes and comes back short, as
  // on the kernel). EACCES for a read-only register, EIO if SHA-384 fails.
  Result<std::size_t> write(measure::TdxRegister reg, std::size_t offset,
                            std::span<const std::uint8_t> bytes);

  // RTMR0..3 now: what quotes generated from now on carry.
  const RtmrValues& rtmrs() const { return rtmr_; }

 private:
  const measure::TdxRegisterValue& value(measure::TdxRegister reg) const;

  measure::TdxRegisterValue mr_td_;
  measure::TdxRegisterValue mr_config_id_;
  RtmrValues rtmr_;
  measure::TdxRegisterValue zero_{};
};

}  // namespace ccfde::tdx_emu

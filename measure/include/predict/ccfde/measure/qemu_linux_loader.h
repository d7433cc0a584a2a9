// SPDX-License-Identifier: Apache-2.0
// The Linux kernel image as QEMU's x86 direct boot hands it to the firmware: QEMU writes the
// boot-protocol fields of the setup header (command line address, loader type, heap end, initrd
// address and size) before the firmware measures the image.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::measure {

// What QEMU's direct boot of a Linux kernel depends on.
struct QemuLinuxBoot {
  std::string_view cmdline;                  // -append
  std::optional<std::uint64_t> initrd_size;  // -initrd's size in bytes; nullopt without -initrd
  // The guest RAM below 4 GiB in bytes (x86ms->below_4g_mem_size): on QEMU's q35 machine the
  // RAM size up to 2816 MiB (0xB0000000), and 2 GiB for larger guests (the rest is above 4 GiB).
  std::uint64_t below_4g_memory = 0;
  // The machine class's ACPI data reservation: 0x28000 on the pc and q35 machines.
  std::uint32_t acpi_data_size = 0x28000;
};

// The kernel bytes the firmware reads from fw_cfg ("kernel" = setup + kernel blobs) for `kernel`
// (a bzImage) booted as `boot`, with the setup header patched as
// qemu/qemu hw/i386/x86-common.c (x86_load_linux) @ adc1a4a26a9e060c76f213e2b5bf275519844068
// does for a guest without SEV. Firmware that reads the unpatched "etc/boot/kernel" file (which
// that QEMU also provides) measures the kernel file itself instead.
// Errors: kTruncated (shorter than the setup header), kMalformed (no "HdrS" magic, a setup size
// beyond the file), kInvalidArgument (an initrd too large for the memory, an invalid "vga=" value,
// an initrd with a boot protocol before 2.00: QEMU refuses to start in those cases).
Result<std::vector<std::uint8_t>> qemu_patched_linux_kernel(std::span<const std::uint8_t> kernel,
                                                            const QemuLinuxBoot& boot);

}  // namespace ccfde::measure

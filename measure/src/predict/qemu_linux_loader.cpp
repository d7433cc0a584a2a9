// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/qemu_linux_loader.h"

#include <charconv>
#include <limits>
#include <string>

#include "ccfde/common/byte_reader.h"

namespace ccfde::measure {
namespace {

constexpr std::size_t kSetupHeaderEnd = 0x260;  // the last field QEMU reads or writes ends here
constexpr std::uint32_t kHdrSMagic = 0x53726448;
constexpr std::uint16_t kXlfCanBeLoadedAbove4g = 1U << 6;

void store_u16le(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
  bytes[offset] = static_cast<std::uint8_t>(value & 0xFF);
  bytes[offset + 1] = static_cast<std::uint8_t>((value >> 8) & 0xFF);
}

void store_u32le(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) {
    bytes[offset + i] = static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF);
  }
}

// The video mode QEMU stores for the first "vga=" in the command line: "normal", "ext", "ask",
// or a number in C notation (decimal, 0x hex, 0 octal) followed by a space or the end.
Result<std::optional<std::uint16_t>> video_mode(std::string_view cmdline) {
  const auto at = cmdline.find("vga=");
  if (at == std::string_view::npos) return std::optional<std::uint16_t>();
  std::string_view value = cmdline.substr(at + 4);
  if (value.starts_with("normal")) return std::optional<std::uint16_t>(0xFFFF);
  if (value.starts_with("ext")) return std::optional<std::uint16_t>(0xFFFE);
  if (value.starts_with("ask")) return std::optional<std::uint16_t>(0xFFFD);
  int base = 10;
  std::string_view digits = value;
  if (digits.starts_with("0x") || digits.starts_with("0X")) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  unsigned int mode = 0;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), mode, base);
  const bool ends_well = end == digits.data() + digits.size() || *end == ' ';
  if (error != std::errc() || !ends_well) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the command line's \"vga=\" value is not a number, normal, ext or ask "
                      "(QEMU refuses it)");
  }
  return std::optional<std::uint16_t>(static_cast<std::uint16_t>(mode));
}

}  // namespace

Result<std::vector<std::uint8_t>> qemu_patched_linux_kernel(std::span<const std::uint8_t> kernel,
                                                            const QemuLinuxBoot& boot) {
  if (kernel.size() < kSetupHeaderEnd) {
    return make_error(ErrorCode::kTruncated,
                      "kernel image: {} bytes, shorter than the x86 setup header ({} bytes)",
                      kernel.size(), kSetupHeaderEnd);
  }
  if (load_u32le(kernel, 0x202) != kHdrSMagic) {
    return make_error(ErrorCode::kMalformed,
                      "kernel image: no \"HdrS\" magic at offset 0x202 (not a Linux bzImage)");
  }
  std::vector<std::uint8_t> out(kernel.begin(), kernel.end());
  const std::uint16_t protocol = load_u16le(kernel, 0x206);
  const bool loaded_high = (kernel[0x211] & 0x01) != 0;

  // Addresses below 1 MiB (real_addr, cmdline_addr) are QEMU's fixed choices per protocol.
  const std::uint32_t cmdline_size = static_cast<std::uint32_t>((boot.cmdline.size() + 16) & ~15U);
  std::uint32_t real_addr = 0x90000;
  std::uint32_t cmdline_addr = 0x9a000 - cmdline_size;
  if (protocol >= 0x202 && loaded_high) {
    real_addr = 0x10000;
    cmdline_addr = 0x20000;
  }

  std::uint64_t initrd_max = 0x37ffffff;
  if (protocol >= 0x20c && (load_u16le(kernel, 0x236) & kXlfCanBeLoadedAbove4g) != 0) {
    initrd_max = std::numeric_limits<std::uint32_t>::max();
  } else if (protocol >= 0x203) {
    initrd_max = load_u32le(kernel, 0x22c);
  }
  if (boot.below_4g_memory <= boot.acpi_data_size) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the guest memory below 4 GiB ({} bytes) is not above the ACPI data size "
                      "({} bytes)",
                      boot.below_4g_memory, boot.acpi_data_size);
  }
  if (initrd_max >= boot.below_4g_memory - boot.acpi_data_size) {
    initrd_max = boot.below_4g_memory - boot.acpi_data_size - 1;
  }

  if (protocol >= 0x202) {
    store_u32le(out, 0x228, cmdline_addr);
  } else {
    store_u16le(out, 0x20, 0xA33F);
    store_u16le(out, 0x22, cmdline_addr - real_addr);
  }
  CCFDE_ASSIGN_OR_RETURN(const auto mode, video_mode(boot.cmdline));
  if (mode) store_u16le(out, 0x1fa, *mode);
  if (protocol >= 0x200) out[0x210] = 0xB0;  // loader type: QEMU
  if (protocol >= 0x201) {
    out[0x211] |= 0x80;  // CAN_USE_HEAP
    store_u16le(out, 0x224, cmdline_addr - real_addr - 0x200);
  }
  if (boot.initrd_size) {
    if (protocol < 0x200) {
      return make_error(ErrorCode::kInvalidArgument,
                        "kernel image: boot protocol {:#x} cannot load an initrd", protocol);
    }
    if (*boot.initrd_size >= initrd_max) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the initrd ({} bytes) does not fit below {:#x} (QEMU refuses it)",
                        *boot.initrd_size, initrd_max);
    }
    const auto initrd_addr =
        static_cast<std::uint32_t>((initrd_max - *boot.initrd_size) & ~4095ULL);
    store_u32le(out, 0x218, initrd_addr);
    store_u32le(out, 0x21c, static_cast<std::uint32_t>(*boot.initrd_size));
  }

  std::size_t setup_sectors = kernel[0x1f1];
  if (setup_sectors == 0) setup_sectors = 4;
  const std::size_t setup_size = (setup_sectors + 1) * 512;
  if (setup_size > kernel.size()) {
    return make_error(ErrorCode::kMalformed,
                      "kernel image: the setup ({} sectors, {} bytes) is larger than the image ({} "
                      "bytes)",
                      setup_sectors, setup_size, kernel.size());
  }
  // The patched header reaches the firmware only through the setup blob, which QEMU fills with
  // the patched header when the boot protocol is known (protocol > 0, always true past "HdrS").
  return out;
}

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/qemu_linux_loader.h"

#include <gtest/gtest.h>

#include "ccfde/common/byte_reader.h"

namespace ccfde::measure {
namespace {

// A bzImage setup header with boot protocol `protocol` (Documentation/arch/x86/boot.rst field
// offsets), loaded high, 3 setup sectors (4 with the boot sector: 2048 bytes), 8 KiB in all.
std::vector<std::uint8_t> bzimage(std::uint16_t protocol, std::uint16_t xloadflags = 0,
                                  std::uint32_t initrd_addr_max = 0x7fffffff) {
  std::vector<std::uint8_t> image(8192, 0);
  image[0x1f1] = 3;
  image[0x202] = 'H';
  image[0x203] = 'd';
  image[0x204] = 'r';
  image[0x205] = 'S';
  image[0x206] = static_cast<std::uint8_t>(protocol & 0xFF);
  image[0x207] = static_cast<std::uint8_t>(protocol >> 8);
  image[0x211] = 0x01;  // LOADED_HIGH
  for (std::size_t i = 0; i < 4; ++i) {
    image[0x22c + i] = static_cast<std::uint8_t>((initrd_addr_max >> (8 * i)) & 0xFF);
  }
  image[0x236] = static_cast<std::uint8_t>(xloadflags & 0xFF);
  image[0x237] = static_cast<std::uint8_t>(xloadflags >> 8);
  return image;
}

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(QemuLinuxLoader, RecentKernelWithInitrdAbove4gCapable) {
  const auto kernel = bzimage(0x20f, 0x7f);
  QemuLinuxBoot boot;
  boot.cmdline = "console=ttyS0 root=/dev/vda";
  boot.initrd_size = 10'000'000;
  boot.below_4g_memory = 1024 * kMiB;
  auto patched = qemu_patched_linux_kernel(kernel, boot);
  ASSERT_TRUE(patched.ok()) << patched.status().to_string();
  ASSERT_EQ(patched->size(), kernel.size());
  // hw/i386/x86-common.c: high and recent kernel: real_addr 0x10000, cmdline_addr 0x20000;
  // initrd_max = below_4g - acpi_data_size - 1 = 0x40000000 - 0x28000 - 1.
  EXPECT_EQ(load_u32le(*patched, 0x228), 0x20000U);
  EXPECT_EQ((*patched)[0x210], 0xB0);
  EXPECT_EQ((*patched)[0x211], 0x81);
  EXPECT_EQ(load_u16le(*patched, 0x224), 0x20000 - 0x10000 - 0x200);
  const std::uint64_t initrd_max = 0x40000000ULL - 0x28000 - 1;
  EXPECT_EQ(load_u32le(*patched, 0x218), (initrd_max - 10'000'000) & ~4095ULL);
  EXPECT_EQ(load_u32le(*patched, 0x21c), 10'000'000U);
  // Nothing else changes.
  for (std::size_t i = 0; i < kernel.size(); ++i) {
    const bool patched_field = (i >= 0x210 && i < 0x212) || (i >= 0x218 && i < 0x220) ||
                               (i >= 0x224 && i < 0x226) || (i >= 0x228 && i < 0x22c);
    if (!patched_field) {
      EXPECT_EQ((*patched)[i], kernel[i]) << "byte " << i;
    }
  }
}

TEST(QemuLinuxLoader, InitrdLimitFromTheHeaderBelowProtocol212) {
  const auto kernel = bzimage(0x20a, 0, 0x37ffffff);
  QemuLinuxBoot boot;
  boot.cmdline = "";
  boot.initrd_size = 4096;
  boot.below_4g_memory = 2048 * kMiB;
  auto patched = qemu_patched_linux_kernel(kernel, boot);
  ASSERT_TRUE(patched.ok()) << patched.status().to_string();
  EXPECT_EQ(load_u32le(*patched, 0x218), (0x37ffffffULL - 4096) & ~4095ULL);
}

TEST(QemuLinuxLoader, WithoutInitrdTheInitrdFieldsStay) {
  auto kernel = bzimage(0x20f, 0x7f);
  kernel[0x218] = 0xAA;
  QemuLinuxBoot boot;
  boot.cmdline = "quiet";
  boot.below_4g_memory = 512 * kMiB;
  auto patched = qemu_patched_linux_kernel(kernel, boot);
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)[0x218], 0xAA);
  EXPECT_EQ(load_u32le(*patched, 0x21c), 0U);
}

TEST(QemuLinuxLoader, VgaModes) {
  const auto kernel = bzimage(0x20f);
  QemuLinuxBoot boot;
  boot.below_4g_memory = 512 * kMiB;
  const std::pair<const char*, std::uint16_t> cases[] = {
      {"vga=normal", 0xFFFF}, {"a vga=ext b", 0xFFFE}, {"vga=ask", 0xFFFD},
      {"vga=791 quiet", 791}, {"vga=0x317", 0x317},    {"vga=017", 15}};
  for (const auto& [cmdline, mode] : cases) {
    boot.cmdline = cmdline;
    auto patched = qemu_patched_linux_kernel(kernel, boot);
    ASSERT_TRUE(patched.ok()) << cmdline;
    EXPECT_EQ(load_u16le(*patched, 0x1fa), mode) << cmdline;
  }
  for (const char* bad : {"vga=", "vga=12x", "vga=big"}) {
    boot.cmdline = bad;
    EXPECT_EQ(qemu_patched_linux_kernel(kernel, boot).status().code(), ErrorCode::kInvalidArgument)
        << bad;
  }
}

TEST(QemuLinuxLoader, RefusesWhatQemuRefuses) {
  QemuLinuxBoot boot;
  boot.below_4g_memory = 64 * kMiB;
  boot.initrd_size = 64 * kMiB;
  auto kernel = bzimage(0x20f, 0x7f);
  auto result = qemu_patched_linux_kernel(kernel, boot);
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("initrd"), std::string::npos);

  boot.initrd_size.reset();
  auto no_magic = kernel;
  no_magic[0x202] = 'X';
  EXPECT_EQ(qemu_patched_linux_kernel(no_magic, boot).status().code(), ErrorCode::kMalformed);

  const std::vector<std::uint8_t> short_image(kernel.begin(), kernel.begin() + 0x200);
  EXPECT_EQ(qemu_patched_linux_kernel(short_image, boot).status().code(), ErrorCode::kTruncated);

  auto big_setup = kernel;
  big_setup[0x1f1] = 200;  // 201 sectors > 8 KiB
  EXPECT_EQ(qemu_patched_linux_kernel(big_setup, boot).status().code(), ErrorCode::kMalformed);

  boot.below_4g_memory = 0x1000;
  EXPECT_EQ(qemu_patched_linux_kernel(kernel, boot).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccfde::measure

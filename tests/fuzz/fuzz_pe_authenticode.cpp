// SPDX-License-Identifier: Apache-2.0
// Fuzzes the PE/COFF walk of the Authenticode digest and QEMU's setup-header patch.
#include "ccfde/measure/pe_authenticode.h"
#include "ccfde/measure/qemu_linux_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  (void)authenticode_digest({data, size}, ccfde::DigestAlgorithm::kSha384);
  QemuLinuxBoot boot;
  boot.cmdline = "console=ttyS0 vga=0x317";
  boot.initrd_size = 4096;
  boot.below_4g_memory = std::uint64_t{1} << 30;
  (void)qemu_patched_linux_kernel({data, size}, boot);
  return 0;
}

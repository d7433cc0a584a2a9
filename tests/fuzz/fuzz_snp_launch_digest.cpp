// SPDX-License-Identifier: Apache-2.0
// Fuzzes the OVMF footer GUID table and SEV metadata walk, and the launch digest built from them.
#include <numeric>

#include "ccfde/measure/snp_launch_digest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  const std::span<const std::uint8_t> ovmf(data, size);
  auto parsed = parse_amd_sev_ovmf(ovmf);
  if (!parsed.ok()) return 0;
  // A valid image may declare sections of up to 4 GiB, hashed page by page: keep each run short.
  const std::uint64_t declared = std::accumulate(
      parsed->sections.begin(), parsed->sections.end(), std::uint64_t{0},
      [](std::uint64_t total, const SevMetadataSection& section) { return total + section.size; });
  if (declared > (std::uint64_t{1} << 20)) return 0;
  static constexpr std::uint8_t kKernel[] = {'M', 'Z'};
  SnpLaunchInputs inputs;
  inputs.ovmf = ovmf;
  inputs.ovmf_hash = ccfde::Bytes(48, 0);
  inputs.vcpus = 2;
  inputs.vcpu_signature = amd_cpu_signature(25, 1, 1);
  inputs.direct_boot = SnpDirectBoot{kKernel, std::nullopt, "console=ttyS0"};
  (void)snp_launch_digest(inputs);
  inputs.direct_boot.reset();
  (void)snp_launch_digest(inputs);
  return 0;
}

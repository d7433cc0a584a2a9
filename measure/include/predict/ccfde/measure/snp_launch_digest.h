// SPDX-License-Identifier: Apache-2.0
// The SEV-SNP launch digest (the attestation report's MEASUREMENT, SHA-384) of a QEMU launch of an
// OVMF AmdSev firmware with measured direct boot (QEMU -kernel/-initrd/-append, kernel-hashes=on),
// computed as virtee/sev-snp-measure computes it in its "snp" mode for QEMU
// (virtee/sev-snp-measure sevsnpmeasure/guest.py, gctx.py, ovmf.py, sev_hashes.py, vmsa.py
// @ 8f2b337e38bc83f87cd30f3253cdfe8e3e12cc3a).
//
// The PSP folds one PAGE_INFO per launched page into the digest (AMD SEV-SNP Firmware ABI
// Specification, doc 56860, SNP_LAUNCH_UPDATE and the PAGE_INFO structure), in this order:
//   1. the firmware, page by page, as NORMAL pages ending at 4 GiB;
//   2. the pages of the firmware's SEV metadata sections, in table order (SNP_SEC_MEM and SVSM_CAA
//      as ZERO pages, SNP_SECRETS as a SECRETS page, CPUID as a CPUID page, SNP_KERNEL_HASHES as a
//      NORMAL page holding QEMU's hashes table, or ZERO pages without a kernel);
//   3. one VMSA page per vCPU (the BSP's first, the APs' from the SEV-ES reset block).
// Not modelled: SVSM, SEV and SEV-ES launches, VMMs other than QEMU (EC2, GCE).
// docs/reference/MEASUREMENT-FORMATS.md §3.6 has the layouts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

// Section types of the OVMF SEV metadata (tianocore/edk2 OvmfPkg/ResetVector/X64/
// OvmfSevMetadata.asm, as listed by virtee/sev-snp-measure sevsnpmeasure/ovmf.py).
enum class SevSectionType : std::uint32_t {
  kSnpSecMem = 1,
  kSnpSecrets = 2,
  kCpuid = 3,
  kSvsmCaa = 4,
  kSnpKernelHashes = 0x10,
};

// One section of the SEV metadata: `size` bytes of guest memory at `gpa`.
struct SevMetadataSection {
  std::uint32_t gpa = 0;
  std::uint32_t size = 0;
  SevSectionType type = SevSectionType::kSnpSecMem;
};

// What the launch digest needs from an OVMF AmdSev image.
struct AmdSevOvmf {
  std::uint64_t gpa = 0;                          // where the image starts: 4 GiB - its size
  std::uint32_t ap_reset_eip = 0;                 // the SEV-ES reset block's AP reset vector
  std::optional<std::uint32_t> hashes_table_gpa;  // the SEV hashes table GUID entry, if any
  std::vector<SevMetadataSection> sections;       // in table order
};

// Parses the footer GUID table at the end of `ovmf` (a whole OVMF.fd, or its last pages: only the
// table, the metadata and the size matter for the parse) and the SEV metadata it points to.
// The image is untrusted: every size and offset is checked against it.
// Errors: kInvalidArgument when the image has no footer GUID table, no SEV-ES reset block or no
// SEV metadata (not an AmdSev/SEV build); kTruncated when an entry or the metadata runs past the
// table or the image; kMalformed for an inconsistent entry, a bad metadata signature, an unknown
// section type or a section ending above 4 GiB; kUnsupportedVersion for a metadata version other
// than 1. Messages name the offset.
Result<AmdSevOvmf> parse_amd_sev_ovmf(std::span<const std::uint8_t> ovmf);

// The "OVMF hash": the launch digest after the firmware's pages (step 1 above), which
// sev-snp-measure's --snp-ovmf-hash accepts in place of the image. kInvalidArgument when the size
// is not a non-zero multiple of 4096 or above 4 GiB; kCryptoError only if OpenSSL fails.
Result<Bytes> snp_ovmf_hash(std::span<const std::uint8_t> ovmf);

// The CPUID Fn0000_0001_EAX signature of an AMD family/model/stepping (AMD CPUID Specification
// #25481), the value QEMU gives the VMSA's RDX.
std::uint32_t amd_cpu_signature(std::uint32_t family, std::uint32_t model, std::uint32_t stepping);

// The signature of a QEMU CPU model name sev-snp-measure knows ("EPYC", "EPYC-v4", "EPYC-Rome",
// "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin" and their versions). kInvalidArgument names the known
// models for any other name.
Result<std::uint32_t> snp_vcpu_signature(std::string_view cpu_model);

// QEMU's SEV hashes table of a direct boot (qemu/qemu target/i386/sev.c, SevHashTable and
// PaddedSevHashTable): header GUID, length, then the SHA-256 entries of the command line (with its
// NUL; "\0" when empty), the initrd (of no bytes when there is none) and the kernel file; padded
// with zeros to 176 bytes. kCryptoError only if OpenSSL fails.
Result<Bytes> sev_hashes_table(std::span<const std::uint8_t> kernel,
                               std::optional<std::span<const std::uint8_t>> initrd,
                               std::string_view cmdline);

// The files of a measured direct boot.
struct SnpDirectBoot {
  std::span<const std::uint8_t> kernel;
  std::optional<std::span<const std::uint8_t>> initrd;
  std::string_view cmdline;
};

struct SnpLaunchInputs {
  // The firmware image. Always parsed (metadata, reset block); its pages are hashed unless
  // `ovmf_hash` is given.
  std::span<const std::uint8_t> ovmf;
  std::optional<Bytes> ovmf_hash;  // 48 bytes: the published snp_ovmf_hash of the firmware
  std::uint32_t vcpus = 1;
  std::uint32_t vcpu_signature = 0;
  std::uint64_t guest_features = 0x1;        // the VMSA's SEV_FEATURES (bit 0 SNPActive)
  std::optional<SnpDirectBoot> direct_boot;  // nullopt: no kernel hashes (zero pages)
};

// The launch digest (48 bytes) of `inputs`. Errors: those of parse_amd_sev_ovmf and snp_ovmf_hash;
// kInvalidArgument for vcpus 0, an ovmf_hash that is not 48 bytes, a direct boot with a firmware
// that has no SNP_KERNEL_HASHES section or no hashes table entry, or several vCPUs with an AP
// reset EIP of 0; kMalformed for a section that is not page-aligned, or a kernel-hashes section
// that does not hold the hashes table at the table's GPA. kCryptoError only if OpenSSL fails.
Result<Bytes> snp_launch_digest(const SnpLaunchInputs& inputs);

}  // namespace ccfde::measure

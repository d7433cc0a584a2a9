// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_launch_digest.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/digest.h"

namespace ccfde::measure {
namespace {

using Guid = std::array<std::uint8_t, 16>;

constexpr std::size_t kPageSize = 4096;
constexpr std::uint64_t kFourGiB = std::uint64_t{1} << 32;
constexpr std::size_t kLaunchDigestSize = 48;
// QEMU's q35 machine limit; a larger count is a typo, not a guest.
constexpr std::uint32_t kMaxVcpus = 4096;

// EFI GUID text -> its in-memory (mixed-endian) bytes, as the firmware and QEMU store it.
consteval Guid guid(const char (&text)[37]) {
  auto nibble = [](char c) -> std::uint8_t {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  auto byte_at = [&](std::size_t pos) -> std::uint8_t {
    return static_cast<std::uint8_t>((nibble(text[pos]) << 4) | nibble(text[pos + 1]));
  };
  // Text positions of the bytes in memory order: data1 and data2/data3 little-endian.
  constexpr std::array<std::size_t, 16> kPositions = {6,  4,  2,  0,  11, 9,  16, 14,
                                                      19, 21, 24, 26, 28, 30, 32, 34};
  Guid out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = byte_at(kPositions[i]);
  return out;
}

// virtee/sev-snp-measure sevsnpmeasure/ovmf.py (OVMF class) and sev_hashes.py (SevHashes class)
// @ 8f2b337e38bc83f87cd30f3253cdfe8e3e12cc3a; the same GUIDs as qemu/qemu target/i386/sev.c.
constexpr Guid kFooterTableGuid = guid("96b582de-1fb2-45f7-baea-a366c55a082d");
constexpr Guid kHashTableRvGuid = guid("7255371f-3a3b-4b04-927b-1da6efa8d454");
constexpr Guid kSevEsResetBlockGuid = guid("00f771de-1a7e-4fcb-890e-68c77e2fb44e");
constexpr Guid kSevMetadataGuid = guid("dc886566-984a-4798-a75e-5585a7bf67cc");
constexpr Guid kHashTableHeaderGuid = guid("9438d606-4f22-4cc9-b479-a793d411fd21");
constexpr Guid kKernelEntryGuid = guid("4de79437-abd2-427f-b835-d5b172d2045b");
constexpr Guid kInitrdEntryGuid = guid("44baf731-3a2f-4bd7-9af1-41e29169781d");
constexpr Guid kCmdlineEntryGuid = guid("97d02dd8-bd20-4c94-aa78-e7714d36ab2a");

// Footer table entry: data, then u16 size (of data and this header), then the GUID. The table
// ends 32 bytes before the end of the image (the reset vector follows it).
constexpr std::size_t kTableEntryHeaderSize = 2 + 16;
constexpr std::size_t kFooterEnd = 32;
// SEV metadata: "ASEV", u32 size, u32 version, u32 number of sections; then u32 gpa, u32 size,
// u32 type per section.
constexpr std::size_t kMetadataHeaderSize = 16;
constexpr std::size_t kMetadataSectionSize = 12;

// QEMU's table: GUID, u16 length, then three entries of GUID, u16 length, SHA-256.
constexpr std::size_t kHashEntrySize = 16 + 2 + 32;
constexpr std::size_t kHashTableSize = 16 + 2 + 3 * kHashEntrySize;                     // 168
constexpr std::size_t kPaddedHashTableSize = (kHashTableSize + 15) & ~std::size_t{15};  // 176

// PAGE_INFO PAGE_TYPE values (SEV-SNP Firmware ABI, SNP_LAUNCH_UPDATE).
enum class PageType : std::uint8_t {
  kNormal = 1,
  kVmsa = 2,
  kZero = 3,
  kUnmeasured = 4,
  kSecrets = 5,
  kCpuid = 6,
};
// The VMSA's GPA in PAGE_INFO: -1, page-aligned and cut to 52 bits (gctx.py, VMSA_GPA).
constexpr std::uint64_t kVmsaGpa = 0xFFFFFFFFF000;

void put_le(std::span<std::uint8_t> out, std::size_t offset, std::uint64_t value,
            std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    out[offset + i] = static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF);
  }
}

std::string guid_text(std::span<const std::uint8_t, 16> g) {
  return fmt::format("{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     load_u32le(g, 0), load_u16le(g, 4), load_u16le(g, 6), g[8], g[9], g[10], g[11],
                     g[12], g[13], g[14], g[15]);
}

struct TableEntry {
  Guid guid{};
  std::size_t data_offset = 0;  // in the image
  std::size_t data_size = 0;
};

Result<std::vector<TableEntry>> parse_footer_table(std::span<const std::uint8_t> image) {
  if (image.size() < kFooterEnd + kTableEntryHeaderSize) {
    return make_error(ErrorCode::kTruncated,
                      "OVMF image of {} bytes is too short for a footer GUID table (needs {})",
                      image.size(), kFooterEnd + kTableEntryHeaderSize);
  }
  const std::size_t footer = image.size() - kFooterEnd - kTableEntryHeaderSize;
  if (!std::equal(kFooterTableGuid.begin(), kFooterTableGuid.end(), image.data() + footer + 2)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF has no footer GUID table (no GUID {} at offset {}): not an OVMF "
                      "build with SEV support",
                      guid_text(kFooterTableGuid), footer + 2);
  }
  const std::size_t table_size = load_u16le(image, footer);
  if (table_size < kTableEntryHeaderSize || table_size - kTableEntryHeaderSize > footer) {
    return make_error(ErrorCode::kMalformed,
                      "OVMF footer GUID table: size {} at offset {} does not fit the image "
                      "(at least {}, at most {})",
                      table_size, footer, kTableEntryHeaderSize, footer + kTableEntryHeaderSize);
  }
  const std::size_t table_start = footer - (table_size - kTableEntryHeaderSize);
  std::vector<TableEntry> entries;
  // Entries are read from the end: each one's header is at the end of what is left.
  std::size_t end = footer;
  while (end - table_start >= kTableEntryHeaderSize) {
    const std::size_t header = end - kTableEntryHeaderSize;
    const std::size_t size = load_u16le(image, header);
    if (size < kTableEntryHeaderSize) {
      return make_error(ErrorCode::kMalformed,
                        "OVMF footer GUID table: entry at offset {} has size {}, less than its "
                        "{}-byte header",
                        header, size, kTableEntryHeaderSize);
    }
    if (size > end - table_start) {
      return make_error(ErrorCode::kTruncated,
                        "OVMF footer GUID table: entry at offset {} (size {}) runs past the table "
                        "start at offset {}",
                        header, size, table_start);
    }
    TableEntry entry;
    std::copy_n(image.data() + header + 2, entry.guid.size(), entry.guid.begin());
    entry.data_offset = end - size;
    entry.data_size = size - kTableEntryHeaderSize;
    entries.push_back(entry);
    end -= size;
  }
  return entries;
}

const TableEntry* find_entry(const std::vector<TableEntry>& entries, const Guid& wanted) {
  for (const auto& entry : entries) {
    if (entry.guid == wanted) return &entry;
  }
  return nullptr;
}

Result<std::uint32_t> entry_u32(std::span<const std::uint8_t> image, const TableEntry& entry,
                                std::string_view what) {
  if (entry.data_size < 4) {
    return make_error(ErrorCode::kTruncated,
                      "OVMF footer GUID table: {} entry at offset {} has {} data bytes, needs 4",
                      what, entry.data_offset, entry.data_size);
  }
  return load_u32le(image, entry.data_offset);
}

Result<SevSectionType> section_type(std::uint32_t value, std::size_t offset) {
  switch (value) {
    case static_cast<std::uint32_t>(SevSectionType::kSnpSecMem):
    case static_cast<std::uint32_t>(SevSectionType::kSnpSecrets):
    case static_cast<std::uint32_t>(SevSectionType::kCpuid):
    case static_cast<std::uint32_t>(SevSectionType::kSvsmCaa):
    case static_cast<std::uint32_t>(SevSectionType::kSnpKernelHashes):
      return static_cast<SevSectionType>(value);
    default:
      return make_error(ErrorCode::kMalformed,
                        "OVMF SEV metadata: section at offset {} has unknown type {:#x}", offset,
                        value);
  }
}

Result<std::vector<SevMetadataSection>> parse_sev_metadata(std::span<const std::uint8_t> image,
                                                           const TableEntry& entry) {
  CCFDE_ASSIGN_OR_RETURN(auto offset_from_end, entry_u32(image, entry, "SEV metadata"));
  if (offset_from_end > image.size() || offset_from_end < kMetadataHeaderSize) {
    return make_error(ErrorCode::kTruncated,
                      "OVMF SEV metadata: offset {} from the end does not leave its {}-byte "
                      "header inside the {}-byte image",
                      offset_from_end, kMetadataHeaderSize, image.size());
  }
  const std::size_t start = image.size() - offset_from_end;
  if (as_chars(image.subspan(start, 4)) != "ASEV") {
    return make_error(ErrorCode::kMalformed,
                      "OVMF SEV metadata at offset {}: signature is not \"ASEV\"", start);
  }
  const std::size_t size = load_u32le(image, start + 4);
  const std::uint32_t version = load_u32le(image, start + 8);
  const std::size_t count = load_u32le(image, start + 12);
  if (version != 1) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "OVMF SEV metadata at offset {}: version {}, only 1 is known", start,
                      version);
  }
  if (size < kMetadataHeaderSize || size > offset_from_end) {
    return make_error(ErrorCode::kTruncated,
                      "OVMF SEV metadata at offset {}: size {} runs past the image end", start,
                      size);
  }
  if (count > (size - kMetadataHeaderSize) / kMetadataSectionSize) {
    return make_error(ErrorCode::kTruncated,
                      "OVMF SEV metadata at offset {}: {} sections do not fit its {} bytes", start,
                      count, size);
  }
  std::vector<SevMetadataSection> sections;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t at = start + kMetadataHeaderSize + i * kMetadataSectionSize;
    SevMetadataSection section;
    section.gpa = load_u32le(image, at);
    section.size = load_u32le(image, at + 4);
    CCFDE_ASSIGN_OR_RETURN(section.type, section_type(load_u32le(image, at + 8), at));
    if (std::uint64_t{section.gpa} + section.size > kFourGiB) {
      return make_error(ErrorCode::kMalformed,
                        "OVMF SEV metadata: section at offset {} (GPA {:#x}, size {:#x}) ends "
                        "above 4 GiB",
                        at, section.gpa, section.size);
    }
    sections.push_back(section);
  }
  return sections;
}

// The launch digest being built: each update hashes a PAGE_INFO into it.
class LaunchDigest {
 public:
  explicit LaunchDigest(Bytes seed) : digest_(std::move(seed)) {}

  // PAGE_INFO (SEV-SNP Firmware ABI, doc 56860, SNP_LAUNCH_UPDATE): DIGEST_CUR (48), CONTENTS
  // (48), LENGTH = 0x70 (u16), PAGE_TYPE (u8), IMI_PAGE (u8), VMPL3/2/1_PERMS (u8 each), a
  // reserved byte, GPA (u64).
  Status update(PageType type, std::uint64_t gpa, std::span<const std::uint8_t> contents) {
    std::array<std::uint8_t, 0x70> page_info{};
    std::copy(digest_.begin(), digest_.end(), page_info.begin());
    std::copy(contents.begin(), contents.end(), page_info.begin() + kLaunchDigestSize);
    put_le(page_info, 96, page_info.size(), 2);
    page_info[98] = static_cast<std::uint8_t>(type);
    put_le(page_info, 104, gpa, 8);
    CCFDE_ASSIGN_OR_RETURN(digest_, digest(DigestAlgorithm::kSha384, page_info));
    return Status::ok_status();
  }

  Status update_normal(std::uint64_t gpa, std::span<const std::uint8_t> data) {
    for (std::size_t offset = 0; offset < data.size(); offset += kPageSize) {
      CCFDE_ASSIGN_OR_RETURN(auto page_digest,
                             digest(DigestAlgorithm::kSha384, data.subspan(offset, kPageSize)));
      CCFDE_RETURN_IF_ERROR(update(PageType::kNormal, gpa + offset, page_digest));
    }
    return Status::ok_status();
  }

  Status update_zero(std::uint64_t gpa, std::uint64_t size) {
    static constexpr std::array<std::uint8_t, kLaunchDigestSize> kNoContents{};
    for (std::uint64_t offset = 0; offset < size; offset += kPageSize) {
      CCFDE_RETURN_IF_ERROR(update(PageType::kZero, gpa + offset, kNoContents));
    }
    return Status::ok_status();
  }

  Status update_empty(PageType type, std::uint64_t gpa) {
    static constexpr std::array<std::uint8_t, kLaunchDigestSize> kNoContents{};
    return update(type, gpa, kNoContents);
  }

  const Bytes& value() const { return digest_; }

 private:
  Bytes digest_;
};

// The initial VMSA QEMU gives a vCPU of an SNP guest that starts at `eip` (vmsa.py, build_save_area
// for QEMU; field offsets of the SEV-ES save area, AMD APM vol. 2 table B-4).
Bytes vmsa_page(std::uint32_t eip, std::uint32_t vcpu_signature, std::uint64_t guest_features) {
  Bytes page(kPageSize, 0);
  // VMCB segment: u16 selector, u16 attributes, u32 limit, u64 base.
  auto segment = [&page](std::size_t offset, std::uint16_t selector, std::uint16_t attributes,
                         std::uint64_t base) {
    put_le(page, offset, selector, 2);
    put_le(page, offset + 2, attributes, 2);
    put_le(page, offset + 4, 0xFFFF, 4);
    put_le(page, offset + 8, base, 8);
  };
  segment(0x000, 0, 0x93, 0);                       // ES
  segment(0x010, 0xF000, 0x9B, eip & 0xFFFF0000U);  // CS
  segment(0x020, 0, 0x93, 0);                       // SS
  segment(0x030, 0, 0x93, 0);                       // DS
  segment(0x040, 0, 0x93, 0);                       // FS
  segment(0x050, 0, 0x93, 0);                       // GS
  segment(0x060, 0, 0, 0);                          // GDTR
  segment(0x070, 0, 0x82, 0);                       // LDTR
  segment(0x080, 0, 0, 0);                          // IDTR
  segment(0x090, 0, 0x8B, 0);                       // TR
  put_le(page, 0x0D0, 0x1000, 8);                   // EFER: SVME (KVM sets it)
  put_le(page, 0x148, 0x40, 8);                     // CR4: MCE (KVM sets it)
  put_le(page, 0x158, 0x10, 8);                     // CR0
  put_le(page, 0x160, 0x400, 8);                    // DR7
  put_le(page, 0x168, 0xFFFF0FF0, 8);               // DR6
  put_le(page, 0x170, 0x2, 8);                      // RFLAGS
  put_le(page, 0x178, eip & 0xFFFFU, 8);            // RIP
  put_le(page, 0x268, 0x0007040600070406, 8);       // G_PAT (AMD APM vol. 2 §A.3)
  put_le(page, 0x310, vcpu_signature, 8);           // RDX: the CPUID signature
  put_le(page, 0x3B0, guest_features, 8);           // SEV_FEATURES
  put_le(page, 0x3E8, 0x1, 8);                      // XCR0
  put_le(page, 0x408, 0x1F80, 4);                   // MXCSR
  put_le(page, 0x410, 0x37F, 2);                    // x87 FCW
  return page;
}

Status check_page_aligned(const SevMetadataSection& section, bool check_size) {
  if (section.gpa % kPageSize != 0 || (check_size && section.size % kPageSize != 0)) {
    return make_error(ErrorCode::kMalformed,
                      "OVMF SEV metadata: section of type {:#x} at GPA {:#x} (size {:#x}) is not "
                      "page-aligned",
                      static_cast<std::uint32_t>(section.type), section.gpa, section.size);
  }
  return Status::ok_status();
}

Status update_kernel_hashes(LaunchDigest& launch, const AmdSevOvmf& ovmf,
                            const SevMetadataSection& section,
                            const std::optional<SnpDirectBoot>& direct_boot) {
  CCFDE_RETURN_IF_ERROR(check_page_aligned(section, true));
  if (!direct_boot) return launch.update_zero(section.gpa, section.size);
  if (!ovmf.hashes_table_gpa) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF has an SNP_KERNEL_HASHES section but no SEV hashes table entry ({})",
                      guid_text(kHashTableRvGuid));
  }
  const std::uint64_t table_gpa = *ovmf.hashes_table_gpa;
  if (table_gpa < section.gpa ||
      table_gpa - section.gpa + kPaddedHashTableSize > std::uint64_t{section.size}) {
    return make_error(ErrorCode::kMalformed,
                      "OVMF SNP_KERNEL_HASHES section at GPA {:#x} (size {:#x}) does not hold the "
                      "{}-byte hashes table at GPA {:#x}",
                      section.gpa, section.size, kPaddedHashTableSize, table_gpa);
  }
  CCFDE_ASSIGN_OR_RETURN(
      auto table, sev_hashes_table(direct_boot->kernel, direct_boot->initrd, direct_boot->cmdline));
  // The section's pages one at a time, not the section in memory: its size comes from the image.
  const std::uint64_t table_offset = table_gpa - section.gpa;
  CCFDE_ASSIGN_OR_RETURN(auto zero_page_digest,
                         digest(DigestAlgorithm::kSha384, Bytes(kPageSize, 0)));
  for (std::uint64_t offset = 0; offset < section.size; offset += kPageSize) {
    const std::uint64_t begin = std::max(offset, table_offset);
    const std::uint64_t end = std::min(offset + kPageSize, table_offset + table.size());
    if (begin >= end) {
      CCFDE_RETURN_IF_ERROR(
          launch.update(PageType::kNormal, section.gpa + offset, zero_page_digest));
      continue;
    }
    Bytes page(kPageSize, 0);
    std::copy(table.data() + (begin - table_offset), table.data() + (end - table_offset),
              page.data() + (begin - offset));
    CCFDE_RETURN_IF_ERROR(launch.update_normal(section.gpa + offset, page));
  }
  return Status::ok_status();
}

Status update_section(LaunchDigest& launch, const AmdSevOvmf& ovmf,
                      const SevMetadataSection& section,
                      const std::optional<SnpDirectBoot>& direct_boot) {
  switch (section.type) {
    case SevSectionType::kSnpSecMem:
    case SevSectionType::kSvsmCaa:
      CCFDE_RETURN_IF_ERROR(check_page_aligned(section, true));
      return launch.update_zero(section.gpa, section.size);
    case SevSectionType::kSnpSecrets:
      CCFDE_RETURN_IF_ERROR(check_page_aligned(section, false));
      return launch.update_empty(PageType::kSecrets, section.gpa);
    case SevSectionType::kCpuid:
      CCFDE_RETURN_IF_ERROR(check_page_aligned(section, false));
      return launch.update_empty(PageType::kCpuid, section.gpa);
    case SevSectionType::kSnpKernelHashes:
      return update_kernel_hashes(launch, ovmf, section, direct_boot);
  }
  return make_error(ErrorCode::kInternal, "unhandled SEV section type");
}

struct NamedCpu {
  std::string_view name;
  std::uint32_t family;
  std::uint32_t model;
  std::uint32_t stepping;
};

// The CPU models of QEMU's builtin_x86_defs that sev-snp-measure lists
// (sevsnpmeasure/vcpu_types.py, CPU_SIGS).
constexpr std::array<NamedCpu, 16> kCpuModels = {{
    {"EPYC", 23, 1, 2},
    {"EPYC-v1", 23, 1, 2},
    {"EPYC-v2", 23, 1, 2},
    {"EPYC-IBPB", 23, 1, 2},
    {"EPYC-v3", 23, 1, 2},
    {"EPYC-v4", 23, 1, 2},
    {"EPYC-Rome", 23, 49, 0},
    {"EPYC-Rome-v1", 23, 49, 0},
    {"EPYC-Rome-v2", 23, 49, 0},
    {"EPYC-Rome-v3", 23, 49, 0},
    {"EPYC-Milan", 25, 1, 1},
    {"EPYC-Milan-v1", 25, 1, 1},
    {"EPYC-Milan-v2", 25, 1, 1},
    {"EPYC-Genoa", 25, 17, 0},
    {"EPYC-Genoa-v1", 25, 17, 0},
    {"EPYC-Turin", 26, 0, 0},
}};

}  // namespace

Result<AmdSevOvmf> parse_amd_sev_ovmf(std::span<const std::uint8_t> ovmf) {
  if (ovmf.size() > kFourGiB) {
    return make_error(ErrorCode::kInvalidArgument, "OVMF image of {} bytes is larger than 4 GiB",
                      ovmf.size());
  }
  CCFDE_ASSIGN_OR_RETURN(auto entries, parse_footer_table(ovmf));
  AmdSevOvmf result;
  result.gpa = kFourGiB - ovmf.size();
  const TableEntry* reset_block = find_entry(entries, kSevEsResetBlockGuid);
  if (reset_block == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF has no SEV-ES reset block (GUID {}) in its footer table: not a build "
                      "with SEV support",
                      guid_text(kSevEsResetBlockGuid));
  }
  CCFDE_ASSIGN_OR_RETURN(result.ap_reset_eip, entry_u32(ovmf, *reset_block, "SEV-ES reset block"));
  if (const TableEntry* hashes = find_entry(entries, kHashTableRvGuid); hashes != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(result.hashes_table_gpa, entry_u32(ovmf, *hashes, "SEV hashes table"));
  }
  const TableEntry* metadata = find_entry(entries, kSevMetadataGuid);
  if (metadata == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF has no SEV metadata (GUID {}) in its footer table: not an AmdSev build",
                      guid_text(kSevMetadataGuid));
  }
  CCFDE_ASSIGN_OR_RETURN(result.sections, parse_sev_metadata(ovmf, *metadata));
  return result;
}

Result<Bytes> snp_ovmf_hash(std::span<const std::uint8_t> ovmf) {
  if (ovmf.empty() || ovmf.size() % kPageSize != 0 || ovmf.size() > kFourGiB) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF image of {} bytes: its size must be a non-zero multiple of {} up to "
                      "4 GiB",
                      ovmf.size(), kPageSize);
  }
  LaunchDigest launch(Bytes(kLaunchDigestSize, 0));
  CCFDE_RETURN_IF_ERROR(launch.update_normal(kFourGiB - ovmf.size(), ovmf));
  return launch.value();
}

std::uint32_t amd_cpu_signature(std::uint32_t family, std::uint32_t model, std::uint32_t stepping) {
  const std::uint32_t family_low = family > 0xF ? 0xF : family;
  const std::uint32_t family_high = family > 0xF ? (family - 0xF) & 0xFF : 0;
  return (family_high << 20) | (((model >> 4) & 0xF) << 16) | (family_low << 8) |
         ((model & 0xF) << 4) | (stepping & 0xF);
}

Result<std::uint32_t> snp_vcpu_signature(std::string_view cpu_model) {
  for (const auto& cpu : kCpuModels) {
    if (cpu.name == cpu_model) return amd_cpu_signature(cpu.family, cpu.model, cpu.stepping);
  }
  std::string known;
  for (const auto& cpu : kCpuModels) known += (known.empty() ? "" : ", ") + std::string(cpu.name);
  return make_error(ErrorCode::kInvalidArgument, "unknown vCPU type \"{}\" (known: {})",
                    escape_nonprintable(cpu_model), known);
}

Result<Bytes> sev_hashes_table(std::span<const std::uint8_t> kernel,
                               std::optional<std::span<const std::uint8_t>> initrd,
                               std::string_view cmdline) {
  std::string cmdline_with_nul(cmdline);
  cmdline_with_nul.push_back('\0');
  CCFDE_ASSIGN_OR_RETURN(auto cmdline_hash,
                         digest(DigestAlgorithm::kSha256, as_bytes(cmdline_with_nul)));
  CCFDE_ASSIGN_OR_RETURN(
      auto initrd_hash,
      digest(DigestAlgorithm::kSha256, initrd.value_or(std::span<const std::uint8_t>())));
  CCFDE_ASSIGN_OR_RETURN(auto kernel_hash, digest(DigestAlgorithm::kSha256, kernel));

  Bytes table(kPaddedHashTableSize, 0);
  std::size_t at = 0;
  auto put_header = [&table, &at](const Guid& g, std::size_t length) {
    std::copy(g.begin(), g.end(), table.data() + at);
    put_le(table, at + 16, length, 2);
    at += 18;
  };
  put_header(kHashTableHeaderGuid, kHashTableSize);
  for (const auto& [entry_guid, hash] :
       {std::pair{&kCmdlineEntryGuid, &cmdline_hash}, std::pair{&kInitrdEntryGuid, &initrd_hash},
        std::pair{&kKernelEntryGuid, &kernel_hash}}) {
    put_header(*entry_guid, kHashEntrySize);
    std::copy(hash->begin(), hash->end(), table.data() + at);
    at += hash->size();
  }
  return table;
}

Result<Bytes> snp_launch_digest(const SnpLaunchInputs& inputs) {
  if (inputs.vcpus == 0 || inputs.vcpus > kMaxVcpus) {
    return make_error(ErrorCode::kInvalidArgument, "vCPU count {} is outside 1..{}", inputs.vcpus,
                      kMaxVcpus);
  }
  CCFDE_ASSIGN_OR_RETURN(auto ovmf, parse_amd_sev_ovmf(inputs.ovmf));
  if (inputs.vcpus > 1 && ovmf.ap_reset_eip == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "OVMF SEV-ES reset block gives AP reset EIP 0: {} vCPUs cannot start",
                      inputs.vcpus);
  }
  if (inputs.direct_boot &&
      std::none_of(ovmf.sections.begin(), ovmf.sections.end(), [](const auto& section) {
        return section.type == SevSectionType::kSnpKernelHashes;
      })) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a kernel is given but the OVMF SEV metadata has no SNP_KERNEL_HASHES "
                      "section: the firmware does not measure a direct boot (use an AmdSev build)");
  }

  Bytes seed;
  if (inputs.ovmf_hash) {
    if (inputs.ovmf_hash->size() != kLaunchDigestSize) {
      return make_error(ErrorCode::kInvalidArgument, "OVMF hash has {} bytes, must have {}",
                        inputs.ovmf_hash->size(), kLaunchDigestSize);
    }
    seed = *inputs.ovmf_hash;
  } else {
    CCFDE_ASSIGN_OR_RETURN(seed, snp_ovmf_hash(inputs.ovmf));
  }
  LaunchDigest launch(std::move(seed));
  for (const auto& section : ovmf.sections) {
    CCFDE_RETURN_IF_ERROR(update_section(launch, ovmf, section, inputs.direct_boot));
  }

  constexpr std::uint32_t kBspResetEip = 0xFFFFFFF0;
  CCFDE_ASSIGN_OR_RETURN(auto bsp_digest, digest(DigestAlgorithm::kSha384,
                                                 vmsa_page(kBspResetEip, inputs.vcpu_signature,
                                                           inputs.guest_features)));
  CCFDE_RETURN_IF_ERROR(launch.update(PageType::kVmsa, kVmsaGpa, bsp_digest));
  if (inputs.vcpus > 1) {
    CCFDE_ASSIGN_OR_RETURN(
        auto ap_digest,
        digest(DigestAlgorithm::kSha384,
               vmsa_page(ovmf.ap_reset_eip, inputs.vcpu_signature, inputs.guest_features)));
    for (std::uint32_t i = 1; i < inputs.vcpus; ++i) {
      CCFDE_RETURN_IF_ERROR(launch.update(PageType::kVmsa, kVmsaGpa, ap_digest));
    }
  }
  return launch.value();
}

}  // namespace ccfde::measure

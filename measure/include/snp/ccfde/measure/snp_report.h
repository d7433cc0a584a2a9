// SPDX-License-Identifier: Apache-2.0
// AMD SEV-SNP ATTESTATION_REPORT (SNP ABI spec 56860, docs/reference/MEASUREMENT-FORMATS.md §3.1,
// §3.2). The GHCB certificate table that comes with it (same document, §3.5) is in
// snp_cert_table.h.
//
// The parser is a pure function over untrusted bytes. Reserved areas: a report of a known version
// whose reserved (MBZ) bytes, POLICY bits 63:26, SIGNER_INFO bits 31:5 or signature padding are not
// zero is rejected with kMalformed (the firmware always zeroes them, and the signed region would
// otherwise carry data no field exposes). PLATFORM_INFO bits that the doc lists as "reserved" (not
// MBZ) are kept in `unknown_bits` and reported, not rejected.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

inline constexpr std::size_t kSnpReportSize = 0x4A0;
// The signature covers [0, kSnpSignedSize).
inline constexpr std::size_t kSnpSignedSize = 0x2A0;
inline constexpr std::uint32_t kSnpSignatureAlgoEcdsaP384Sha384 = 1;

// The AMD product line a report or VCEK belongs to.
enum class SnpProduct { kUnknown, kMilan, kGenoa, kTurin };

// "Milan", "Genoa", "Turin" or "unknown" (the KDS product names).
std::string_view snp_product_name(SnpProduct product) noexcept;

// The product of CPUID family/model: family 0x19 models 0x00-0x0F Milan, 0x10-0x1F and 0xA0-0xAF
// Genoa; family 0x1A models 0x00-0x1F Turin; anything else kUnknown.
SnpProduct snp_product_from_cpuid(std::uint8_t family, std::uint8_t model) noexcept;

// The byte layout of a TCB_VERSION (docs/reference/MEASUREMENT-FORMATS.md §3.2).
enum class SnpTcbLayout {
  kMilanGenoa,  // byte0 BOOT_LOADER, byte1 TEE, byte6 SNP, byte7 MICROCODE
  kTurin,       // byte0 FMC, byte1 BOOT_LOADER, byte2 TEE, byte3 SNP, byte7 MICROCODE
};

// The TCB layout of a CPU family: Turin layout from family 0x1A on, Milan/Genoa layout before.
SnpTcbLayout snp_tcb_layout_for_family(std::uint8_t family) noexcept;

// The security version numbers of one TCB. `fmc` is set only in the Turin layout.
struct SnpTcbParts {
  std::optional<std::uint8_t> fmc;
  std::uint8_t bootloader = 0;
  std::uint8_t tee = 0;
  std::uint8_t snp = 0;
  std::uint8_t microcode = 0;

  bool operator==(const SnpTcbParts&) const = default;
};

// A TCB_VERSION: the raw u64 as stored and its decoded components.
struct SnpTcb {
  std::uint64_t raw = 0;
  SnpTcbLayout layout = SnpTcbLayout::kMilanGenoa;
  SnpTcbParts parts;

  bool operator==(const SnpTcb&) const = default;
};

// Decodes `raw` with `layout` (reserved bytes stay in `raw` only).
SnpTcb decode_snp_tcb(std::uint64_t raw, SnpTcbLayout layout) noexcept;

// Encodes `parts` with `layout` (reserved bytes zero). kInvalidArgument if `parts.fmc` is set for
// the Milan/Genoa layout or missing for the Turin layout.
Result<SnpTcb> encode_snp_tcb(const SnpTcbParts& parts, SnpTcbLayout layout);

// POLICY (docs/reference/MEASUREMENT-FORMATS.md §3.2, go-sev-guest ParseSnpPolicy).
struct SnpPolicy {
  std::uint64_t raw = 0;
  std::uint8_t abi_minor = 0;
  std::uint8_t abi_major = 0;
  bool smt_allowed = false;
  bool migrate_ma = false;
  bool debug = false;
  bool single_socket = false;
  bool cxl_allow = false;
  bool mem_aes_256_xts = false;
  bool rapl_dis = false;
  bool ciphertext_hiding = false;
  bool page_swap_disable = false;

  bool operator==(const SnpPolicy&) const = default;
};

// PLATFORM_INFO (docs/reference/MEASUREMENT-FORMATS.md §3.2).
struct SnpPlatformInfo {
  std::uint64_t raw = 0;
  bool smt_en = false;
  bool tsme_en = false;
  bool ecc_en = false;
  bool rapl_dis = false;
  bool ciphertext_hiding_en = false;
  bool alias_check_complete = false;
  bool tio_en = false;
  std::uint64_t unknown_bits = 0;  // bits the doc calls reserved (6, 8..63)

  bool operator==(const SnpPlatformInfo&) const = default;
};

// SIGNER_INFO bits 4:2.
enum class SnpSigningKey : std::uint8_t { kVcek = 0, kVlek = 1, kNone = 7 };
// "vcek", "vlek", "none".
std::string_view snp_signing_key_name(SnpSigningKey key) noexcept;

// SIGNER_INFO / KEY_INFO.
struct SnpSignerInfo {
  std::uint32_t raw = 0;
  bool author_key_en = false;
  bool mask_chip_key = false;
  SnpSigningKey signing_key = SnpSigningKey::kVcek;

  bool operator==(const SnpSignerInfo&) const = default;
};

struct SnpFirmwareVersion {
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  std::uint8_t build = 0;

  bool operator==(const SnpFirmwareVersion&) const = default;
};

struct SnpCpuid {
  std::uint8_t family = 0;
  std::uint8_t model = 0;
  std::uint8_t stepping = 0;

  bool operator==(const SnpCpuid&) const = default;
};

// Every field of an ATTESTATION_REPORT, in layout order.
struct SnpReport {
  std::uint32_t version = 0;
  std::uint32_t guest_svn = 0;
  SnpPolicy policy;
  std::array<std::uint8_t, 16> family_id{};
  std::array<std::uint8_t, 16> image_id{};
  std::uint32_t vmpl = 0;
  std::uint32_t signature_algo = 0;
  SnpTcb current_tcb;
  SnpPlatformInfo platform_info;
  SnpSignerInfo signer_info;
  std::array<std::uint8_t, 64> report_data{};
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
  std::array<std::uint8_t, 48> id_key_digest{};
  std::array<std::uint8_t, 48> author_key_digest{};
  std::array<std::uint8_t, 32> report_id{};
  std::array<std::uint8_t, 32> report_id_ma{};
  SnpTcb reported_tcb;
  std::optional<SnpCpuid> cpuid;  // version 3 and later
  std::array<std::uint8_t, 64> chip_id{};
  SnpTcb committed_tcb;
  SnpFirmwareVersion current_version;
  SnpFirmwareVersion committed_version;
  SnpTcb launch_tcb;
  std::optional<std::uint64_t> launch_mit_vector;   // version 5 and later
  std::optional<std::uint64_t> current_mit_vector;  // version 5 and later
  // r and s as stored: little-endian, zero-extended to 72 bytes (bytes 48..71 are zero).
  std::array<std::uint8_t, 72> signature_r{};
  std::array<std::uint8_t, 72> signature_s{};

  // Derived: the product from CPUID (kUnknown for version 2) and the TCB layout used to decode.
  SnpProduct product = SnpProduct::kUnknown;
  SnpTcbLayout tcb_layout = SnpTcbLayout::kMilanGenoa;

  bool operator==(const SnpReport&) const = default;
};

// Parses a 1184-byte ATTESTATION_REPORT of version 2, 3, 4 or 5. TCB values are decoded with the
// Turin layout when the CPUID family (version 3+) is 0x1A or later, else (and always for version 2)
// with the Milan/Genoa layout.
// Errors: kTruncated (fewer than 1184 bytes), kMalformed (more than 1184 bytes; a non-zero MBZ
// area, POLICY bit 17 clear, POLICY bits 63:26 or SIGNER_INFO bits 31:5 set, CPUID bytes in a
// version-2 report; the message names field and offset), kUnsupportedVersion (VERSION not 2..5),
// kUnsupportedAlgorithm (SIGNATURE_ALGO not 1, SIGNING_KEY not 0, 1 or 7).
Result<SnpReport> parse_snp_report(std::span<const std::uint8_t> bytes);

// The 1184 bytes of `report` (reserved areas zero). TCBs are written from their `raw` values.
// Inverse of parse_snp_report for every report it accepts.
Bytes serialize_snp_report(const SnpReport& report);

// A cheap type probe for the CLI: exactly 1184 bytes, VERSION 2..5, SIGNATURE_ALGO 1, VMPL <= 3 and
// POLICY bit 17 set. A true result does not mean the report parses.
bool looks_like_snp_report(std::span<const std::uint8_t> bytes) noexcept;

// Every field, byte fields as lowercase hex, TCBs with raw hex and decoded components, the
// signature r/s both as stored (little-endian) and as big-endian integers.
nlohmann::json to_json(const SnpReport& report);
nlohmann::json to_json(const SnpTcb& tcb);

}  // namespace ccfde::measure

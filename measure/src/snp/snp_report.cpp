// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_report.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "ccfde/common/byte_reader.h"

namespace ccfde::measure {
namespace {

// Offsets of the ATTESTATION_REPORT (docs/reference/MEASUREMENT-FORMATS.md §3.1).
constexpr std::size_t kOffVersion = 0x000;
constexpr std::size_t kOffGuestSvn = 0x004;
constexpr std::size_t kOffPolicy = 0x008;
constexpr std::size_t kOffFamilyId = 0x010;
constexpr std::size_t kOffImageId = 0x020;
constexpr std::size_t kOffVmpl = 0x030;
constexpr std::size_t kOffSignatureAlgo = 0x034;
constexpr std::size_t kOffCurrentTcb = 0x038;
constexpr std::size_t kOffPlatformInfo = 0x040;
constexpr std::size_t kOffSignerInfo = 0x048;
constexpr std::size_t kOffReserved0 = 0x04C;
constexpr std::size_t kOffReportData = 0x050;
constexpr std::size_t kOffMeasurement = 0x090;
constexpr std::size_t kOffHostData = 0x0C0;
constexpr std::size_t kOffIdKeyDigest = 0x0E0;
constexpr std::size_t kOffAuthorKeyDigest = 0x110;
constexpr std::size_t kOffReportId = 0x140;
constexpr std::size_t kOffReportIdMa = 0x160;
constexpr std::size_t kOffReportedTcb = 0x180;
constexpr std::size_t kOffCpuidFamily = 0x188;
constexpr std::size_t kOffCpuidModel = 0x189;
constexpr std::size_t kOffCpuidStep = 0x18A;
constexpr std::size_t kOffReserved1 = 0x18B;
constexpr std::size_t kOffChipId = 0x1A0;
constexpr std::size_t kOffCommittedTcb = 0x1E0;
constexpr std::size_t kOffCurrentBuild = 0x1E8;
constexpr std::size_t kOffCurrentMinor = 0x1E9;
constexpr std::size_t kOffCurrentMajor = 0x1EA;
constexpr std::size_t kOffReserved2 = 0x1EB;
constexpr std::size_t kOffCommittedBuild = 0x1EC;
constexpr std::size_t kOffCommittedMinor = 0x1ED;
constexpr std::size_t kOffCommittedMajor = 0x1EE;
constexpr std::size_t kOffReserved3 = 0x1EF;
constexpr std::size_t kOffLaunchTcb = 0x1F0;
constexpr std::size_t kOffLaunchMitVector = 0x1F8;
constexpr std::size_t kOffCurrentMitVector = 0x200;
constexpr std::size_t kOffReserved4V5 = 0x208;
constexpr std::size_t kOffSignatureR = 0x2A0;
constexpr std::size_t kOffSignatureS = 0x2E8;
constexpr std::size_t kOffSignatureRest = 0x330;
constexpr std::size_t kSignatureComponentSize = 72;
constexpr std::size_t kP384ScalarSize = 48;

constexpr std::uint64_t kPolicyReservedOne = 1ULL << 17;
constexpr std::uint64_t kPolicyMbzMask = ~((1ULL << 26) - 1);
constexpr std::uint32_t kSignerInfoMbzMask = ~((1U << 5) - 1);
constexpr std::uint64_t kPlatformInfoKnownMask = 0xBF;  // bits 0-5 and 7

template <std::size_t N>
std::array<std::uint8_t, N> copy_array(std::span<const std::uint8_t> bytes, std::size_t offset) {
  std::array<std::uint8_t, N> out{};
  std::memcpy(out.data(), bytes.data() + offset, N);
  return out;
}

// kMalformed naming the first non-zero byte of [begin, end).
Status check_mbz(std::span<const std::uint8_t> bytes, std::size_t begin, std::size_t end,
                 std::string_view field) {
  for (std::size_t i = begin; i < end; ++i) {
    if (bytes[i] != 0) {
      return make_error(ErrorCode::kMalformed,
                        "SNP report {} [0x{:03x}, 0x{:03x}) must be zero, byte at offset 0x{:03x} "
                        "is 0x{:02x}",
                        field, begin, end, i, bytes[i]);
    }
  }
  return Status::ok_status();
}

SnpPolicy decode_policy(std::uint64_t raw) {
  SnpPolicy policy;
  policy.raw = raw;
  policy.abi_minor = static_cast<std::uint8_t>(raw & 0xFF);
  policy.abi_major = static_cast<std::uint8_t>((raw >> 8) & 0xFF);
  policy.smt_allowed = (raw >> 16) & 1;
  policy.migrate_ma = (raw >> 18) & 1;
  policy.debug = (raw >> 19) & 1;
  policy.single_socket = (raw >> 20) & 1;
  policy.cxl_allow = (raw >> 21) & 1;
  policy.mem_aes_256_xts = (raw >> 22) & 1;
  policy.rapl_dis = (raw >> 23) & 1;
  policy.ciphertext_hiding = (raw >> 24) & 1;
  policy.page_swap_disable = (raw >> 25) & 1;
  return policy;
}

SnpPlatformInfo decode_platform_info(std::uint64_t raw) {
  SnpPlatformInfo info;
  info.raw = raw;
  info.smt_en = raw & 1;
  info.tsme_en = (raw >> 1) & 1;
  info.ecc_en = (raw >> 2) & 1;
  info.rapl_dis = (raw >> 3) & 1;
  info.ciphertext_hiding_en = (raw >> 4) & 1;
  info.alias_check_complete = (raw >> 5) & 1;
  info.tio_en = (raw >> 7) & 1;
  info.unknown_bits = raw & ~kPlatformInfoKnownMask;
  return info;
}

std::string hex_of(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

// The big-endian integer of a little-endian, zero-extended signature component.
std::string big_endian_hex(const std::array<std::uint8_t, kSignatureComponentSize>& little) {
  std::array<std::uint8_t, kP384ScalarSize> big{};
  std::reverse_copy(little.begin(), little.begin() + kP384ScalarSize, big.begin());
  return hex_encode(big);
}

nlohmann::json firmware_json(const SnpFirmwareVersion& version) {
  return {{"major", version.major},
          {"minor", version.minor},
          {"build", version.build},
          {"text", fmt::format("{}.{} build {}", version.major, version.minor, version.build)}};
}

void store_u32(Bytes& out, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) out[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}
void store_u64(Bytes& out, std::size_t offset, std::uint64_t value) {
  for (std::size_t i = 0; i < 8; ++i) out[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
}
template <std::size_t N>
void store_array(Bytes& out, std::size_t offset, const std::array<std::uint8_t, N>& value) {
  std::copy(value.begin(), value.end(), out.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

std::string_view snp_product_name(SnpProduct product) noexcept {
  switch (product) {
    case SnpProduct::kMilan: return "Milan";
    case SnpProduct::kGenoa: return "Genoa";
    case SnpProduct::kTurin: return "Turin";
    case SnpProduct::kUnknown: break;
  }
  return "unknown";
}

SnpProduct snp_product_from_cpuid(std::uint8_t family, std::uint8_t model) noexcept {
  if (family == 0x19) {
    if (model <= 0x0F) return SnpProduct::kMilan;
    if ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF)) {
      return SnpProduct::kGenoa;
    }
  } else if (family == 0x1A && model <= 0x1F) {
    return SnpProduct::kTurin;
  }
  return SnpProduct::kUnknown;
}

SnpTcbLayout snp_tcb_layout_for_family(std::uint8_t family) noexcept {
  return family >= 0x1A ? SnpTcbLayout::kTurin : SnpTcbLayout::kMilanGenoa;
}

SnpTcb decode_snp_tcb(std::uint64_t raw, SnpTcbLayout layout) noexcept {
  auto byte = [raw](int index) { return static_cast<std::uint8_t>(raw >> (8 * index)); };
  SnpTcb tcb;
  tcb.raw = raw;
  tcb.layout = layout;
  if (layout == SnpTcbLayout::kTurin) {
    tcb.parts.fmc = byte(0);
    tcb.parts.bootloader = byte(1);
    tcb.parts.tee = byte(2);
    tcb.parts.snp = byte(3);
  } else {
    tcb.parts.bootloader = byte(0);
    tcb.parts.tee = byte(1);
    tcb.parts.snp = byte(6);
  }
  tcb.parts.microcode = byte(7);
  return tcb;
}

Result<SnpTcb> encode_snp_tcb(const SnpTcbParts& parts, SnpTcbLayout layout) {
  auto at = [](std::uint8_t value, int index) { return std::uint64_t{value} << (8 * index); };
  std::uint64_t raw = at(parts.microcode, 7);
  if (layout == SnpTcbLayout::kTurin) {
    if (!parts.fmc) {
      return make_error(ErrorCode::kInvalidArgument, "a Turin-layout TCB needs an FMC SVN");
    }
    raw |= at(*parts.fmc, 0) | at(parts.bootloader, 1) | at(parts.tee, 2) | at(parts.snp, 3);
  } else {
    if (parts.fmc) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a Milan/Genoa-layout TCB has no FMC SVN, found {}", *parts.fmc);
    }
    raw |= at(parts.bootloader, 0) | at(parts.tee, 1) | at(parts.snp, 6);
  }
  return decode_snp_tcb(raw, layout);
}

std::string_view snp_signing_key_name(SnpSigningKey key) noexcept {
  switch (key) {
    case SnpSigningKey::kVcek: return "vcek";
    case SnpSigningKey::kVlek: return "vlek";
    case SnpSigningKey::kNone: return "none";
  }
  return "unknown";
}

Result<SnpReport> parse_snp_report(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kSnpReportSize) {
    return make_error(ErrorCode::kTruncated, "SNP report needs {} bytes, only {} given",
                      kSnpReportSize, bytes.size());
  }
  if (bytes.size() > kSnpReportSize) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report is {} bytes, expected exactly {} ({} trailing bytes)",
                      bytes.size(), kSnpReportSize, bytes.size() - kSnpReportSize);
  }

  SnpReport report;
  report.version = load_u32le(bytes, kOffVersion);
  if (report.version < 2 || report.version > 5) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "SNP report VERSION at offset 0x000 is {}, expected 2, 3, 4 or 5",
                      report.version);
  }
  report.signature_algo = load_u32le(bytes, kOffSignatureAlgo);
  if (report.signature_algo != kSnpSignatureAlgoEcdsaP384Sha384) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "SNP report SIGNATURE_ALGO at offset 0x034 is {}, expected 1 (ECDSA P-384 "
                      "with SHA-384)",
                      report.signature_algo);
  }

  const std::uint64_t policy = load_u64le(bytes, kOffPolicy);
  if ((policy & kPolicyReservedOne) == 0) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report POLICY at offset 0x008 is 0x{:x}: reserved bit 17 must be 1",
                      policy);
  }
  if ((policy & kPolicyMbzMask) != 0) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report POLICY at offset 0x008 is 0x{:x}: bits 63:26 must be zero",
                      policy);
  }
  report.policy = decode_policy(policy);

  const std::uint32_t signer = load_u32le(bytes, kOffSignerInfo);
  if ((signer & kSignerInfoMbzMask) != 0) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report SIGNER_INFO at offset 0x048 is 0x{:x}: bits 31:5 must be zero",
                      signer);
  }
  const auto signing_key = static_cast<std::uint8_t>((signer >> 2) & 0x7);
  if (signing_key != 0 && signing_key != 1 && signing_key != 7) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "SNP report SIGNER_INFO.SIGNING_KEY at offset 0x048 is {}, expected 0 "
                      "(VCEK), 1 (VLEK) or 7 (none)",
                      signing_key);
  }
  report.signer_info.raw = signer;
  report.signer_info.author_key_en = signer & 1;
  report.signer_info.mask_chip_key = (signer >> 1) & 1;
  report.signer_info.signing_key = static_cast<SnpSigningKey>(signing_key);

  CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffReserved0, kOffReportData, "reserved"));
  if (report.version == 2) {
    CCFDE_RETURN_IF_ERROR(
        check_mbz(bytes, kOffCpuidFamily, kOffChipId, "reserved (CPUID fields of a v2 report)"));
  } else {
    CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffReserved1, kOffChipId, "reserved"));
    report.cpuid = SnpCpuid{bytes[kOffCpuidFamily], bytes[kOffCpuidModel], bytes[kOffCpuidStep]};
    report.product = snp_product_from_cpuid(report.cpuid->family, report.cpuid->model);
    report.tcb_layout = snp_tcb_layout_for_family(report.cpuid->family);
  }
  CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffReserved2, kOffReserved2 + 1, "reserved"));
  CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffReserved3, kOffReserved3 + 1, "reserved"));
  if (report.version >= 5) {
    report.launch_mit_vector = load_u64le(bytes, kOffLaunchMitVector);
    report.current_mit_vector = load_u64le(bytes, kOffCurrentMitVector);
    CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffReserved4V5, kOffSignatureR, "reserved"));
  } else {
    CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffLaunchMitVector, kOffSignatureR,
                                    "reserved (mitigation vectors are v5+)"));
  }
  CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffSignatureR + kP384ScalarSize, kOffSignatureS,
                                  "SIGNATURE.R zero extension"));
  CCFDE_RETURN_IF_ERROR(check_mbz(bytes, kOffSignatureS + kP384ScalarSize, kOffSignatureRest,
                                  "SIGNATURE.S zero extension"));
  CCFDE_RETURN_IF_ERROR(
      check_mbz(bytes, kOffSignatureRest, kSnpReportSize, "reserved part of SIGNATURE"));

  report.guest_svn = load_u32le(bytes, kOffGuestSvn);
  report.family_id = copy_array<16>(bytes, kOffFamilyId);
  report.image_id = copy_array<16>(bytes, kOffImageId);
  report.vmpl = load_u32le(bytes, kOffVmpl);
  report.platform_info = decode_platform_info(load_u64le(bytes, kOffPlatformInfo));
  report.report_data = copy_array<64>(bytes, kOffReportData);
  report.measurement = copy_array<48>(bytes, kOffMeasurement);
  report.host_data = copy_array<32>(bytes, kOffHostData);
  report.id_key_digest = copy_array<48>(bytes, kOffIdKeyDigest);
  report.author_key_digest = copy_array<48>(bytes, kOffAuthorKeyDigest);
  report.report_id = copy_array<32>(bytes, kOffReportId);
  report.report_id_ma = copy_array<32>(bytes, kOffReportIdMa);
  report.chip_id = copy_array<64>(bytes, kOffChipId);
  report.current_version = {bytes[kOffCurrentMajor], bytes[kOffCurrentMinor],
                            bytes[kOffCurrentBuild]};
  report.committed_version = {bytes[kOffCommittedMajor], bytes[kOffCommittedMinor],
                              bytes[kOffCommittedBuild]};
  const SnpTcbLayout layout = report.tcb_layout;
  report.current_tcb = decode_snp_tcb(load_u64le(bytes, kOffCurrentTcb), layout);
  report.reported_tcb = decode_snp_tcb(load_u64le(bytes, kOffReportedTcb), layout);
  report.committed_tcb = decode_snp_tcb(load_u64le(bytes, kOffCommittedTcb), layout);
  report.launch_tcb = decode_snp_tcb(load_u64le(bytes, kOffLaunchTcb), layout);
  report.signature_r = copy_array<kSignatureComponentSize>(bytes, kOffSignatureR);
  report.signature_s = copy_array<kSignatureComponentSize>(bytes, kOffSignatureS);
  return report;
}

Bytes serialize_snp_report(const SnpReport& report) {
  Bytes out(kSnpReportSize, 0);
  store_u32(out, kOffVersion, report.version);
  store_u32(out, kOffGuestSvn, report.guest_svn);
  store_u64(out, kOffPolicy, report.policy.raw);
  store_array(out, kOffFamilyId, report.family_id);
  store_array(out, kOffImageId, report.image_id);
  store_u32(out, kOffVmpl, report.vmpl);
  store_u32(out, kOffSignatureAlgo, report.signature_algo);
  store_u64(out, kOffCurrentTcb, report.current_tcb.raw);
  store_u64(out, kOffPlatformInfo, report.platform_info.raw);
  store_u32(out, kOffSignerInfo, report.signer_info.raw);
  store_array(out, kOffReportData, report.report_data);
  store_array(out, kOffMeasurement, report.measurement);
  store_array(out, kOffHostData, report.host_data);
  store_array(out, kOffIdKeyDigest, report.id_key_digest);
  store_array(out, kOffAuthorKeyDigest, report.author_key_digest);
  store_array(out, kOffReportId, report.report_id);
  store_array(out, kOffReportIdMa, report.report_id_ma);
  store_u64(out, kOffReportedTcb, report.reported_tcb.raw);
  if (report.cpuid) {
    out[kOffCpuidFamily] = report.cpuid->family;
    out[kOffCpuidModel] = report.cpuid->model;
    out[kOffCpuidStep] = report.cpuid->stepping;
  }
  store_array(out, kOffChipId, report.chip_id);
  store_u64(out, kOffCommittedTcb, report.committed_tcb.raw);
  out[kOffCurrentBuild] = report.current_version.build;
  out[kOffCurrentMinor] = report.current_version.minor;
  out[kOffCurrentMajor] = report.current_version.major;
  out[kOffCommittedBuild] = report.committed_version.build;
  out[kOffCommittedMinor] = report.committed_version.minor;
  out[kOffCommittedMajor] = report.committed_version.major;
  store_u64(out, kOffLaunchTcb, report.launch_tcb.raw);
  if (report.launch_mit_vector) store_u64(out, kOffLaunchMitVector, *report.launch_mit_vector);
  if (report.current_mit_vector) store_u64(out, kOffCurrentMitVector, *report.current_mit_vector);
  store_array(out, kOffSignatureR, report.signature_r);
  store_array(out, kOffSignatureS, report.signature_s);
  return out;
}

bool looks_like_snp_report(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() != kSnpReportSize) return false;
  const std::uint32_t version = load_u32le(bytes, kOffVersion);
  return version >= 2 && version <= 5 &&
         load_u32le(bytes, kOffSignatureAlgo) == kSnpSignatureAlgoEcdsaP384Sha384 &&
         load_u32le(bytes, kOffVmpl) <= 3 && (load_u64le(bytes, kOffPolicy) & kPolicyReservedOne);
}

nlohmann::json to_json(const SnpTcb& tcb) {
  Bytes stored(8);
  for (std::size_t i = 0; i < 8; ++i) stored[i] = static_cast<std::uint8_t>(tcb.raw >> (8 * i));
  return {
      {"raw", fmt::format("0x{:016x}", tcb.raw)},
      {"bytes", hex_of(stored)},
      {"layout", tcb.layout == SnpTcbLayout::kTurin ? "turin" : "milan_genoa"},
      {"fmc", tcb.parts.fmc ? nlohmann::json(*tcb.parts.fmc) : nlohmann::json(nullptr)},
      {"bootloader", tcb.parts.bootloader},
      {"tee", tcb.parts.tee},
      {"snp", tcb.parts.snp},
      {"microcode", tcb.parts.microcode},
  };
}

nlohmann::json to_json(const SnpReport& report) {
  const SnpPolicy& p = report.policy;
  const SnpPlatformInfo& pi = report.platform_info;
  nlohmann::json out = {
      {"version", report.version},
      {"guest_svn", report.guest_svn},
      {"policy",
       {{"raw", fmt::format("0x{:x}", p.raw)},
        {"abi_major", p.abi_major},
        {"abi_minor", p.abi_minor},
        {"smt_allowed", p.smt_allowed},
        {"migrate_ma", p.migrate_ma},
        {"debug", p.debug},
        {"single_socket", p.single_socket},
        {"cxl_allow", p.cxl_allow},
        {"mem_aes_256_xts", p.mem_aes_256_xts},
        {"rapl_dis", p.rapl_dis},
        {"ciphertext_hiding", p.ciphertext_hiding},
        {"page_swap_disable", p.page_swap_disable}}},
      {"family_id", hex_of(report.family_id)},
      {"image_id", hex_of(report.image_id)},
      {"vmpl", report.vmpl},
      {"signature_algo", report.signature_algo},
      {"current_tcb", to_json(report.current_tcb)},
      {"platform_info",
       {{"raw", fmt::format("0x{:x}", pi.raw)},
        {"smt_en", pi.smt_en},
        {"tsme_en", pi.tsme_en},
        {"ecc_en", pi.ecc_en},
        {"rapl_dis", pi.rapl_dis},
        {"ciphertext_hiding_en", pi.ciphertext_hiding_en},
        {"alias_check_complete", pi.alias_check_complete},
        {"tio_en", pi.tio_en},
        {"unknown_bits", fmt::format("0x{:x}", pi.unknown_bits)}}},
      {"signer_info",
       {{"raw", fmt::format("0x{:x}", report.signer_info.raw)},
        {"author_key_en", report.signer_info.author_key_en},
        {"mask_chip_key", report.signer_info.mask_chip_key},
        {"signing_key", snp_signing_key_name(report.signer_info.signing_key)}}},
      {"report_data", hex_of(report.report_data)},
      {"measurement", hex_of(report.measurement)},
      {"host_data", hex_of(report.host_data)},
      {"id_key_digest", hex_of(report.id_key_digest)},
      {"author_key_digest", hex_of(report.author_key_digest)},
      {"report_id", hex_of(report.report_id)},
      {"report_id_ma", hex_of(report.report_id_ma)},
      {"reported_tcb", to_json(report.reported_tcb)},
      {"chip_id", hex_of(report.chip_id)},
      {"committed_tcb", to_json(report.committed_tcb)},
      {"current_version", firmware_json(report.current_version)},
      {"committed_version", firmware_json(report.committed_version)},
      {"launch_tcb", to_json(report.launch_tcb)},
      {"signature",
       {{"r_le", hex_of(report.signature_r)},
        {"s_le", hex_of(report.signature_s)},
        {"r", big_endian_hex(report.signature_r)},
        {"s", big_endian_hex(report.signature_s)}}},
      {"product", snp_product_name(report.product)},
      {"tcb_layout", report.tcb_layout == SnpTcbLayout::kTurin ? "turin" : "milan_genoa"},
  };
  if (report.cpuid) {
    out["cpuid"] = {{"family", report.cpuid->family},
                    {"model", report.cpuid->model},
                    {"stepping", report.cpuid->stepping}};
  } else {
    out["cpuid"] = nullptr;
  }
  auto optional_u64 = [](const std::optional<std::uint64_t>& value) {
    return value ? nlohmann::json(fmt::format("0x{:x}", *value)) : nlohmann::json(nullptr);
  };
  out["launch_mit_vector"] = optional_u64(report.launch_mit_vector);
  out["current_mit_vector"] = optional_u64(report.current_mit_vector);
  return out;
}

}  // namespace ccfde::measure

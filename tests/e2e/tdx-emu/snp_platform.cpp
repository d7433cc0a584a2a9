// SPDX-License-Identifier: Apache-2.0
#include "snp_platform.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "ccfde/common/file_io.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_cert_table.h"
#include "ccfde/measure/snp_report.h"

namespace ccfde::tdx_emu {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kSignatureROffset = 0x2A0;
constexpr std::size_t kSignatureSOffset = 0x2E8;
constexpr std::size_t kSignatureFieldSize = 72;
constexpr std::size_t kCertTableEntrySize = 24;

// CPUID family, model and stepping of a part of each product line (MEASUREMENT-FORMATS.md §3.2).
Result<measure::SnpCpuid> cpuid_of(measure::SnpProduct product) {
  switch (product) {
    case measure::SnpProduct::kMilan: return measure::SnpCpuid{0x19, 0x01, 0x01};
    case measure::SnpProduct::kGenoa: return measure::SnpCpuid{0x19, 0x11, 0x01};
    case measure::SnpProduct::kTurin: return measure::SnpCpuid{0x1A, 0x02, 0x00};
    case measure::SnpProduct::kUnknown: break;
  }
  return make_error(ErrorCode::kMalformed, "the VCEK names no known SNP product");
}

Result<std::uint8_t> required_spl(const std::optional<std::uint8_t>& spl, std::string_view name) {
  if (!spl) return make_error(ErrorCode::kMalformed, "vcek.der has no {} extension", name);
  return *spl;
}

Result<EvpPkeyPtr> read_private_key(const fs::path& path) {
  CCFDE_ASSIGN_OR_RETURN(const Bytes pem, read_file(path, 1 << 16));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error(ErrorCode::kCryptoError, "BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return make_error(ErrorCode::kMalformed, "{} holds no PEM private key", path.string());
  }
  return key;
}

// ECDSA P-384 / SHA-384 over `message`, r and s little-endian in 72-byte fields at `out`.
Status sign_into(EVP_PKEY* key, std::span<const std::uint8_t> message, std::uint8_t* r_field,
                 std::uint8_t* s_field) {
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  std::size_t der_length = 0;
  if (!context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha384(), nullptr, key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &der_length, message.data(), message.size()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_DigestSign (size)");
  }
  Bytes der(der_length);
  if (EVP_DigestSign(context.get(), der.data(), &der_length, message.data(), message.size()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_DigestSign");
  }
  const unsigned char* cursor = der.data();
  EcdsaSigPtr signature(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length)));
  if (!signature ||
      BN_bn2lebinpad(ECDSA_SIG_get0_r(signature.get()), r_field,
                     static_cast<int>(kSignatureFieldSize)) < 0 ||
      BN_bn2lebinpad(ECDSA_SIG_get0_s(signature.get()), s_field,
                     static_cast<int>(kSignatureFieldSize)) < 0) {
    return openssl_error(ErrorCode::kCryptoError, "ECDSA signature encoding");
  }
  return Status();
}

void put_u32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

}  // namespace

Result<SnpPlatform> read_snp_platform(const fs::path& dir) {
  SnpPlatform platform;
  CCFDE_ASSIGN_OR_RETURN(platform.vcek_key, read_private_key(dir / "vcek-key.pem"));
  CCFDE_ASSIGN_OR_RETURN(platform.vcek_der, read_file(dir / "vcek.der", 1 << 16));
  auto vcek = measure::parse_der_certificate(platform.vcek_der);
  if (!vcek.ok()) return vcek.status().with_context((dir / "vcek.der").string());
  if (EVP_PKEY_eq(X509_get0_pubkey(vcek->get()), platform.vcek_key.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::kMalformed, "{} is not the key of {}",
                      (dir / "vcek-key.pem").string(), (dir / "vcek.der").string());
  }
  char group[64] = {};
  std::size_t group_length = 0;
  if (EVP_PKEY_get_group_name(platform.vcek_key.get(), group, sizeof group, &group_length) != 1 ||
      std::string_view(group, group_length) != "secp384r1") {
    ERR_clear_error();
    return make_error(ErrorCode::kMalformed, "{} is not an EC P-384 key",
                      (dir / "vcek-key.pem").string());
  }
  auto extensions = measure::parse_snp_vcek_extensions(vcek->get());
  if (!extensions.ok()) return extensions.status().with_context((dir / "vcek.der").string());
  platform.vcek_extensions = std::move(extensions).value();
  CCFDE_RETURN_IF_ERROR(
      cpuid_of(measure::snp_product_from_name(platform.vcek_extensions.product_name)).status());
  const std::size_t hw_id_size = platform.vcek_extensions.hw_id.size();
  if (hw_id_size != 64 && hw_id_size != 8) {
    return make_error(ErrorCode::kMalformed, "vcek.der hwID has {} bytes, expected 64 or 8",
                      hw_id_size);
  }

  const fs::path reference_path = dir / "reference.json";
  CCFDE_ASSIGN_OR_RETURN(const Bytes reference_text, read_file(reference_path, 1 << 16));
  const auto reference = nlohmann::json::parse(as_chars(reference_text), nullptr, false);
  const auto found = reference.is_object() ? reference.find("measurement") : reference.end();
  if (!reference.is_object() || found == reference.end() || !found->is_string()) {
    return make_error(ErrorCode::kMalformed, "{}: measurement must be a hex string",
                      reference_path.string());
  }
  auto measurement = hex_decode(found->get<std::string>());
  if (!measurement.ok() || measurement->size() != platform.measurement.size()) {
    return make_error(ErrorCode::kMalformed, "{}: measurement must be 48 bytes of hex",
                      reference_path.string());
  }
  std::copy(measurement->begin(), measurement->end(), platform.measurement.begin());
  return platform;
}

Result<Bytes> snp_report_for(const SnpPlatform& platform,
                             const std::array<std::uint8_t, 32>& report_id, unsigned vmpl,
                             std::span<const std::uint8_t, kInblobSize> report_data) {
  const measure::SnpVcekExtensions& vcek = platform.vcek_extensions;
  CCFDE_ASSIGN_OR_RETURN(const measure::SnpCpuid cpuid,
                         cpuid_of(measure::snp_product_from_name(vcek.product_name)));
  const measure::SnpTcbLayout layout = measure::snp_tcb_layout_for_family(cpuid.family);
  measure::SnpTcbParts parts;
  if (layout == measure::SnpTcbLayout::kTurin) {
    CCFDE_ASSIGN_OR_RETURN(parts.fmc, required_spl(vcek.fmc_spl, "fmcSPL"));
  }
  CCFDE_ASSIGN_OR_RETURN(parts.bootloader, required_spl(vcek.bl_spl, "blSPL"));
  CCFDE_ASSIGN_OR_RETURN(parts.tee, required_spl(vcek.tee_spl, "teeSPL"));
  CCFDE_ASSIGN_OR_RETURN(parts.snp, required_spl(vcek.snp_spl, "snpSPL"));
  CCFDE_ASSIGN_OR_RETURN(parts.microcode, required_spl(vcek.ucode_spl, "ucodeSPL"));
  CCFDE_ASSIGN_OR_RETURN(const measure::SnpTcb tcb, measure::encode_snp_tcb(parts, layout));

  measure::SnpReport report;
  report.version = kSnpEmuReportVersion;
  report.policy.raw = kSnpEmuPolicy;
  report.vmpl = vmpl;
  report.signature_algo = measure::kSnpSignatureAlgoEcdsaP384Sha384;
  report.current_tcb = tcb;
  report.platform_info.raw = 0x1;  // SMT_EN
  report.signer_info.raw = 0;      // VCEK, chip key not masked
  std::copy(report_data.begin(), report_data.end(), report.report_data.begin());
  report.measurement = platform.measurement;
  report.report_id = report_id;
  report.report_id_ma.fill(0xff);
  report.reported_tcb = tcb;
  report.cpuid = cpuid;
  std::copy(vcek.hw_id.begin(), vcek.hw_id.end(), report.chip_id.begin());
  report.committed_tcb = tcb;
  report.current_version = {1, 55, 0};
  report.committed_version = {1, 55, 0};
  report.launch_tcb = tcb;

  Bytes bytes = measure::serialize_snp_report(report);
  CCFDE_RETURN_IF_ERROR(
      sign_into(platform.vcek_key.get(), std::span(bytes).first(measure::kSnpSignedSize),
                bytes.data() + kSignatureROffset, bytes.data() + kSignatureSOffset));
  if (auto parsed = measure::parse_snp_report(bytes); !parsed.ok()) {
    return make_error(ErrorCode::kInternal, "the emulated SNP report does not parse: {}",
                      parsed.status().to_string());
  }
  return bytes;
}

Bytes snp_certificate_table(const SnpPlatform& platform) {
  Bytes table;
  const auto guid = measure::snp_cert_guid(measure::SnpCertType::kVcek);
  table.insert(table.end(), guid.begin(), guid.end());
  put_u32(table, static_cast<std::uint32_t>(2 * kCertTableEntrySize));
  put_u32(table, static_cast<std::uint32_t>(platform.vcek_der.size()));
  table.resize(2 * kCertTableEntrySize, 0);  // the terminator
  table.insert(table.end(), platform.vcek_der.begin(), platform.vcek_der.end());
  return table;
}

Result<std::array<std::uint8_t, 32>> new_snp_report_id() {
  std::array<std::uint8_t, 32> id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RAND_bytes (REPORT_ID)");
  }
  return id;
}

}  // namespace ccfde::tdx_emu

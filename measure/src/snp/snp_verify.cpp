// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_verify.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

constexpr std::uint8_t hex_nibble(char c) {
  return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
}

constexpr std::array<std::uint8_t, 32> sha256_constant(const char (&hex)[65]) {
  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(hex_nibble(hex[2 * i]) << 4 | hex_nibble(hex[2 * i + 1]));
  }
  return out;
}

// docs/reference/MEASUREMENT-FORMATS.md §3.3, SHA-256 of the DER.
constexpr auto kArkMilanSha256 =
    sha256_constant("69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd");
constexpr auto kArkGenoaSha256 =
    sha256_constant("4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1");
// ARK-Turin: virtee/sev src/certs/snp/builtin/turin/ark.pem at commit
// 9cf2adbffa209cc5becf7ff89ffdf624e7278ced; the same DER is the ARK of google/go-sev-guest
// verify/trust/ask_ark_turin_vlek.pem at commit 6953342c36144851a06fb20b8e8fbbd5a6a9196b.
constexpr auto kArkTurinSha256 =
    sha256_constant("1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a");

constexpr std::size_t kOffSignatureR = 0x2A0;
constexpr std::size_t kOffSignatureS = 0x2E8;
constexpr std::size_t kP384ScalarSize = 48;

constexpr const char* kOidStructVersion = "1.3.6.1.4.1.3704.1.1";
constexpr const char* kOidProductName = "1.3.6.1.4.1.3704.1.2";
constexpr const char* kOidBlSpl = "1.3.6.1.4.1.3704.1.3.1";
constexpr const char* kOidTeeSpl = "1.3.6.1.4.1.3704.1.3.2";
constexpr const char* kOidSnpSpl = "1.3.6.1.4.1.3704.1.3.3";
constexpr const char* kOidUcodeSpl = "1.3.6.1.4.1.3704.1.3.8";
constexpr const char* kOidFmcSpl = "1.3.6.1.4.1.3704.1.3.9";
constexpr const char* kOidHwId = "1.3.6.1.4.1.3704.1.4";
constexpr const char* kOidCspId = "1.3.6.1.4.1.3704.1.5";

using Asn1ObjectPtr = CHandle<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1IntegerPtr = CHandle<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1StringPtr = CHandle<ASN1_STRING, ASN1_STRING_free>;

// The value (the DER inside the extension's OCTET STRING) of extension `oid`, or nullopt if absent.
Result<std::optional<std::span<const std::uint8_t>>> extension_value(const X509* certificate,
                                                                     const char* oid) {
  Asn1ObjectPtr object(OBJ_txt2obj(oid, /*no_name=*/1));
  if (!object) return openssl_error(ErrorCode::kCryptoError, "cannot build an OID");
  const int index = X509_get_ext_by_OBJ(certificate, object.get(), -1);
  if (index < 0) return std::optional<std::span<const std::uint8_t>>();
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(certificate, index));
  if (data == nullptr) {
    return make_error(ErrorCode::kCertificateInvalid, "extension {} has no value", oid);
  }
  return std::optional<std::span<const std::uint8_t>>(std::span<const std::uint8_t>(
      ASN1_STRING_get0_data(data), static_cast<std::size_t>(ASN1_STRING_length(data))));
}

Result<std::optional<std::int64_t>> integer_extension(const X509* certificate, const char* oid) {
  CCFDE_ASSIGN_OR_RETURN(auto value, extension_value(certificate, oid));
  if (!value) return std::optional<std::int64_t>();
  const unsigned char* cursor = value->data();
  Asn1IntegerPtr integer(d2i_ASN1_INTEGER(nullptr, &cursor, static_cast<long>(value->size())));
  std::int64_t out = 0;
  if (!integer || cursor != value->data() + value->size() ||
      ASN1_INTEGER_get_int64(&out, integer.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::kCertificateInvalid,
                      "extension {} is not a DER INTEGER (value {})", oid, hex_encode(*value));
  }
  return std::optional<std::int64_t>(out);
}

Result<std::optional<std::uint8_t>> spl_extension(const X509* certificate, const char* oid) {
  CCFDE_ASSIGN_OR_RETURN(auto value, integer_extension(certificate, oid));
  if (!value) return std::optional<std::uint8_t>();
  if (*value < 0 || *value > 255) {
    return make_error(ErrorCode::kCertificateInvalid, "extension {} SPL is {}, expected 0..255",
                      oid, *value);
  }
  return std::optional<std::uint8_t>(static_cast<std::uint8_t>(*value));
}

Result<std::optional<std::string>> ia5_extension(const X509* certificate, const char* oid) {
  CCFDE_ASSIGN_OR_RETURN(auto value, extension_value(certificate, oid));
  if (!value) return std::optional<std::string>();
  const unsigned char* cursor = value->data();
  Asn1StringPtr text(d2i_ASN1_IA5STRING(nullptr, &cursor, static_cast<long>(value->size())));
  if (!text || cursor != value->data() + value->size()) {
    ERR_clear_error();
    return make_error(ErrorCode::kCertificateInvalid,
                      "extension {} is not a DER IA5String (value {})", oid, hex_encode(*value));
  }
  return std::optional<std::string>(
      std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text.get())),
                  static_cast<std::size_t>(ASN1_STRING_length(text.get()))));
}

Status check_p384_key(const X509* certificate, std::string_view role) {
  EVP_PKEY* key = X509_get0_pubkey(certificate);
  char group[64] = {};
  std::size_t group_length = 0;
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, group, sizeof(group), &group_length) != 1 ||
      std::string_view(group, group_length) != "secp384r1") {
    ERR_clear_error();
    return make_error(ErrorCode::kCertificateInvalid,
                      "{} ({}) does not hold an EC P-384 public key", role,
                      certificate_common_name(certificate));
  }
  return Status::ok_status();
}

Status compare_spl(std::string_view name, const std::optional<std::uint8_t>& certified,
                   std::uint8_t reported) {
  if (!certified) {
    return make_error(ErrorCode::kCertificateInvalid, "VCEK has no {} extension", name);
  }
  if (*certified != reported) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "VCEK {} is {} but REPORTED_TCB has {}: the VCEK does not match the report",
                      name, *certified, reported);
  }
  return Status::ok_status();
}

bool all_zero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string_view tcb_part_name(int index) {
  constexpr std::array<std::string_view, 5> kNames = {"fmc", "bootloader", "tee", "snp",
                                                      "microcode"};
  return kNames[static_cast<std::size_t>(index)];
}

Status check_tcb_minimum(const SnpTcb& tcb, std::string_view field, const SnpTcbParts& minimum) {
  const std::array<std::pair<int, int>, 5> pairs = {{
      {tcb.parts.fmc.value_or(0), minimum.fmc && tcb.parts.fmc ? *minimum.fmc : 0},
      {tcb.parts.bootloader, minimum.bootloader},
      {tcb.parts.tee, minimum.tee},
      {tcb.parts.snp, minimum.snp},
      {tcb.parts.microcode, minimum.microcode},
  }};
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (pairs[i].first < pairs[i].second) {
      return make_error(ErrorCode::kPolicyViolation,
                        "SNP {} {} SVN is {}, below the required minimum {}", field,
                        tcb_part_name(static_cast<int>(i)), pairs[i].first, pairs[i].second);
    }
  }
  return Status::ok_status();
}

}  // namespace

std::optional<std::array<std::uint8_t, 32>> snp_pinned_ark_fingerprint(
    SnpProduct product) noexcept {
  switch (product) {
    case SnpProduct::kMilan: return kArkMilanSha256;
    case SnpProduct::kGenoa: return kArkGenoaSha256;
    case SnpProduct::kTurin: return kArkTurinSha256;
    case SnpProduct::kUnknown: break;
  }
  return std::nullopt;
}

SnpProduct snp_product_from_name(std::string_view product_name) noexcept {
  const std::string_view base = product_name.substr(0, product_name.find('-'));
  for (SnpProduct product : {SnpProduct::kMilan, SnpProduct::kGenoa, SnpProduct::kTurin}) {
    if (base == snp_product_name(product)) return product;
  }
  return SnpProduct::kUnknown;
}

Result<SnpCaCertificates> parse_snp_ca_pem(std::span<const std::uint8_t> pem) {
  CCFDE_ASSIGN_OR_RETURN(auto certificates, parse_pem_certificates(pem));
  if (certificates.size() != 2) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "an AMD CA chain holds 2 certificates (ASK or ASVK, ARK), found {}",
                      certificates.size());
  }
  auto self_issued = [](const X509* certificate) {
    return X509_NAME_cmp(X509_get_subject_name(certificate), X509_get_issuer_name(certificate)) ==
           0;
  };
  const bool first_is_ark = self_issued(certificates[0].get());
  const bool second_is_ark = self_issued(certificates[1].get());
  if (first_is_ark == second_is_ark) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "an AMD CA chain needs one self-issued ARK and one ASK, found {} self-issued",
                      first_is_ark ? 2 : 0);
  }
  SnpCaCertificates out;
  out.ark = std::move(certificates[first_is_ark ? 0 : 1]);
  out.ask = std::move(certificates[first_is_ark ? 1 : 0]);
  return out;
}

Result<SnpVcekExtensions> parse_snp_vcek_extensions(const X509* certificate) {
  if (certificate == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "no certificate given");
  }
  SnpVcekExtensions out;
  CCFDE_ASSIGN_OR_RETURN(out.struct_version, integer_extension(certificate, kOidStructVersion));
  CCFDE_ASSIGN_OR_RETURN(auto product, ia5_extension(certificate, kOidProductName));
  if (!product) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "certificate {} has no AMD product-name extension {}",
                      certificate_common_name(certificate), kOidProductName);
  }
  out.product_name = std::move(*product);
  CCFDE_ASSIGN_OR_RETURN(out.bl_spl, spl_extension(certificate, kOidBlSpl));
  CCFDE_ASSIGN_OR_RETURN(out.tee_spl, spl_extension(certificate, kOidTeeSpl));
  CCFDE_ASSIGN_OR_RETURN(out.snp_spl, spl_extension(certificate, kOidSnpSpl));
  CCFDE_ASSIGN_OR_RETURN(out.ucode_spl, spl_extension(certificate, kOidUcodeSpl));
  CCFDE_ASSIGN_OR_RETURN(out.fmc_spl, spl_extension(certificate, kOidFmcSpl));
  // hwID is the raw CHIP_ID inside the extension's OCTET STRING (no inner DER).
  CCFDE_ASSIGN_OR_RETURN(auto hw_id, extension_value(certificate, kOidHwId));
  if (hw_id) out.hw_id.assign(hw_id->begin(), hw_id->end());
  CCFDE_ASSIGN_OR_RETURN(auto csp_id, ia5_extension(certificate, kOidCspId));
  if (csp_id) out.csp_id = std::move(*csp_id);
  return out;
}

nlohmann::json to_json(const SnpVcekExtensions& extensions) {
  auto optional_number = [](const auto& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  return {{"struct_version", optional_number(extensions.struct_version)},
          {"product_name", escape_nonprintable(extensions.product_name)},
          {"bl_spl", optional_number(extensions.bl_spl)},
          {"tee_spl", optional_number(extensions.tee_spl)},
          {"snp_spl", optional_number(extensions.snp_spl)},
          {"ucode_spl", optional_number(extensions.ucode_spl)},
          {"fmc_spl", optional_number(extensions.fmc_spl)},
          {"hw_id", hex_encode(extensions.hw_id)},
          {"csp_id", escape_nonprintable(extensions.csp_id)}};
}

Status check_snp_vcek_extensions(const SnpVcekExtensions& extensions, const SnpReport& report,
                                 SnpProduct product) {
  if (product != SnpProduct::kUnknown &&
      snp_product_from_name(extensions.product_name) != product) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "VCEK product name \"{}\" does not name the expected product {}",
                      extensions.product_name, snp_product_name(product));
  }
  const SnpTcbParts& tcb = report.reported_tcb.parts;
  CCFDE_RETURN_IF_ERROR(compare_spl("blSPL", extensions.bl_spl, tcb.bootloader));
  CCFDE_RETURN_IF_ERROR(compare_spl("teeSPL", extensions.tee_spl, tcb.tee));
  CCFDE_RETURN_IF_ERROR(compare_spl("snpSPL", extensions.snp_spl, tcb.snp));
  CCFDE_RETURN_IF_ERROR(compare_spl("ucodeSPL", extensions.ucode_spl, tcb.microcode));
  if (tcb.fmc) CCFDE_RETURN_IF_ERROR(compare_spl("fmcSPL", extensions.fmc_spl, *tcb.fmc));

  if (report.signer_info.signing_key != SnpSigningKey::kVcek) return Status::ok_status();
  const std::span<const std::uint8_t> chip_id(report.chip_id);
  if (all_zero(chip_id)) return Status::ok_status();  // MASK_CHIP_ID: nothing to bind to
  std::span<const std::uint8_t> expected;
  if (extensions.hw_id.size() == 64) {
    expected = chip_id;
  } else if (extensions.hw_id.size() == 8) {
    expected = chip_id.first(8);
  } else {
    return make_error(ErrorCode::kCertificateInvalid,
                      "VCEK hwID extension has {} bytes, expected 64 (or 8 on Turin)",
                      extensions.hw_id.size());
  }
  if (!std::equal(expected.begin(), expected.end(), extensions.hw_id.begin())) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "VCEK hwID {} differs from the report CHIP_ID {}",
                      hex_encode(extensions.hw_id), hex_encode(expected));
  }
  return Status::ok_status();
}

Status verify_snp_ca(const X509* ask, const X509* ark, SnpProduct product, TimePoint at,
                     const std::optional<SnpArkFingerprint>& unpinned_test_ark) {
  if (ask == nullptr || ark == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "AMD CA verification needs an ASK and an ARK");
  }
  const auto pinned = unpinned_test_ark ? unpinned_test_ark : snp_pinned_ark_fingerprint(product);
  if (!pinned) {
    return make_error(ErrorCode::kUntrustedRoot, "no ARK fingerprint is pinned for product {}",
                      snp_product_name(product));
  }
  const std::vector<std::uint8_t> fingerprint = certificate_fingerprint(ark);
  if (!std::equal(pinned->begin(), pinned->end(), fingerprint.begin(), fingerprint.end())) {
    if (unpinned_test_ark) {
      return make_error(ErrorCode::kUntrustedRoot,
                        "ARK ({}) has SHA-256 {}, expected the configured TEST ONLY ARK {}",
                        certificate_common_name(ark), hex_encode(fingerprint), hex_encode(*pinned));
    }
    return make_error(ErrorCode::kUntrustedRoot,
                      "ARK ({}) has SHA-256 {}, expected the pinned ARK-{} {}",
                      certificate_common_name(ark), hex_encode(fingerprint),
                      snp_product_name(product), hex_encode(*pinned));
  }
  // OpenSSL does not check the signature of a trust anchor, so the self-signature is checked here.
  EVP_PKEY* ark_key = X509_get0_pubkey(ark);
  if (ark_key == nullptr || X509_verify(const_cast<X509*>(ark), ark_key) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::kSignatureInvalid, "ARK ({}) self-signature does not verify",
                      certificate_common_name(ark));
  }
  return verify_certificate_chain(ask, {}, ark, at).with_context("AMD ASK/ASVK by ARK");
}

Status verify_snp_certificate_chain(const X509* vcek, const X509* ask, const X509* ark,
                                    SnpProduct product, TimePoint at,
                                    const std::optional<SnpArkFingerprint>& unpinned_test_ark) {
  if (vcek == nullptr) return Status(ErrorCode::kInvalidArgument, "no VCEK/VLEK given");
  CCFDE_RETURN_IF_ERROR(verify_snp_ca(ask, ark, product, at, unpinned_test_ark));
  const std::array<const X509*, 1> intermediates = {ask};
  CCFDE_RETURN_IF_ERROR(
      verify_certificate_chain(vcek, intermediates, ark, at).with_context("VCEK/VLEK by ASK"));
  return check_p384_key(vcek, "VCEK/VLEK");
}

Status verify_snp_report_signature(std::span<const std::uint8_t> report_bytes, const X509* vcek) {
  CCFDE_ASSIGN_OR_RETURN(const SnpReport report, parse_snp_report(report_bytes));
  if (vcek == nullptr) return Status(ErrorCode::kInvalidArgument, "no VCEK/VLEK given");
  if (report.signer_info.mask_chip_key || report.signer_info.signing_key == SnpSigningKey::kNone) {
    return make_error(ErrorCode::kSignatureInvalid,
                      "SNP report is not signed (SIGNER_INFO 0x{:x}: MASK_CHIP_KEY or "
                      "SIGNING_KEY none)",
                      report.signer_info.raw);
  }
  CCFDE_RETURN_IF_ERROR(check_p384_key(vcek, "VCEK/VLEK"));
  std::array<std::uint8_t, kP384ScalarSize> r{};
  std::array<std::uint8_t, kP384ScalarSize> s{};
  std::reverse_copy(report_bytes.begin() + kOffSignatureR,
                    report_bytes.begin() + kOffSignatureR + kP384ScalarSize, r.begin());
  std::reverse_copy(report_bytes.begin() + kOffSignatureS,
                    report_bytes.begin() + kOffSignatureS + kP384ScalarSize, s.begin());
  return verify_ecdsa_signature(X509_get0_pubkey(vcek), DigestAlgorithm::kSha384,
                                report_bytes.first(kSnpSignedSize), r, s)
      .with_context("SNP report signature");
}

Result<SnpReport> verify_snp_attestation(
    std::span<const std::uint8_t> report_bytes, const X509* vcek, const X509* ask, const X509* ark,
    TimePoint at, const std::optional<SnpArkFingerprint>& unpinned_test_ark) {
  CCFDE_ASSIGN_OR_RETURN(SnpReport report, parse_snp_report(report_bytes));
  if (vcek == nullptr) return Status(ErrorCode::kInvalidArgument, "no VCEK/VLEK given");
  CCFDE_ASSIGN_OR_RETURN(const SnpVcekExtensions extensions, parse_snp_vcek_extensions(vcek));
  const SnpProduct product = snp_product_from_name(extensions.product_name);
  if (product == SnpProduct::kUnknown) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "VCEK product name \"{}\" names no known product", extensions.product_name);
  }
  if (report.product != SnpProduct::kUnknown && report.product != product) {
    return make_error(
        ErrorCode::kCertificateInvalid, "SNP report CPUID names {} but the VCEK is for {} (\"{}\")",
        snp_product_name(report.product), snp_product_name(product), extensions.product_name);
  }
  CCFDE_RETURN_IF_ERROR(
      verify_snp_certificate_chain(vcek, ask, ark, product, at, unpinned_test_ark));
  const std::string_view expected_cn =
      report.signer_info.signing_key == SnpSigningKey::kVlek ? "SEV-VLEK" : "SEV-VCEK";
  if (certificate_common_name(vcek) != expected_cn) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "SNP report SIGNING_KEY is {} but the leaf certificate is \"{}\", expected "
                      "\"{}\"",
                      snp_signing_key_name(report.signer_info.signing_key),
                      certificate_common_name(vcek), expected_cn);
  }
  CCFDE_RETURN_IF_ERROR(check_snp_vcek_extensions(extensions, report, product));
  CCFDE_RETURN_IF_ERROR(verify_snp_report_signature(report_bytes, vcek));
  return report;
}

Status check_snp_debug_disabled(const SnpReport& report) {
  if (report.policy.debug) {
    return make_error(ErrorCode::kPolicyViolation,
                      "SNP POLICY 0x{:x} allows debugging (DEBUG, bit 19, is set)",
                      report.policy.raw);
  }
  return Status::ok_status();
}

Status check_snp_minimum_tcb(const SnpReport& report, const SnpTcbParts& minimum) {
  CCFDE_RETURN_IF_ERROR(check_tcb_minimum(report.current_tcb, "CURRENT_TCB", minimum));
  CCFDE_RETURN_IF_ERROR(check_tcb_minimum(report.committed_tcb, "COMMITTED_TCB", minimum));
  return check_tcb_minimum(report.reported_tcb, "REPORTED_TCB", minimum);
}

Status check_snp_vmpl(const SnpReport& report, std::uint32_t expected_vmpl) {
  if (report.vmpl != expected_vmpl) {
    return make_error(ErrorCode::kPolicyViolation, "SNP report VMPL is {}, expected {}",
                      report.vmpl, expected_vmpl);
  }
  return Status::ok_status();
}

}  // namespace ccfde::measure

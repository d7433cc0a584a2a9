// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/az_snp_vtpm.h"

#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/digest.h"
#include "ccfde/common/json_member.h"
#include "ccfde/common/openssl_keys.h"
#include "ccfde/measure/snp_verify.h"

namespace ccfde::measure {
namespace {

using nlohmann::json;

constexpr std::array<std::uint8_t, 4> kHclSignature = {'H', 'C', 'L', 'A'};
constexpr std::uint32_t kHclVersion = 1;
constexpr std::uint32_t kRuntimeDataVersion = 1;
constexpr std::string_view kAkKid = "HCLAkPub";

// TPM 2.0 Part 2 size limits: TPMU_NAME / TPMT_HA (2-byte algorithm + SHA-512) and TPMU_HA.
constexpr std::size_t kMaxTpmName = 66;
constexpr std::size_t kMaxTpmData = 66;
constexpr std::size_t kMaxTpmDigest = 64;
constexpr std::uint32_t kMaxPcrSelections = 16;
constexpr std::size_t kMaxPcrSelectBytes = 32;
constexpr std::size_t kMaxEvidencePcrs = 64;

bool all_zero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string_view tpm_alg_name(std::uint16_t alg) {
  switch (alg) {
    case kTpmAlgSha1: return "sha1";
    case kTpmAlgSha256: return "sha256";
    case kTpmAlgSha384: return "sha384";
    case kTpmAlgSha512: return "sha512";
    case kTpmAlgSm3_256: return "sm3_256";
    default: return "";
  }
}

// Big-endian reads through the bounds-checked ByteReader.
Result<std::uint64_t> read_be(ByteReader& reader, std::size_t size, std::string_view field) {
  CCFDE_ASSIGN_OR_RETURN(auto view, reader.bytes(size, field));
  std::uint64_t value = 0;
  for (std::uint8_t byte : view) value = (value << 8) | byte;
  return value;
}

Result<std::uint16_t> u16be(ByteReader& reader, std::string_view field) {
  CCFDE_ASSIGN_OR_RETURN(auto value, read_be(reader, 2, field));
  return static_cast<std::uint16_t>(value);
}

Result<std::uint32_t> u32be(ByteReader& reader, std::string_view field) {
  CCFDE_ASSIGN_OR_RETURN(auto value, read_be(reader, 4, field));
  return static_cast<std::uint32_t>(value);
}

// A TPM2B: u16 size, then that many bytes (at most `max`).
Result<Bytes> tpm2b(ByteReader& reader, std::string_view field, std::size_t max) {
  const std::size_t at = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(const std::uint16_t size, u16be(reader, field));
  if (size > max) {
    return make_error(ErrorCode::kMalformed, "TPMS_ATTEST {} at offset {}: size {}, at most {}",
                      field, at, size, max);
  }
  CCFDE_ASSIGN_OR_RETURN(auto view, reader.bytes(size, field));
  return Bytes(view.begin(), view.end());
}

Result<AzHclHeader> parse_header(ByteReader& reader) {
  CCFDE_ASSIGN_OR_RETURN(const auto signature, reader.array<4>("HCL header signature"));
  if (signature != kHclSignature) {
    return make_error(ErrorCode::kMalformed,
                      "HCL header signature at offset 0: expected \"HCLA\" (48434c41), found {}",
                      hex_encode(signature));
  }
  AzHclHeader header;
  CCFDE_ASSIGN_OR_RETURN(header.version, reader.u32le("HCL header version"));
  if (header.version != kHclVersion) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "HCL header version at offset 4: expected 1, found {}", header.version);
  }
  CCFDE_ASSIGN_OR_RETURN(header.report_size, reader.u32le("HCL header report size"));
  CCFDE_ASSIGN_OR_RETURN(header.request_type, reader.u32le("HCL header request type"));
  CCFDE_ASSIGN_OR_RETURN(header.status, reader.u32le("HCL header status"));
  CCFDE_ASSIGN_OR_RETURN(header.reserved, reader.array<12>("HCL header reserved"));
  return header;
}

Result<AzRuntimeDataHeader> parse_runtime_header(ByteReader& reader) {
  AzRuntimeDataHeader header;
  CCFDE_ASSIGN_OR_RETURN(header.data_size, reader.u32le("runtime-data header data size"));
  CCFDE_ASSIGN_OR_RETURN(header.version, reader.u32le("runtime-data header version"));
  if (header.version != kRuntimeDataVersion) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "runtime-data header version at offset {}: expected 1, found {}",
                      kAzRuntimeDataHeaderOffset + 4, header.version);
  }
  CCFDE_ASSIGN_OR_RETURN(header.report_type, reader.u32le("runtime-data header report type"));
  if (header.report_type != kAzHclReportTypeSnp) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "runtime-data header report type at offset {}: expected 2 (SNP), found {}",
                      kAzRuntimeDataHeaderOffset + 8, header.report_type);
  }
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t hash_type,
                         reader.u32le("runtime-data header hash type"));
  if (hash_type < 1 || hash_type > 3) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "runtime-data header hash type at offset {}: expected 1..3, found {}",
                      kAzRuntimeDataHeaderOffset + 12, hash_type);
  }
  header.hash_type = static_cast<AzHclHashType>(hash_type);
  CCFDE_ASSIGN_OR_RETURN(header.runtime_data_size,
                         reader.u32le("runtime-data header runtime data size"));
  if (std::uint64_t{header.data_size} !=
      kAzRuntimeDataHeaderSize + std::uint64_t{header.runtime_data_size}) {
    return make_error(ErrorCode::kMalformed,
                      "runtime-data header data size at offset {}: expected {} (20 + runtime data "
                      "size {}), found {}",
                      kAzRuntimeDataHeaderOffset,
                      kAzRuntimeDataHeaderSize + std::uint64_t{header.runtime_data_size},
                      header.runtime_data_size, header.data_size);
  }
  return header;
}

Result<BignumPtr> base64url_bignum(const json& jwk, std::string_view key) {
  CCFDE_ASSIGN_OR_RETURN(const std::string text,
                         json_string_member(jwk, key, ErrorCode::kMalformed, "HCLAkPub JWK"));
  auto decoded = base64url_decode(text);
  if (!decoded.ok()) {
    return make_error(ErrorCode::kMalformed, "HCLAkPub JWK member \"{}\": {}", key,
                      decoded.status().message());
  }
  BignumPtr number(BN_bin2bn(decoded->data(), static_cast<int>(decoded->size()), nullptr));
  if (!number) return openssl_error(ErrorCode::kCryptoError, "cannot build RSA key parameter");
  return number;
}

Bytes u64_be_bytes(std::uint64_t value) {
  Bytes out(8);
  for (std::size_t i = 0; i < 8; ++i) out[7 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  return out;
}

}  // namespace

std::string_view az_hcl_hash_type_name(AzHclHashType type) noexcept {
  switch (type) {
    case AzHclHashType::kSha256: return "sha256";
    case AzHclHashType::kSha384: return "sha384";
    case AzHclHashType::kSha512: return "sha512";
  }
  return "unknown";
}

Result<AzHclReport> parse_az_hcl_report(std::span<const std::uint8_t> bytes) {
  ByteReader reader(bytes);
  AzHclReport report;
  CCFDE_ASSIGN_OR_RETURN(report.header, parse_header(reader));

  CCFDE_ASSIGN_OR_RETURN(auto snp_view, reader.bytes(kSnpReportSize, "HCL SNP report"));
  CCFDE_ASSIGN_OR_RETURN(report.runtime_header, parse_runtime_header(reader));

  const std::uint64_t expected_report_size =
      kAzRuntimeDataHeaderOffset + std::uint64_t{report.runtime_header.data_size};
  if (report.header.report_size != expected_report_size) {
    return make_error(ErrorCode::kMalformed,
                      "HCL header report size at offset 8: expected {} (1216 + runtime-data size "
                      "{}), found {}",
                      expected_report_size, report.runtime_header.data_size,
                      report.header.report_size);
  }
  if (report.header.report_size > bytes.size()) {
    return make_error(ErrorCode::kTruncated,
                      "HCL report: header report size at offset 8 declares {} bytes, only {} given",
                      report.header.report_size, bytes.size());
  }
  CCFDE_ASSIGN_OR_RETURN(auto runtime_view,
                         reader.bytes(report.runtime_header.runtime_data_size, "HCL runtime data"));
  report.padding_size = reader.remaining();

  // The SNP report is parsed after the sizes, so its errors do not hide a broken envelope.
  auto snp = parse_snp_report(snp_view);
  if (!snp.ok()) return snp.status().with_context("HCL SNP report at offset 32");
  report.snp_report = *snp;
  report.snp_report_bytes.assign(snp_view.begin(), snp_view.end());
  report.runtime_data.assign(runtime_view.begin(), runtime_view.end());

  report.runtime_claims = json::parse(report.runtime_data.begin(), report.runtime_data.end(),
                                      nullptr, /*allow_exceptions=*/false);
  if (report.runtime_claims.is_discarded() || !report.runtime_claims.is_object()) {
    return make_error(ErrorCode::kMalformed,
                      "HCL runtime data at offset {} ({} bytes) is not a JSON object",
                      kAzRuntimeDataOffset, report.runtime_data.size());
  }
  if (const json* user_data = json_find_member(report.runtime_claims, "user-data")) {
    if (!user_data->is_string()) {
      return make_error(ErrorCode::kMalformed, "HCL runtime data: \"user-data\" is not a string");
    }
    auto decoded = hex_decode(user_data->get_ref<const std::string&>());
    if (!decoded.ok()) {
      return make_error(ErrorCode::kMalformed, "HCL runtime data \"user-data\": {}",
                        decoded.status().message());
    }
    report.user_data = std::move(*decoded);
  }
  return report;
}

Status check_az_runtime_data_binding(const AzHclReport& report) {
  if (report.runtime_header.hash_type != AzHclHashType::kSha256) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "HCL runtime-data binding for hash type {} is not documented; only sha256",
                      az_hcl_hash_type_name(report.runtime_header.hash_type));
  }
  CCFDE_ASSIGN_OR_RETURN(const auto expected,
                         digest(DigestAlgorithm::kSha256, report.runtime_data));
  const std::span<const std::uint8_t> report_data(report.snp_report.report_data);
  const auto bound = report_data.first(32);
  if (!std::equal(bound.begin(), bound.end(), expected.begin(), expected.end())) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "SNP REPORT_DATA[0:32] {} differs from SHA-256 of the HCL runtime data {}",
                      hex_encode(bound), hex_encode(expected));
  }
  if (!all_zero(report_data.subspan(32))) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "SNP REPORT_DATA[32:64] must be zero, found {}",
                      hex_encode(report_data.subspan(32)));
  }
  return Status::ok_status();
}

Result<EvpPkeyPtr> az_hcl_attestation_key(const AzHclReport& report) {
  const json* keys = json_find_member(report.runtime_claims, "keys");
  if (keys == nullptr || !keys->is_array()) {
    return make_error(ErrorCode::kNotFound, "HCL runtime data has no \"keys\" array");
  }
  const json* jwk = nullptr;
  for (const json& key : *keys) {
    const json* kid = json_find_member(key, "kid");
    if (kid != nullptr && kid->is_string() && kid->get_ref<const std::string&>() == kAkKid) {
      jwk = &key;
      break;
    }
  }
  if (jwk == nullptr) {
    return make_error(ErrorCode::kNotFound, "HCL runtime data has no key with kid \"{}\"", kAkKid);
  }
  CCFDE_ASSIGN_OR_RETURN(const std::string kty,
                         json_string_member(*jwk, "kty", ErrorCode::kMalformed, "HCLAkPub JWK"));
  if (kty != "RSA") {
    return make_error(ErrorCode::kUnsupportedAlgorithm, "HCLAkPub kty: expected \"RSA\", found {}",
                      json(kty).dump());
  }
  CCFDE_ASSIGN_OR_RETURN(auto n, base64url_bignum(*jwk, "n"));
  CCFDE_ASSIGN_OR_RETURN(auto e, base64url_bignum(*jwk, "e"));
  const int bits = BN_num_bits(n.get());
  if (bits < 2048 || bits > 8192) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "HCLAkPub modulus has {} bits, expected 2048..8192", bits);
  }
  if (BN_is_zero(e.get()) || !BN_is_odd(e.get())) {
    return make_error(ErrorCode::kMalformed, "HCLAkPub exponent must be odd and non-zero");
  }

  auto key = rsa_public_key(n.get(), e.get());
  if (!key.ok()) {
    return Status(ErrorCode::kCryptoError,
                  fmt::format("cannot build the HCLAkPub RSA key: {}", key.status().message()));
  }
  return key;
}

Result<TpmsAttestQuote> parse_tpms_attest(std::span<const std::uint8_t> bytes) {
  ByteReader reader(bytes);
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t magic, u32be(reader, "TPMS_ATTEST magic"));
  if (magic != kTpmGeneratedValue) {
    return make_error(ErrorCode::kMalformed,
                      "TPMS_ATTEST magic at offset 0: expected 0xff544347, found {:#010x}", magic);
  }
  CCFDE_ASSIGN_OR_RETURN(const std::uint16_t type, u16be(reader, "TPMS_ATTEST type"));
  if (type != kTpmStAttestQuote) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "TPMS_ATTEST type at offset 4: expected 0x8018 (quote), found {:#06x}", type);
  }
  TpmsAttestQuote quote;
  CCFDE_ASSIGN_OR_RETURN(quote.qualified_signer, tpm2b(reader, "qualifiedSigner", kMaxTpmName));
  CCFDE_ASSIGN_OR_RETURN(quote.extra_data, tpm2b(reader, "extraData", kMaxTpmData));
  CCFDE_ASSIGN_OR_RETURN(quote.clock_info.clock, read_be(reader, 8, "clockInfo.clock"));
  CCFDE_ASSIGN_OR_RETURN(quote.clock_info.reset_count, u32be(reader, "clockInfo.resetCount"));
  CCFDE_ASSIGN_OR_RETURN(quote.clock_info.restart_count, u32be(reader, "clockInfo.restartCount"));
  const std::size_t safe_at = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(const std::uint8_t safe, reader.u8("clockInfo.safe"));
  if (safe > 1) {
    return make_error(ErrorCode::kMalformed,
                      "TPMS_ATTEST clockInfo.safe at offset {}: expected 0 or 1, found {}", safe_at,
                      safe);
  }
  quote.clock_info.safe = safe == 1;
  CCFDE_ASSIGN_OR_RETURN(quote.firmware_version, read_be(reader, 8, "firmwareVersion"));

  const std::size_t count_at = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(const std::uint32_t count, u32be(reader, "pcrSelect.count"));
  if (count > kMaxPcrSelections) {
    return make_error(ErrorCode::kMalformed,
                      "TPMS_ATTEST pcrSelect.count at offset {}: {}, at most {}", count_at, count,
                      kMaxPcrSelections);
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    TpmPcrSelection selection;
    const std::size_t hash_at = reader.offset();
    CCFDE_ASSIGN_OR_RETURN(selection.hash_alg, u16be(reader, "pcrSelections.hash"));
    if (tpm_alg_name(selection.hash_alg).empty()) {
      return make_error(
          ErrorCode::kUnsupportedAlgorithm,
          "TPMS_ATTEST pcrSelections[{}].hash at offset {}: unknown algorithm {:#06x}", i, hash_at,
          selection.hash_alg);
    }
    const std::size_t size_at = reader.offset();
    CCFDE_ASSIGN_OR_RETURN(const std::uint8_t select_size, reader.u8("pcrSelections.sizeofSelect"));
    if (select_size > kMaxPcrSelectBytes) {
      return make_error(ErrorCode::kMalformed,
                        "TPMS_ATTEST pcrSelections[{}].sizeofSelect at offset {}: {}, at most {}",
                        i, size_at, select_size, kMaxPcrSelectBytes);
    }
    CCFDE_ASSIGN_OR_RETURN(auto select, reader.bytes(select_size, "pcrSelections.pcrSelect"));
    selection.select.assign(select.begin(), select.end());
    for (std::size_t byte = 0; byte < select.size(); ++byte) {
      for (std::uint32_t bit = 0; bit < 8; ++bit) {
        if (((static_cast<unsigned>(select[byte]) >> bit) & 1U) != 0) {
          selection.pcrs.push_back(static_cast<std::uint32_t>(byte) * 8 + bit);
        }
      }
    }
    quote.pcr_selections.push_back(std::move(selection));
  }
  CCFDE_ASSIGN_OR_RETURN(quote.pcr_digest, tpm2b(reader, "pcrDigest", kMaxTpmDigest));
  if (!reader.at_end()) {
    return make_error(ErrorCode::kMalformed,
                      "TPMS_ATTEST: {} unexpected bytes after pcrDigest at offset {}",
                      reader.remaining(), reader.offset());
  }
  return quote;
}

Status verify_az_tpm_quote(std::span<const std::uint8_t> message,
                           std::span<const std::uint8_t> signature, EVP_PKEY* attestation_key) {
  if (attestation_key == nullptr || EVP_PKEY_get_base_id(attestation_key) != EVP_PKEY_RSA) {
    return make_error(ErrorCode::kUnsupportedAlgorithm, "TPM quote key is not an RSA key");
  }
  const int key_size = EVP_PKEY_get_size(attestation_key);
  if (key_size <= 0 || signature.size() != static_cast<std::size_t>(key_size)) {
    return make_error(ErrorCode::kSignatureInvalid,
                      "TPM quote signature has {} bytes, the RSA key needs {}", signature.size(),
                      key_size);
  }
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;
  if (!context ||
      EVP_DigestVerifyInit(context.get(), &key_context, EVP_sha256(), nullptr, attestation_key) !=
          1 ||
      EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PADDING) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot set up RSA signature verification");
  }
  const int verified = EVP_DigestVerify(context.get(), signature.data(), signature.size(),
                                        message.data(), message.size());
  if (verified != 1) {
    drain_openssl_errors();
    return make_error(ErrorCode::kSignatureInvalid,
                      "TPM quote RSASSA-PKCS1-v1_5/SHA-256 signature does not verify with the "
                      "attestation key");
  }
  return Status::ok_status();
}

Status check_az_pcr_digest(const TpmsAttestQuote& quote, const std::vector<Bytes>& pcr_values) {
  std::size_t selected = 0;
  for (const auto& selection : quote.pcr_selections) {
    if (selection.hash_alg != kTpmAlgSha256) {
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "TPM quote selects the {} bank; only sha256 PCR digests are checked",
                        tpm_alg_name(selection.hash_alg));
    }
    selected += selection.pcrs.size();
  }
  if (pcr_values.size() != selected) {
    return make_error(ErrorCode::kMalformed,
                      "TPM quote selects {} PCRs, but {} PCR values were given", selected,
                      pcr_values.size());
  }
  EvpMdCtxPtr context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot start SHA-256");
  }
  for (std::size_t i = 0; i < pcr_values.size(); ++i) {
    if (pcr_values[i].size() != 32) {
      return make_error(ErrorCode::kMalformed, "PCR value {} has {} bytes, expected 32", i,
                        pcr_values[i].size());
    }
    if (EVP_DigestUpdate(context.get(), pcr_values[i].data(), 32) != 1) {
      return openssl_error(ErrorCode::kCryptoError, "SHA-256 update failed");
    }
  }
  std::array<std::uint8_t, 32> computed{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context.get(), computed.data(), &length) != 1 || length != 32) {
    return openssl_error(ErrorCode::kCryptoError, "SHA-256 final failed");
  }
  if (!std::equal(computed.begin(), computed.end(), quote.pcr_digest.begin(),
                  quote.pcr_digest.end())) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "TPM quote PCR digest {} differs from SHA-256 of the PCR values {}",
                      hex_encode(quote.pcr_digest), hex_encode(computed));
  }
  return Status::ok_status();
}

Status check_az_user_data(const AzHclReport& report, const TpmsAttestQuote& quote,
                          std::span<const std::uint8_t> expected_digest) {
  if (!report.user_data) {
    return make_error(ErrorCode::kNotFound, "HCL runtime data has no \"user-data\"");
  }
  const Bytes& user_data = *report.user_data;
  const Bytes& extra = quote.extra_data;
  if (user_data.size() < extra.size() ||
      !std::equal(extra.begin(), extra.end(), user_data.begin()) ||
      !all_zero(std::span<const std::uint8_t>(user_data).subspan(extra.size()))) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "HCL user-data {} is not the TPM quote extraData {} padded with zeros",
                      hex_encode(user_data), hex_encode(extra));
  }
  if (!expected_digest.empty() &&
      !std::equal(extra.begin(), extra.end(), expected_digest.begin(), expected_digest.end())) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "TPM quote extraData {} differs from the expected digest {}",
                      hex_encode(extra), hex_encode(expected_digest));
  }
  return Status::ok_status();
}

Result<AzSnpVtpmEvidence> parse_az_snp_vtpm_evidence(const json& evidence) {
  constexpr std::string_view kContext = "az-snp-vtpm evidence";
  const json* version = json_find_member(evidence, "version");
  if (version == nullptr || !version->is_number_integer()) {
    return make_error(ErrorCode::kMalformed, "{}: \"version\" must be an integer", kContext);
  }
  if (version->get<std::int64_t>() != 2) {
    return make_error(ErrorCode::kUnsupportedVersion, "{}: version expected 2, found {}", kContext,
                      version->dump());
  }
  const json* quote = json_find_member(evidence, "tpm_quote");
  if (quote == nullptr || !quote->is_object()) {
    return make_error(ErrorCode::kMalformed, "{}: \"tpm_quote\" must be an object", kContext);
  }
  auto hex_member = [&](const json& object, std::string_view key) -> Result<Bytes> {
    CCFDE_ASSIGN_OR_RETURN(const std::string text,
                           json_string_member(object, key, ErrorCode::kMalformed, kContext));
    auto decoded = hex_decode(text);
    if (!decoded.ok()) {
      return Status(ErrorCode::kMalformed,
                    fmt::format("{} \"{}\": {}", kContext, key, decoded.status().message()));
    }
    return std::move(*decoded);
  };
  auto b64_member = [&](std::string_view key) -> Result<Bytes> {
    CCFDE_ASSIGN_OR_RETURN(const std::string text,
                           json_string_member(evidence, key, ErrorCode::kMalformed, kContext));
    auto decoded = base64url_decode(text);
    if (!decoded.ok()) {
      return Status(ErrorCode::kMalformed,
                    fmt::format("{} \"{}\": {}", kContext, key, decoded.status().message()));
    }
    return std::move(*decoded);
  };

  AzSnpVtpmEvidence out;
  CCFDE_ASSIGN_OR_RETURN(out.quote_signature, hex_member(*quote, "signature"));
  CCFDE_ASSIGN_OR_RETURN(out.quote_message, hex_member(*quote, "message"));
  const json* pcrs = json_find_member(*quote, "pcrs");
  if (pcrs == nullptr || !pcrs->is_array()) {
    return make_error(ErrorCode::kMalformed, "{}: \"tpm_quote.pcrs\" must be an array", kContext);
  }
  if (pcrs->size() > kMaxEvidencePcrs) {
    return make_error(ErrorCode::kMalformed, "{}: {} pcrs, at most {}", kContext, pcrs->size(),
                      kMaxEvidencePcrs);
  }
  for (std::size_t i = 0; i < pcrs->size(); ++i) {
    const json& entry = (*pcrs)[i];
    if (!entry.is_string()) {
      return make_error(ErrorCode::kMalformed, "{}: pcrs[{}] must be a hex string", kContext, i);
    }
    auto decoded = hex_decode(entry.get_ref<const std::string&>());
    if (!decoded.ok()) {
      return make_error(ErrorCode::kMalformed, "{}: pcrs[{}]: {}", kContext, i,
                        decoded.status().message());
    }
    out.pcrs.push_back(std::move(*decoded));
  }
  CCFDE_ASSIGN_OR_RETURN(out.hcl_report, b64_member("hcl_report"));
  CCFDE_ASSIGN_OR_RETURN(out.vcek, b64_member("vcek"));
  return out;
}

Result<AzSnpVtpmVerified> verify_az_snp_vtpm(const AzSnpVtpmEvidence& evidence, const X509* ask,
                                             const X509* ark, TimePoint at,
                                             std::span<const std::uint8_t> expected_digest) {
  auto hcl = parse_az_hcl_report(evidence.hcl_report);
  if (!hcl.ok()) return hcl.status().with_context("HCL report");
  auto vcek = parse_certificate(evidence.vcek);
  if (!vcek.ok()) return vcek.status().with_context("VCEK");
  auto snp = verify_snp_attestation(hcl->snp_report_bytes, vcek->get(), ask, ark, at);
  if (!snp.ok()) return snp.status().with_context("SNP report");
  CCFDE_RETURN_IF_ERROR(check_az_runtime_data_binding(*hcl).with_context("runtime-data binding"));
  auto key = az_hcl_attestation_key(*hcl);
  if (!key.ok()) return key.status().with_context("attestation key");
  auto quote = parse_tpms_attest(evidence.quote_message);
  if (!quote.ok()) return quote.status().with_context("TPM quote");
  CCFDE_RETURN_IF_ERROR(
      verify_az_tpm_quote(evidence.quote_message, evidence.quote_signature, key->get())
          .with_context("TPM quote signature"));
  CCFDE_RETURN_IF_ERROR(
      check_az_pcr_digest(*quote, evidence.pcrs).with_context("TPM quote PCR digest"));
  CCFDE_RETURN_IF_ERROR(
      check_az_user_data(*hcl, *quote, expected_digest).with_context("TPM quote nonce"));
  return AzSnpVtpmVerified{std::move(*hcl), std::move(*quote)};
}

json to_json(const AzHclReport& report) {
  json header = {
      {"signature", "HCLA"},
      {"version", report.header.version},
      {"report_size", report.header.report_size},
      {"request_type", report.header.request_type},
      {"status", report.header.status},
      {"reserved", hex_encode(report.header.reserved)},
  };
  json runtime_header = {
      {"data_size", report.runtime_header.data_size},
      {"version", report.runtime_header.version},
      {"report_type", report.runtime_header.report_type},
      {"hash_type", static_cast<std::uint32_t>(report.runtime_header.hash_type)},
      {"hash_type_name", az_hcl_hash_type_name(report.runtime_header.hash_type)},
      {"runtime_data_size", report.runtime_header.runtime_data_size},
  };
  auto runtime_sha256 = digest(DigestAlgorithm::kSha256, report.runtime_data);
  json out = {
      {"header", std::move(header)},
      {"snp_report", to_json(report.snp_report)},
      {"runtime_data_header", std::move(runtime_header)},
      {"runtime_data_sha256", runtime_sha256.ok() ? json(hex_encode(*runtime_sha256)) : json()},
      {"runtime_claims", report.runtime_claims},
      {"user_data", report.user_data ? json(hex_encode(*report.user_data)) : json()},
      {"padding_size", report.padding_size},
  };
  return out;
}

json to_json(const TpmsAttestQuote& quote) {
  json selections = json::array();
  for (const auto& selection : quote.pcr_selections) {
    selections.push_back({
        {"hash_alg", selection.hash_alg},
        {"hash", tpm_alg_name(selection.hash_alg)},
        {"pcr_select", hex_encode(selection.select)},
        {"pcrs", selection.pcrs},
    });
  }
  return {
      {"magic", fmt::format("{:#010x}", kTpmGeneratedValue)},
      {"type", fmt::format("{:#06x}", kTpmStAttestQuote)},
      {"qualified_signer", hex_encode(quote.qualified_signer)},
      {"extra_data", hex_encode(quote.extra_data)},
      {"clock_info",
       {{"clock", quote.clock_info.clock},
        {"reset_count", quote.clock_info.reset_count},
        {"restart_count", quote.clock_info.restart_count},
        {"safe", quote.clock_info.safe}}},
      {"firmware_version", hex_encode(u64_be_bytes(quote.firmware_version))},
      {"pcr_selections", std::move(selections)},
      {"pcr_digest", hex_encode(quote.pcr_digest)},
  };
}

json to_json(const AzSnpVtpmEvidence& evidence) {
  json pcrs = json::array();
  for (const auto& pcr : evidence.pcrs) pcrs.push_back(hex_encode(pcr));
  return {
      {"version", 2},
      {"tpm_quote",
       {{"signature", hex_encode(evidence.quote_signature)},
        {"message", hex_encode(evidence.quote_message)},
        {"pcrs", std::move(pcrs)}}},
      {"hcl_report", hex_encode(evidence.hcl_report)},
      {"vcek", hex_encode(evidence.vcek)},
  };
}

}  // namespace ccfde::measure

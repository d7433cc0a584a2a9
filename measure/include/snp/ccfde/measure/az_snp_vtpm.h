// SPDX-License-Identifier: Apache-2.0
// Azure confidential VMs on SEV-SNP (Trustee tee "az-snp-vtpm", evidence version 2;
// docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.9, docs/reference/TEST-VECTORS.md §8): the paravisor's
// HCL report (an SNP report whose REPORT_DATA binds a JSON "runtime data" blob holding the vTPM
// attestation key HCLAkPub) and a TPM2_Quote signed by that key.
//
// Chain of trust: VCEK -> SNP report -> REPORT_DATA[0:32] = SHA-256(runtime data) -> HCLAkPub ->
// TPM quote signature -> PCR digest and extraData (the caller's nonce digest, also in the runtime
// data's "user-data").
//
// Parsers are pure functions over untrusted bytes; the verifiers take every input explicitly.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_report.h"

namespace ccfde::measure {

// --- HCL report ---

inline constexpr std::size_t kAzHclHeaderSize = 32;
inline constexpr std::size_t kAzRuntimeDataHeaderSize = 20;
// Offset of the runtime-data header: after the HCL header and the 1184-byte hardware report area.
inline constexpr std::size_t kAzRuntimeDataHeaderOffset = kAzHclHeaderSize + kSnpReportSize;
inline constexpr std::size_t kAzRuntimeDataOffset =
    kAzRuntimeDataHeaderOffset + kAzRuntimeDataHeaderSize;
inline constexpr std::uint32_t kAzHclReportTypeSnp = 2;

// The IGVM hash type of the runtime-data header (Azure's IgvmHashType; 0 is "invalid").
enum class AzHclHashType : std::uint32_t { kSha256 = 1, kSha384 = 2, kSha512 = 3 };
// "sha256", "sha384", "sha512".
std::string_view az_hcl_hash_type_name(AzHclHashType type) noexcept;

// The 32-byte attestation header: "HCLA", then little-endian u32s.
struct AzHclHeader {
  std::uint32_t version = 0;
  std::uint32_t report_size = 0;  // header + hardware report + runtime-data header and data
  std::uint32_t request_type = 0;
  std::uint32_t status = 0;
  std::array<std::uint8_t, 12> reserved{};
};

// The runtime-data (IGVM request data) header that follows the hardware report.
struct AzRuntimeDataHeader {
  std::uint32_t data_size = 0;  // this header + the runtime data
  std::uint32_t version = 0;
  std::uint32_t report_type = 0;
  AzHclHashType hash_type = AzHclHashType::kSha256;
  std::uint32_t runtime_data_size = 0;
};

// clang-tidy 14 sees an exception escaping the implicit noexcept move of a struct holding
// nlohmann::json, which cannot throw (a known false positive, llvm/llvm-project#54668).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct AzHclReport {
  AzHclHeader header;
  Bytes snp_report_bytes;  // the 1184 bytes at offset 32, as signed by the VCEK
  SnpReport snp_report;
  AzRuntimeDataHeader runtime_header;
  Bytes runtime_data;              // the runtime-data JSON bytes, exactly as hashed
  nlohmann::json runtime_claims;   // runtime_data parsed
  std::optional<Bytes> user_data;  // the "user-data" member, hex-decoded, when present
  std::size_t padding_size = 0;    // bytes after header.report_size (the NV index is padded)
};

// Parses an HCL report: the 32-byte header (signature "HCLA", version 1), the SNP report at offset
// 32 (parse_snp_report), the runtime-data header at offset 1216 (version 1, report type 2 = SNP,
// hash type 1..3) and the runtime data, which must be a JSON object; a "user-data" member, if
// present, must be a hex string. Consistency: data_size = 20 + runtime_data_size and report_size =
// 1216 + data_size; bytes after report_size are allowed (padding) and counted.
// Errors: kTruncated (the buffer ends before a header, the report, report_size or the runtime
// data), kMalformed (bad signature, inconsistent sizes, runtime data not a JSON object, user-data
// not hex; and those of parse_snp_report), kUnsupportedVersion (header or runtime-data version not
// 1), kUnsupportedAlgorithm (report type not SNP, hash type not 1..3). Messages name field and
// offset.
Result<AzHclReport> parse_az_hcl_report(std::span<const std::uint8_t> bytes);

// Checks that the SNP report binds the runtime data: REPORT_DATA[0:32] = SHA-256(runtime data) and
// REPORT_DATA[32:64] zero. Only hash type SHA-256 has a documented binding.
// Errors: kMeasurementMismatch (digest differs, or the rest is not zero; both values in the
// message), kUnsupportedAlgorithm (hash type SHA-384/SHA-512), kCryptoError.
Status check_az_runtime_data_binding(const AzHclReport& report);

// The vTPM attestation key: the RSA public key of the runtime data's "keys" entry with kid
// "HCLAkPub" (JWK members n and e, base64url).
// Errors: kNotFound (no "keys" array or no HCLAkPub entry), kUnsupportedAlgorithm (kty not "RSA",
// modulus not 2048..8192 bits), kMalformed (n or e missing, not base64url or e zero), kCryptoError.
Result<EvpPkeyPtr> az_hcl_attestation_key(const AzHclReport& report);

// --- TPM2 quote (TPMS_ATTEST, TPM 2.0 Part 2 §10.12; big-endian) ---

inline constexpr std::uint32_t kTpmGeneratedValue = 0xff544347;  // TPM_GENERATED_VALUE
inline constexpr std::uint16_t kTpmStAttestQuote = 0x8018;       // TPM_ST_ATTEST_QUOTE

// TPM_ALG_ID values of the PCR banks this code knows.
inline constexpr std::uint16_t kTpmAlgSha1 = 0x0004;
inline constexpr std::uint16_t kTpmAlgSha256 = 0x000B;
inline constexpr std::uint16_t kTpmAlgSha384 = 0x000C;
inline constexpr std::uint16_t kTpmAlgSha512 = 0x000D;
inline constexpr std::uint16_t kTpmAlgSm3_256 = 0x0012;

struct TpmPcrSelection {
  std::uint16_t hash_alg = 0;
  Bytes select;                     // the pcrSelect bitmap as stored
  std::vector<std::uint32_t> pcrs;  // the selected PCR indices, ascending
};

struct TpmClockInfo {
  std::uint64_t clock = 0;
  std::uint32_t reset_count = 0;
  std::uint32_t restart_count = 0;
  bool safe = false;
};

struct TpmsAttestQuote {
  Bytes qualified_signer;  // TPM2B_NAME contents
  Bytes extra_data;        // TPM2B_DATA contents (the nonce)
  TpmClockInfo clock_info;
  std::uint64_t firmware_version = 0;
  std::vector<TpmPcrSelection> pcr_selections;
  Bytes pcr_digest;
};

// Parses a TPMS_ATTEST of type quote: magic, type, qualifiedSigner, extraData, clockInfo,
// firmwareVersion, TPML_PCR_SELECTION (at most 16 banks; known hash algorithms only), pcrDigest.
// Errors: kTruncated (a field runs past the end), kMalformed (magic not TPM_GENERATED_VALUE, a
// TPM2B larger than the TPM allows, clockInfo.safe not 0/1, more than 16 selections, a selection
// bitmap over 32 bytes, bytes after pcrDigest), kUnsupportedAlgorithm (type not quote, unknown PCR
// bank). Messages name field and offset.
Result<TpmsAttestQuote> parse_tpms_attest(std::span<const std::uint8_t> bytes);

// Verifies a raw RSASSA-PKCS1-v1_5 / SHA-256 signature of `message` (the TPMS_ATTEST bytes) with
// `attestation_key`. Errors: kSignatureInvalid (does not verify, or wrong length for the key),
// kUnsupportedAlgorithm (the key is not RSA), kCryptoError.
Status verify_az_tpm_quote(std::span<const std::uint8_t> message,
                           std::span<const std::uint8_t> signature, EVP_PKEY* attestation_key);

// Checks the quote's PCR digest: it must equal SHA-256 of `pcr_values` concatenated, where
// `pcr_values` are the values of the selected PCRs in selection order (for the Azure evidence: the
// 24 SHA-256 PCRs 0..23). Only SHA-256 banks are supported.
// Errors: kUnsupportedAlgorithm (a non-SHA-256 bank), kMalformed (count of values differs from the
// selection, a value not 32 bytes), kMeasurementMismatch (digest differs; both in the message).
Status check_az_pcr_digest(const TpmsAttestQuote& quote, const std::vector<Bytes>& pcr_values);

// Checks the nonce binding: the runtime data's user-data starts with the quote's extraData and is
// zero after it; and, when `expected_digest` is not empty, extraData equals it.
// Errors: kNotFound (no user-data), kMeasurementMismatch (any comparison fails).
Status check_az_user_data(const AzHclReport& report, const TpmsAttestQuote& quote,
                          std::span<const std::uint8_t> expected_digest = {});

// --- Trustee evidence JSON ---

struct AzSnpVtpmEvidence {
  Bytes quote_signature;
  Bytes quote_message;
  std::vector<Bytes> pcrs;
  Bytes hcl_report;
  Bytes vcek;  // DER
};

// Decodes {"version":2,"tpm_quote":{"signature","message","pcrs"},"hcl_report","vcek"}: TPM fields
// hex, hcl_report and vcek base64url. Nothing is parsed beyond the encodings.
// Errors: kUnsupportedVersion (version not 2), kMalformed (a member missing, of the wrong type or
// badly encoded; more than 64 pcrs). Never throws.
Result<AzSnpVtpmEvidence> parse_az_snp_vtpm_evidence(const nlohmann::json& evidence);

// The parts of evidence that verify_az_snp_vtpm accepted.
struct AzSnpVtpmVerified {
  AzHclReport hcl;
  TpmsAttestQuote quote;
};

// Every check in order: parse the HCL report; verify_snp_attestation of its SNP report with `vcek`,
// `ask`, `ark` at `at`; check_az_runtime_data_binding; az_hcl_attestation_key; parse_tpms_attest;
// verify_az_tpm_quote; check_az_pcr_digest; check_az_user_data (with `expected_digest`, which may
// be empty). Policy on the SNP report (debug, TCB) is left to the check_snp_* functions.
// Errors: those of the steps, each with the step as context.
Result<AzSnpVtpmVerified> verify_az_snp_vtpm(const AzSnpVtpmEvidence& evidence, const X509* ask,
                                             const X509* ark, TimePoint at,
                                             std::span<const std::uint8_t> expected_digest = {});

// JSON forms: byte fields as lowercase hex, names snake_case. The HCL report includes the parsed
// SNP report, the runtime-data SHA-256 and the runtime claims as they are.
nlohmann::json to_json(const AzHclReport& report);
nlohmann::json to_json(const TpmsAttestQuote& quote);
nlohmann::json to_json(const AzSnpVtpmEvidence& evidence);

}  // namespace ccfde::measure

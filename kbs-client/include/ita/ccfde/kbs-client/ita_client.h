// SPDX-License-Identifier: Apache-2.0
// Intel Trust Authority (ITA) key broker adapter: the two-step key transfer of the ITA KBS
// (POST /kbs/v1/keys/{uuid}/transfer, docs/reference/TRUSTEE-KBS-PROTOCOL.md §4.1), and the pure
// pieces it is made of (RSA-3072 ephemeral key, user_data encoding, report-data binding, message
// parsing, unwrapping of wrapped_swk and wrapped_key).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/http_transport.h"

namespace ccfde::kbs_client {

inline constexpr unsigned kItaRsaBits = 3072;          // the ITA KBS rejects moduli <= 2048 bits
inline constexpr std::size_t kItaReportDataSize = 64;  // SHA-512, the whole TDX REPORTDATA
inline constexpr std::size_t kItaSwkSize = 32;         // AES-256 session wrapping key
inline constexpr std::size_t kItaGcmIvSize = 12;       // wrapped_key iv_len
inline constexpr std::size_t kItaGcmTagSize = 16;      // wrapped_key tag_len
inline constexpr std::size_t kItaWrappedKeyHeaderSize = 12;  // three u32le lengths

// The ephemeral RSA key of one key transfer. The private key lives only inside OpenSSL's EVP_PKEY
// (whose RSA free clears the private components); it is never exported. Move-only.
class ItaKey {
 public:
  // A fresh RSA key of `bits` bits (exponent 65537). kInvalidArgument if bits < 3072;
  // kCryptoError if OpenSSL fails.
  static Result<ItaKey> generate(unsigned bits = kItaRsaBits);
  // An RSA private key from PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8), for test vectors.
  // kInvalidArgument if the PEM does not parse; kUnsupportedAlgorithm if it is not RSA or its
  // modulus is shorter than 3072 bits.
  static Result<ItaKey> from_private_pem(std::string_view pem);

  // The key; never null for an object returned by the factories.
  EVP_PKEY* pkey() const noexcept { return key_.get(); }
  // The modulus size in bits.
  unsigned bits() const noexcept;

 private:
  explicit ItaKey(EvpPkeyPtr key) : key_(std::move(key)) {}
  EvpPkeyPtr key_;
};

// user_data = u32le(e) || n (big-endian, exactly the modulus byte length): 388 bytes for RSA-3072.
// kInvalidArgument if `key` is not RSA or e does not fit 32 bits; kCryptoError if OpenSSL fails.
Result<Bytes> ita_user_data(const EVP_PKEY* key);

// The verifier nonce of step 1, its members kept exactly as received (base64std strings) so that
// step 2 echoes them unchanged.
struct ItaNonce {
  std::string val;
  std::string iat;
  std::string signature;
};

// Parses the step-1 body {"val","iat","signature"}. Every member must be a non-empty base64std
// string; other members are ignored. kMalformedResponse naming the member otherwise (non-JSON,
// not an object, missing, wrongly typed, empty, bad base64).
Result<ItaNonce> parse_ita_nonce(std::string_view body);

// REPORTDATA = SHA-512(base64dec(nonce.val) || base64dec(nonce.iat) || user_data).
// kMalformedResponse if val or iat is not base64std; kCryptoError if hashing fails.
Result<std::array<std::uint8_t, kItaReportDataSize>> ita_report_data(
    const ItaNonce& nonce, std::span<const std::uint8_t> user_data);

// The step-2 body: {"quote","nonce":{"val","iat","signature"},"user_data"[,"event_log"]}, byte
// fields base64std; event_log is left out when absent (the KBS declares it omitempty). The KBS
// refuses unknown members, so nothing else is sent.
std::string make_ita_transfer_request(std::span<const std::uint8_t> quote, const ItaNonce& nonce,
                                      std::span<const std::uint8_t> user_data,
                                      std::optional<std::span<const std::uint8_t>> event_log);

// The decoded step-2 success body.
struct ItaTransferResponse {
  Bytes wrapped_key;  // u32le(12) || u32le(16) || u32le(ct_len) || iv || ciphertext || tag
  Bytes wrapped_swk;  // RSA-OAEP-SHA256 of the SWK under the user_data key
};

// Parses {"wrapped_key","wrapped_swk"}: both non-empty base64std strings (other members ignored).
// kMalformedResponse naming the member otherwise.
Result<ItaTransferResponse> parse_ita_transfer_response(std::string_view body);

// The error text of an ITA KBS error body {"error":"..."}; for anything else a printable,
// length-capped excerpt of the body ("" for an empty body). Never fails.
std::string ita_error_detail(std::string_view body);

// Decrypts wrapped_swk with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) under `key`.
// kMalformedResponse if its length is not the modulus size; kDecryptionFailed if OAEP decoding
// fails or the SWK is not 32 bytes. Intermediate buffers are wiped.
Result<SecretBytes> ita_unwrap_swk(std::span<const std::uint8_t> wrapped_swk, const ItaKey& key);

// Decrypts wrapped_key (layout above) with AES-256-GCM under `swk` (no AAD). Requires
// iv_len == 12, tag_len == 16, 16 < ct_len and 12 + iv_len + ct_len == size, else
// kMalformedResponse (lengths are checked in 64-bit arithmetic, no overflow); kDecryptionFailed
// if the tag does not verify; kInvalidArgument if swk is not 32 bytes. The plaintext is returned
// in SecretBytes; no other copy of it survives.
Result<SecretBytes> ita_unwrap_key(std::span<const std::uint8_t> wrapped_key,
                                   const SecretBytes& swk);

// ita_unwrap_swk then ita_unwrap_key; the SWK is wiped before returning.
Result<SecretBytes> ita_unwrap(const ItaTransferResponse& response, const ItaKey& key);

// What the platform gives for one transfer: a TDX quote whose REPORTDATA is the 64 bytes passed
// to the callback, and optionally the CCEL.
struct ItaEvidence {
  Bytes quote;
  std::optional<Bytes> event_log;
};
using ItaEvidenceCallback =
    std::function<Result<ItaEvidence>(std::span<const std::uint8_t> report_data)>;

struct ItaClientOptions {
  std::string base_url;  // https://kbs.example:9443 (no path; a trailing '/' is tolerated)
  std::chrono::milliseconds request_timeout{30000};  // per request, capped by `deadline`
  Deadline deadline = Deadline::max();               // overall: nothing is sent past it
  // The ephemeral key source; default ItaKey::generate(). Tests inject a vector key.
  std::function<Result<ItaKey>()> key_factory;
};

class ItaKbsClient {
 public:
  // `transport` and the callback must outlive the client.
  ItaKbsClient(HttpTransport& transport, ItaEvidenceCallback evidence, ItaClientOptions options);

  // Transfers the key `key_id` (a UUID): step 1 gets the nonce, the evidence callback quotes
  // the report data, step 2 sends the evidence and the result is unwrapped with a fresh key.
  // No retries. Errors: kInvalidArgument (key_id not a UUID, HTTP 400/415), kDeadlineExceeded,
  // the transport's errors, kAttestationRefused (401/403 on attestation), kPolicyDenied (401/403
  // on the key-transfer policy, or the key requires another attestation type), kResourceNotFound
  // (404), kUnreachable (5xx, 429), kMalformedResponse, kDecryptionFailed, and the callback's
  // errors. Messages carry the HTTP status and the broker's error text.
  Result<SecretBytes> transfer_key(std::string_view key_id);

 private:
  Result<HttpResponse> post(std::string_view url, std::string body, bool with_evidence,
                            std::string_view step);

  HttpTransport& transport_;
  ItaEvidenceCallback evidence_;
  ItaClientOptions options_;
};

// Maps a non-200 ITA KBS response to its Status (see transfer_key); `step` names the request.
Status ita_http_error(long status, std::string_view body, std::string_view step);

}  // namespace ccfde::kbs_client

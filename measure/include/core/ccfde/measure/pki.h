// SPDX-License-Identifier: Apache-2.0
// Certificates, chains and raw ECDSA signatures: the OpenSSL building blocks of offline quote and
// report verification. Verification time is always an input; nothing here reads the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::sys_seconds;

// Parses "YYYY-MM-DDTHH:MM:SSZ" (also with a fractional second or a +HH:MM offset).
// kInvalidArgument naming the text otherwise.
Result<TimePoint> parse_rfc3339(std::string_view text);
// Formats as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(TimePoint time);

// Every certificate in a PEM bundle, in order. Tolerates trailing NULs and whitespace (TDX quotes
// end their PEM chain with a NUL). Refuses anything that is not a "-----BEGIN CERTIFICATE-----"
// block: kCertificateInvalid names the index of the block that failed.
Result<std::vector<X509Ptr>> parse_pem_certificates(std::span<const std::uint8_t> pem);

// One DER certificate; trailing bytes are an error.
Result<X509Ptr> parse_der_certificate(std::span<const std::uint8_t> der);

// One certificate in DER or PEM (detected from the bytes).
Result<X509Ptr> parse_certificate(std::span<const std::uint8_t> bytes);

// The DER encoding of `certificate`.
std::vector<std::uint8_t> certificate_der(const X509* certificate);
// SHA-256 of the DER encoding.
std::vector<std::uint8_t> certificate_fingerprint(const X509* certificate);
// The subject's common name ("" when absent).
std::string certificate_common_name(const X509* certificate);

// Verifies `leaf` <- `intermediates` <- `trusted_root` at `at`, with OpenSSL's path validation.
// The root is the only trust anchor (roots inside evidence are never trusted; partial chains are
// refused). Errors: kCertificateExpired (a certificate is not valid at `at`), kUntrustedRoot (the
// chain does not end at `trusted_root`), kSignatureInvalid (a certificate signature fails),
// kCertificateInvalid (anything else); the message names the depth and subject of the certificate
// that failed and OpenSSL's reason.
Status verify_certificate_chain(const X509* leaf, std::span<const X509* const> intermediates,
                                const X509* trusted_root, TimePoint at);

// An EC public key on `curve_nid` (NID_X9_62_prime256v1, NID_secp384r1) from the raw big-endian
// affine coordinates x || y. kMalformed if the point is not on the curve.
Result<EvpPkeyPtr> ec_public_key_from_xy(int curve_nid, std::span<const std::uint8_t> x,
                                         std::span<const std::uint8_t> y);

// Verifies an ECDSA signature given as big-endian r and s over `message` hashed with `algorithm`.
// kSignatureInvalid when it does not verify; kCryptoError for OpenSSL failures.
Status verify_ecdsa_signature(EVP_PKEY* public_key, DigestAlgorithm algorithm,
                              std::span<const std::uint8_t> message,
                              std::span<const std::uint8_t> r, std::span<const std::uint8_t> s);

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/status.h"

#include <cstring>

namespace ccfde {

std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kIoError: return "io_error";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kUnsupportedAlgorithm: return "unsupported_algorithm";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kSignatureInvalid: return "signature_invalid";
    case ErrorCode::kCertificateInvalid: return "certificate_invalid";
    case ErrorCode::kCertificateExpired: return "certificate_expired";
    case ErrorCode::kUntrustedRoot: return "untrusted_root";
    case ErrorCode::kPolicyViolation: return "policy_violation";
    case ErrorCode::kMeasurementMismatch: return "measurement_mismatch";
    case ErrorCode::kDeviceError: return "device_error";
    case ErrorCode::kFirmwareError: return "firmware_error";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kDeadlineExceeded: return "deadline_exceeded";
    case ErrorCode::kCryptoError: return "crypto_error";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUnreachable: return "unreachable";
    case ErrorCode::kTlsTrustFailure: return "tls_trust_failure";
    case ErrorCode::kPinMismatch: return "pin_mismatch";
    case ErrorCode::kProtocolVersionMismatch: return "protocol_version_mismatch";
    case ErrorCode::kAttestationRefused: return "attestation_refused";
    case ErrorCode::kPolicyDenied: return "policy_denied";
    case ErrorCode::kResourceNotFound: return "resource_not_found";
    case ErrorCode::kMalformedResponse: return "malformed_response";
    case ErrorCode::kDecryptionFailed: return "decryption_failed";
    case ErrorCode::kNotLuks2: return "not_luks2";
    case ErrorCode::kNoToken: return "no_token";
    case ErrorCode::kInvalidToken: return "invalid_token";
    case ErrorCode::kConfigInvalid: return "config_invalid";
    case ErrorCode::kUnknownProfile: return "unknown_profile";
    case ErrorCode::kKeyRejected: return "key_rejected";
    case ErrorCode::kLastCredential: return "last_credential";
    case ErrorCode::kUnfinishedOperation: return "unfinished_operation";
    case ErrorCode::kActivationFailed: return "activation_failed";
    case ErrorCode::kSessionRejected: return "session_rejected";
    case ErrorCode::kBrokerInternal: return "broker_internal";
    case ErrorCode::kCertificateRevoked: return "certificate_revoked";
    case ErrorCode::kCollateralExpired: return "collateral_expired";
    case ErrorCode::kCollateralMismatch: return "collateral_mismatch";
  }
  return "unknown";
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_), sys_errno_);
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string text = fmt::format("{}: {}", error_code_name(code_), message_);
  if (sys_errno_ != 0) {
    char buffer[256];
    // GNU strerror_r returns the message pointer (which may not be `buffer`).
    text += fmt::format(" ({})", strerror_r(sys_errno_, buffer, sizeof buffer));
  }
  return text;
}

}  // namespace ccfde

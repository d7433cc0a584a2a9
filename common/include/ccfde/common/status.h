// SPDX-License-Identifier: Apache-2.0
// The one error model of cc-fde: Status (code, errno, message) and Result<T>.
//
// Library code returns a Status or Result and never logs; the program that decides (fde-agent,
// fdectl, cc-measure) logs once and picks the exit status. Every code is listed with its meaning in
// docs/ARCHITECTURE.md ("Error codes"); codes are stable numbers, so add new ones at the end.
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ccfde {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,       // a caller, command line or configuration value is wrong
  kNotFound = 2,              // a file, device, interface or item does not exist
  kIoError = 3,               // reading or writing a file or device failed
  kTruncated = 4,             // input ends before a required or declared size
  kMalformed = 5,             // input is structurally inconsistent
  kUnsupportedVersion = 6,    // a format version this code does not know
  kUnsupportedAlgorithm = 7,  // an algorithm or type identifier this code does not know
  kUnsupported = 8,           // the platform lacks the feature (no TEE, old kernel)
  kSignatureInvalid = 9,      // a signature does not verify
  kCertificateInvalid = 10,   // a certificate cannot be parsed or its chain does not link
  kCertificateExpired = 11,   // a certificate is outside its validity at the verification time
  kUntrustedRoot = 12,        // the chain ends at a root that is not the trusted one
  kPolicyViolation = 13,      // evidence is authentic but a policy refuses it (debug, TCB)
  kMeasurementMismatch = 14,  // replayed registers differ from the reported ones
  kDeviceError = 15,          // a kernel interface refused a request (ioctl, configfs)
  kFirmwareError = 16,        // the TEE firmware or quoting service reported an error
  kBusy = 17,                 // a concurrent user changed shared state (configfs generation)
  kDeadlineExceeded = 18,     // an operation did not finish before its deadline
  kCryptoError = 19,          // a cryptographic primitive failed unexpectedly
  kInternal = 20,             // a bug in cc-fde
  // Key broker communication (kbs-client).
  kUnreachable = 21,              // the broker cannot be reached (DNS, refused, reset, no route)
  kTlsTrustFailure = 22,          // the broker's TLS certificate does not verify (CA, host name)
  kPinMismatch = 23,              // the broker's public key does not match the configured pin
  kProtocolVersionMismatch = 24,  // the broker does not speak the protocol version we send
  kAttestationRefused = 25,       // the broker verified the evidence and refused it
  kPolicyDenied = 26,             // the broker's resource policy denies the request
  kResourceNotFound = 27,         // the requested resource does not exist on the broker
  kMalformedResponse = 28,        // a broker response is not what the protocol says
  kDecryptionFailed = 29,         // a wrapped key (JWE, ITA) does not decrypt or authenticate
  // Volumes, configuration and unlocking (agent).
  kNotLuks2 = 30,             // the device holds no LUKS2 header (or another LUKS version)
  kNoToken = 31,              // the volume carries no cc-fde token (or not the one asked for)
  kInvalidToken = 32,         // a cc-fde token in the header breaks the token schema
  kConfigInvalid = 33,        // the agent configuration (file or kernel command line) is wrong
  kUnknownProfile = 34,       // a token names a broker profile the configuration does not define
  kKeyRejected = 35,          // a key opens none of the keyslots it should open
  kLastCredential = 36,       // the change would remove the last way to open the volume
  kUnfinishedOperation = 37,  // an interrupted enroll/rotate/unbind must be completed first
  kActivationFailed = 38,     // device-mapper activation failed although the key is right
  // Key broker communication, added later (kbs-client).
  kSessionRejected = 39,  // the broker no longer accepts the attestation session or its token
  kBrokerInternal = 40,   // the broker failed internally (its storage, policy engine, plugins)
  // Attestation collateral (TDX TCB Info, QE Identity, CRLs).
  kCertificateRevoked = 41,  // a certificate is listed in its issuer's CRL
  kCollateralExpired = 42,   // collateral is outside its issue..next-update window
  kCollateralMismatch = 43,  // collateral does not describe this evidence (FMSPC, QE, TCB level)
};

// The stable lowercase name of a code ("invalid_argument"), for logs and JSON output.
std::string_view error_code_name(ErrorCode code) noexcept;

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  // An error. `code` must not be kOk.
  Status(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {
    assert(code != ErrorCode::kOk);
  }

  static Status ok_status() { return Status(); }

  bool ok() const noexcept { return code_ == ErrorCode::kOk; }
  ErrorCode code() const noexcept { return code_; }
  // The errno of the failed system call, 0 when the error did not come from one.
  int sys_errno() const noexcept { return sys_errno_; }
  const std::string& message() const noexcept { return message_; }

  // Returns the same error with `context` prepended: "context: message". OK stays OK.
  Status with_context(std::string_view context) const;

  // "code_name: message (strerror)" or "ok".
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  int sys_errno_ = 0;
  std::string message_;
};

// Builds an error status with a fmt-formatted message.
template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

// Builds an error status carrying `sys_errno` (usually errno right after the failed call).
template <typename... Args>
Status make_errno_error(ErrorCode code, int sys_errno, fmt::format_string<Args...> format,
                        Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...), sys_errno);
}

// A value of type T or an error Status. Construct from a T (success) or from an error Status.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "Result<Status> is meaningless");

 public:
  Result(T value) : storage_(std::in_place_index<1>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : storage_(std::in_place_index<0>, std::move(status)) {  // NOLINT
    assert(!std::get<0>(storage_).ok() && "Result constructed from an OK status");
  }

  bool ok() const noexcept { return storage_.index() == 1; }
  // The error, or an OK status when a value is held.
  Status status() const { return ok() ? Status() : std::get<0>(storage_); }

  // Access to the value; precondition: ok().
  T& value() & { return std::get<1>(storage_); }
  const T& value() const& { return std::get<1>(storage_); }
  T&& value() && { return std::get<1>(std::move(storage_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> storage_;
};

namespace internal {
inline Status to_status(Status status) {
  return status;
}
template <typename T>
Status to_status(const Result<T>& result) {
  return result.status();
}
}  // namespace internal

}  // namespace ccfde

#define CCFDE_CONCAT_INNER(a, b) a##b
#define CCFDE_CONCAT(a, b) CCFDE_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Status or Result) from the enclosing function.
#define CCFDE_RETURN_IF_ERROR(expr)                                     \
  do {                                                                  \
    ::ccfde::Status ccfde_status_ = ::ccfde::internal::to_status(expr); \
    if (!ccfde_status_.ok()) return ccfde_status_;                      \
  } while (false)

// Evaluates `expr` (a Result<T>); on error returns its status, else moves the value into `lhs`
// (a declaration such as `auto x` or an existing variable).
#define CCFDE_ASSIGN_OR_RETURN(lhs, expr) \
  CCFDE_ASSIGN_OR_RETURN_IMPL(CCFDE_CONCAT(ccfde_result_, __LINE__), lhs, expr)
// `tmp` is a variable name and `lhs` may be a declaration: neither can take parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define CCFDE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

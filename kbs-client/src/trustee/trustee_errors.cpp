// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/trustee_errors.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/trustee_messages.h"

namespace ccfde::kbs_client {
namespace {

constexpr std::size_t kMaxDetail = 512;

// Sorted by variant (find_trustee_error_kind searches it by bisection). Variants that only a
// starting broker or its admin and metrics endpoints produce are listed too, so that a broker
// answering with one is named precisely rather than as unknown.
constexpr std::array kKinds = {
    TrusteeErrorKind{"AdminAuthAccess", ErrorCode::kPolicyDenied,
                     "the broker refused the admin credentials", false},
    // Trustee converts a refused admin token on a plugin request (a resource upload) into this
    // variant through its From impl, so it is a refusal, not a broker start-up failure.
    TrusteeErrorKind{"AdminAuthInitialization", ErrorCode::kPolicyDenied,
                     "the broker refused the admin credentials", false},
    // A protocol version mismatch also arrives as AttestationError (status_from_broker_error
    // tells it from the detail).
    TrusteeErrorKind{"AttestationError", ErrorCode::kAttestationRefused,
                     "the broker refused the attestation", false},
    TrusteeErrorKind{"HTTPFailed", ErrorCode::kBrokerInternal, "the broker's HTTP server failed",
                     false},
    TrusteeErrorKind{"HTTPSFailed", ErrorCode::kBrokerInternal, "the broker's HTTPS server failed",
                     false},
    TrusteeErrorKind{"InvalidRequestPath", ErrorCode::kInvalidArgument,
                     "the broker refuses the request path", false},
    // Encrypting the resource to the session's TEE key failed: a key type or algorithm the broker
    // does not support; a new session brings the same key type.
    TrusteeErrorKind{"JweError", ErrorCode::kUnsupportedAlgorithm,
                     "the broker cannot encrypt the resource to the TEE key", false},
    TrusteeErrorKind{"ParsePolicyError", ErrorCode::kInvalidArgument,
                     "the broker cannot parse the policy sent to it", false},
    // Trustee's resource storage backends report a missing resource as a plugin failure, and the
    // detail does not carry the cause.
    TrusteeErrorKind{"PluginInternalError", ErrorCode::kResourceNotFound,
                     "resource not found, or the broker's resource plugin failed (Trustee reports "
                     "both alike)",
                     false},
    TrusteeErrorKind{"PluginManagerInitialization", ErrorCode::kBrokerInternal,
                     "the broker's plugins failed to start", false},
    TrusteeErrorKind{"PluginNotFound", ErrorCode::kResourceNotFound,
                     "the broker has no plugin for the path (resource plugin not enabled?)", false},
    TrusteeErrorKind{"PolicyDeny", ErrorCode::kPolicyDenied, "denied by the broker policy", false},
    TrusteeErrorKind{"PolicyEngineError", ErrorCode::kBrokerInternal,
                     "the broker's policy engine failed", false},
    TrusteeErrorKind{"PrometheusError", ErrorCode::kBrokerInternal, "the broker's metrics failed",
                     false},
    TrusteeErrorKind{"RvpsError", ErrorCode::kBrokerInternal,
                     "the broker's reference value service failed", false},
    TrusteeErrorKind{"SerdeError", ErrorCode::kBrokerInternal,
                     "the broker failed to serialise its answer", false},
    TrusteeErrorKind{"StorageBackendInitialization", ErrorCode::kBrokerInternal,
                     "the broker's storage failed to start", false},
    // No session for the cookie (expired, or dropped by the broker) and no bearer token.
    TrusteeErrorKind{"TokenNotFound", ErrorCode::kSessionRejected,
                     "the broker has no attestation session or token for the request", true},
    // The session's attestation token does not verify (expired, signer no longer trusted) or
    // carries no usable TEE public key.
    TrusteeErrorKind{"TokenVerifierError", ErrorCode::kSessionRejected,
                     "the broker does not accept the session's attestation token", true},
};

static_assert(std::is_sorted(kKinds.begin(), kKinds.end(),
                             [](const TrusteeErrorKind& a, const TrusteeErrorKind& b) {
                               return a.variant < b.variant;
                             }));

// Broker text made safe for a message: escaped and cut.
std::string excerpt(std::string_view text) {
  std::string out = escape_nonprintable(text.substr(0, kMaxDetail));
  if (text.size() > kMaxDetail) out += "...";
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](unsigned char a, unsigned char b) {
                       return std::tolower(a) == std::tolower(b);
                     }) != haystack.end();
}

}  // namespace

std::span<const TrusteeErrorKind> trustee_error_kinds() {
  return kKinds;
}

const TrusteeErrorKind* find_trustee_error_kind(std::string_view variant) {
  const auto it = std::lower_bound(
      kKinds.begin(), kKinds.end(), variant,
      [](const TrusteeErrorKind& kind, std::string_view name) { return kind.variant < name; });
  return it != kKinds.end() && it->variant == variant ? &*it : nullptr;
}

Status status_from_broker_error(std::string_view endpoint, long http_status,
                                std::string_view body) {
  auto info = parse_error_information(body);
  if (!info.ok()) {
    if (http_status == 404) {
      return make_error(ErrorCode::kResourceNotFound, "{}: HTTP 404 (not found){}", endpoint,
                        body.empty() ? "" : ": " + excerpt(body));
    }
    return make_error(ErrorCode::kMalformedResponse,
                      "{}: HTTP {} with a body that is not ErrorInformation ({}): \"{}\"", endpoint,
                      http_status, info.status().message(), excerpt(body));
  }
  const std::string variant = info->variant();
  const auto error = [&](ErrorCode code, std::string_view meaning) {
    return make_error(code, "{}: {} (HTTP {}, {}): {}", endpoint, meaning, http_status,
                      excerpt(variant), excerpt(info->detail));
  };
  const TrusteeErrorKind* kind = find_trustee_error_kind(variant);
  if (kind == nullptr) {
    return error(ErrorCode::kAttestationRefused,
                 fmt::format("refused by the broker with an error type this client does not know "
                             "(\"{}\")",
                             excerpt(info->type)));
  }
  // Trustee reports "KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is x"
  // as an AttestationError from /auth.
  if (kind->variant == "AttestationError" && contains_ci(info->detail, "version mismatch")) {
    return error(
        ErrorCode::kProtocolVersionMismatch,
        fmt::format("the broker does not accept KBS protocol version {}", kTrusteeProtocolVersion));
  }
  return error(kind->code, kind->meaning);
}

bool broker_error_needs_new_session(long http_status, std::string_view body) {
  if (http_status != 401) return false;
  auto info = parse_error_information(body);
  if (!info.ok()) return true;
  const TrusteeErrorKind* kind = find_trustee_error_kind(info->variant());
  return kind == nullptr || kind->new_session_helps;
}

}  // namespace ccfde::kbs_client

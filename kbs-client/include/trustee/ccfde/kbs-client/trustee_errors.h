// SPDX-License-Identifier: Apache-2.0
// What each Trustee error variant means to the client: the ErrorInformation "type" variants of
// confidential-containers/trustee kbs/src/error.rs @ 78962cd416dcc8a32f9377e0066a28fe21420f69,
// each with the ErrorCode it maps to and whether a new attestation session can change the answer
// (docs/KEY-BROKER.md, "Broker errors").
#pragma once

#include <span>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

struct TrusteeErrorKind {
  std::string_view variant;  // "PolicyDeny": the last path segment of the ErrorInformation type
  ErrorCode code;
  std::string_view meaning;  // for the message: what the broker said, in the client's terms
  bool new_session_helps;    // the session or its token is gone: one new handshake may succeed
};

// Every variant of Trustee's error.rs, sorted by name.
std::span<const TrusteeErrorKind> trustee_error_kinds();

// The entry for `variant` (exact, case-sensitive); nullptr for a variant this client does not know.
const TrusteeErrorKind* find_trustee_error_kind(std::string_view variant);

// Maps a non-2xx broker answer to a Status naming `endpoint` ("POST https://…/kbs/v0/auth") and
// carrying the variant and the broker's detail (escaped, cut to 512 bytes):
//   ErrorInformation with a known variant -> that variant's code, except an AttestationError whose
//   detail reports a protocol version mismatch -> kProtocolVersionMismatch;
//   ErrorInformation with an unknown variant -> kAttestationRefused ("refused by the broker",
//   naming the variant);
//   404 without ErrorInformation -> kResourceNotFound; any other body that is not ErrorInformation
//   -> kMalformedResponse (with the status and the start of the body).
Status status_from_broker_error(std::string_view endpoint, long http_status, std::string_view body);

// Whether a failed request made in a session should be repeated once in a new session: a 401
// whose ErrorInformation variant says the session or token is gone (TokenNotFound,
// TokenVerifierError), an unknown variant, or a body that is not ErrorInformation. Verdicts that
// do not depend on the session (PolicyDeny, AttestationError, missing resource...) are final.
bool broker_error_needs_new_session(long http_status, std::string_view body);

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// The client side of Trustee's RCAR protocol 0.4.0 (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3):
// /auth -> Challenge -> /attest with evidence bound to a fresh TEE key -> session cookie -> GET
// resources, each a JWE encrypted to that key.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/kbs-client/http_transport.h"
#include "ccfde/kbs-client/resource_path.h"
#include "ccfde/kbs-client/retry.h"
#include "ccfde/kbs-client/tee_key.h"
#include "ccfde/kbs-client/trustee_errors.h"
#include "ccfde/kbs-client/trustee_messages.h"

namespace ccfde::kbs_client {

struct TrusteeClientOptions {
  std::string base_url;  // https://kbs.example:8080 (a trailing '/' is ignored)
  TeeKeyType key_type = TeeKeyType::kEcP256;
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{30000};  // per HTTP request, capped by `deadline`
  Deadline deadline;                                 // overall: nothing continues past it
  // Injected functions must be thread-safe when get_resources runs more than one worker.
  std::function<std::uint64_t()> random;  // jitter source (default: OpenSSL RAND_bytes)
  std::function<void(std::chrono::milliseconds)> sleep;  // default: real sleep (tests inject)
  std::function<SteadyClock::time_point()> now;          // default: SteadyClock::now (tests inject)
};

// Makes one more transport (same broker, same trust) for a worker of get_resources. A transport
// serialises its own requests, so concurrent fetches need one each.
using TransportFactory = std::function<Result<std::unique_ptr<HttpTransport>>()>;

// One broker session at a time; not thread-safe. The transport and provider must outlive it.
class TrusteeClient {
 public:
  // Precondition: options.base_url non-empty. Empty random/sleep/now get the real defaults.
  TrusteeClient(HttpTransport& transport, EvidenceProvider& evidence, TrusteeClientOptions options);
  ~TrusteeClient();
  TrusteeClient(const TrusteeClient&) = delete;
  TrusteeClient& operator=(const TrusteeClient&) = delete;

  // Runs the RCAR handshake with a fresh TEE key: POST /auth (Request, version "0.4.0"), parse the
  // Challenge, hash {additional-evidence:"", nonce, tee-pubkey} with the algorithm the challenge's
  // extra-params select, get evidence for that digest, POST /attest with the session cookie, keep
  // the cookie and token. Transient failures (transport kUnreachable or a per-request timeout,
  // HTTP 5xx, 429; Retry-After honoured) are retried with full-jitter backoff until the deadline.
  // Errors: kDeadlineExceeded (the message names the last cause); status_from_broker_error's
  // codes (kProtocolVersionMismatch, kAttestationRefused...); kMalformedResponse (bad Challenge,
  // token, or missing kbs-session-id cookie); transport errors that are not transient
  // (kTlsTrustFailure, kPinMismatch, kInvalidArgument); the evidence provider's and crypto's
  // errors. Every message names the endpoint. On error the client holds no session.
  // With a failover transport (failover_transport.h), a 401 to /attest from another address than
  // the one that began the session (the first went silent in between) runs the handshake once
  // more, wholly at the address that answered.
  Status attest();

  // GET /kbs/v0/resource/<path> with the session cookie (attesting first when there is no
  // session) and decrypts the JWE with the session's key. An answer for which
  // broker_error_needs_new_session holds (session or token gone) re-runs the handshake once and
  // retries; transient failures are retried as in attest().
  // Errors: status_from_broker_error's codes (kResourceNotFound, kPolicyDenied, kSessionRejected,
  // ... with the variant and the broker's detail), kMalformedResponse (body not a JWE object),
  // decrypt_jwe's errors (kDecryptionFailed, kUnsupportedAlgorithm, kMalformedResponse), attest()'s
  // errors.
  Result<SecretBytes> get_resource(const ResourcePath& path);

  // Fetches every resource of `paths` in one attested session; results[i] belongs to paths[i].
  // Attests first when there is no session (a failed attestation gives its status for every
  // valid path). Then up to `parallelism` workers GET and decrypt concurrently: the calling thread
  // with this client's transport, and parallelism-1 threads each with a transport of its own from
  // `make_transport`, which is called on the calling thread before any worker starts (an empty
  // factory, or one that fails, means fewer workers, down to the calling thread alone). An answer
  // for which broker_error_needs_new_session holds marks that resource for one sequential retry
  // after a single new handshake; every other error stays with its resource. Transient failures are
  // retried as in attest(); nothing continues past the deadline.
  // Errors per resource: kInvalidArgument (a path breaking the grammar; nothing is sent for it)
  // and those of get_resource().
  std::vector<Result<SecretBytes>> get_resources(std::span<const ResourcePath> paths,
                                                 unsigned parallelism,
                                                 const TransportFactory& make_transport);

  // Replaces the overall deadline, for a client that keeps its session across several calls.
  void set_deadline(Deadline deadline) { options_.deadline = deadline; }

  // How many handshakes have completed successfully since construction.
  unsigned handshakes() const { return handshakes_; }

  // Whether a session (cookie + key) is held.
  bool has_session() const { return session_.has_value(); }
  // The attestation token of the current session ("" without one).
  const std::string& token() const;

 private:
  struct Session {
    TeeKey key;
    std::string cookie;  // the kbs-session-id value
    std::string token;
  };

  Result<HttpResponse> send_with_retry(HttpTransport& transport, HttpRequest request) const;
  // One GET of `path` (already validated) in `session` over `transport`, decrypted. A 401 other
  // than PolicyDeny sets `session_expired` and returns the broker's error.
  Result<SecretBytes> fetch_in_session(HttpTransport& transport, const Session& session,
                                       const ResourcePath& path, bool& session_expired) const;
  // One handshake; sets `moved_mid_handshake` when /attest was refused with 401 by another
  // broker address than the one that answered /auth (a failover between the two).
  Result<Session> handshake(bool& moved_mid_handshake);
  std::string url(std::string_view path) const;

  HttpTransport& transport_;
  EvidenceProvider& evidence_;
  TrusteeClientOptions options_;
  std::optional<Session> session_;
  unsigned handshakes_ = 0;
};

}  // namespace ccfde::kbs_client

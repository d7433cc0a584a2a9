// SPDX-License-Identifier: Apache-2.0
// Helpers of the loopback integration suite: a request-counting HttpTransport decorator, a TDX
// EvidenceProvider over the synthetic quote generator, TLS helpers (SPKI pins, server certificates
// issued by a given CA, free ports) and the leak check applied to every failure.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/kbs-client/http_transport.h"
#include "ccfde/testing/sample_evidence.h"

namespace ccfde::integration {

// Forwards every request to `inner` and counts them per "METHOD /path" (the URL without scheme
// and authority). Thread-safe.
class CountingTransport : public kbs_client::HttpTransport {
 public:
  explicit CountingTransport(kbs_client::HttpTransport& inner) : inner_(inner) {}

  Result<kbs_client::HttpResponse> send(const kbs_client::HttpRequest& request) override;

  // Requests sent as "METHOD /path" (e.g. "POST /kbs/v0/auth"), 0 when none.
  int count(const std::string& method_and_path) const;
  // Requests sent whose path starts with `prefix` (any method).
  int count_prefix(const std::string& prefix) const;
  int total() const;

 private:
  kbs_client::HttpTransport& inner_;
  mutable std::mutex mutex_;
  std::map<std::string, int> counts_;
};

// A TDX platform emulated with tests/support: every call builds a quote v4 whose REPORTDATA is
// digest || zeros and whose RTMRs are the replay of `events`, signed through `chain`, and sends
// the matching CCEL through kbs_client::build_tdx_evidence.
class SampleTdxProvider : public kbs_client::EvidenceProvider {
 public:
  struct Options {
    std::uint64_t td_attributes = 0;          // bit 0: DEBUG
    std::optional<std::size_t> corrupt_rtmr;  // flip a bit of this RTMR in the quote only
    bool send_event_log = true;
  };

  SampleTdxProvider(const testing::SamplePckChain& chain, Options options);

  measure::TeeKind tee() const override { return measure::TeeKind::kTdx; }
  Result<nlohmann::json> primary_evidence(std::span<const std::uint8_t> digest) override;

  int calls() const { return calls_.load(); }

 private:
  const testing::SamplePckChain& chain_;
  Options options_;
  std::vector<testing::SampleEvent> events_;
  std::atomic<int> calls_{0};
};

// "sha256//<base64 SHA-256 of the SubjectPublicKeyInfo DER>" of the first certificate in the PEM
// file `certificate` (curl's pin form). Fails the test (and returns "") on error.
std::string spki_pin(const std::filesystem::path& certificate);

// Issues an EC P-256 server certificate whose only SAN is `dns_name`, signed by the CA of the PEM
// files `ca_certificate`/`ca_key`; writes <dir>/<stem>.pem and <dir>/<stem>-key.pem and returns
// their paths (certificate, key). Fails the test on error.
std::pair<std::filesystem::path, std::filesystem::path> issue_server_certificate(
    const std::filesystem::path& ca_certificate, const std::filesystem::path& ca_key,
    const std::string& dns_name, const std::filesystem::path& dir, const std::string& stem);

// A loopback TCP port that was free a moment ago (bound to port 0 and released).
int reserve_free_port();

// Asserts that `message` carries none of `secret` as raw bytes, lowercase/uppercase hex, base64
// or base64url.
void expect_no_secret(const std::string& message, std::span<const std::uint8_t> secret);

}  // namespace ccfde::integration

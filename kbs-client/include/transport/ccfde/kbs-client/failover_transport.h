// SPDX-License-Identifier: Apache-2.0
// Several addresses of one broker service (same CA and pins): requests are written against the
// first address and sent to the one that answered last; an address that cannot be reached costs
// one connection attempt (the transport's connect timeout, within the request deadline), then the
// next is tried. Only connection-level failures move to another address, never an HTTP answer.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/kbs-client/http_transport.h"

namespace ccfde::kbs_client {

// Which address of a broker to use, shared by every transport of that broker (and by later
// clients of it in the same process), so that once an address answered the others are not tried
// again first. Thread-safe.
class BrokerAddresses {
 public:
  // Precondition: `base_urls` non-empty ("https://host:port", no trailing '/').
  explicit BrokerAddresses(std::vector<std::string> base_urls);

  const std::vector<std::string>& base_urls() const { return base_urls_; }
  // The index of the address to try first: the one that answered last (0 at the start).
  std::size_t preferred() const;
  // Records that address `index` answered a request.
  void answered(std::size_t index);
  // Adds a line for the log ("https://a:1 unreachable (...); trying https://b:2").
  void note(std::string line);
  // The lines noted since the last call, oldest first.
  std::vector<std::string> take_notes();

 private:
  const std::vector<std::string> base_urls_;
  mutable std::mutex mutex_;
  std::size_t preferred_ = 0;
  std::vector<std::string> notes_;
};

// Wraps `inner`: a request whose URL starts with the first of `addresses`' base URLs is sent to
// the preferred address (same path); when the send fails with kUnreachable (DNS, connection
// refused or reset, connect timeout, TLS handshake cut), the next address is tried in turn while
// the request deadline allows. An HTTP answer of any status, and every other error
// (kTlsTrustFailure, kPinMismatch, kDeadlineExceeded...), is returned as it is: a broker's verdict
// is final, and trust failures are not a reason to look elsewhere. Other URLs pass through
// unchanged. A response names the address that answered (HttpResponse::answered_by), so that a
// client whose session began at another address can tell (trustee_client.h). Errors: the inner
// transport's; when no address could be reached, kUnreachable naming every address: each one tried
// with its failure, the others as not tried before the deadline.
std::unique_ptr<HttpTransport> make_failover_transport(std::unique_ptr<HttpTransport> inner,
                                                       std::shared_ptr<BrokerAddresses> addresses);

}  // namespace ccfde::kbs_client

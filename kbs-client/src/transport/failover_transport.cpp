// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/failover_transport.h"

#include <fmt/format.h>

#include <cassert>
#include <utility>

namespace ccfde::kbs_client {

BrokerAddresses::BrokerAddresses(std::vector<std::string> base_urls)
    : base_urls_(std::move(base_urls)) {
  assert(!base_urls_.empty());
}

std::size_t BrokerAddresses::preferred() const {
  std::lock_guard lock(mutex_);
  return preferred_;
}

void BrokerAddresses::answered(std::size_t index) {
  std::lock_guard lock(mutex_);
  if (index < base_urls_.size()) preferred_ = index;
}

void BrokerAddresses::note(std::string line) {
  std::lock_guard lock(mutex_);
  notes_.push_back(std::move(line));
}

std::vector<std::string> BrokerAddresses::take_notes() {
  std::lock_guard lock(mutex_);
  return std::exchange(notes_, {});
}

namespace {

class FailoverTransport final : public HttpTransport {
 public:
  FailoverTransport(std::unique_ptr<HttpTransport> inner,
                    std::shared_ptr<BrokerAddresses> addresses)
      : inner_(std::move(inner)), addresses_(std::move(addresses)) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    const std::vector<std::string>& bases = addresses_->base_urls();
    const std::string& logical = bases.front();
    const bool ours = request.url.compare(0, logical.size(), logical) == 0 &&
                      (request.url.size() == logical.size() || request.url[logical.size()] == '/');
    if (!ours || bases.size() == 1) return inner_->send(request);
    const std::string path = request.url.substr(logical.size());

    // Only connection-level failures move on. A broker's answer (a policy denial, a refused
    // attestation, even a 5xx) is never taken to another address: all of them belong to one
    // service and share its CA and pins, but letting a failure at one address buy a second
    // opinion at another would let whoever controls the network shop for the most lenient
    // broker. Verdicts stay final; only silence is routed around.
    const std::size_t first = addresses_->preferred();
    std::string failures;
    HttpRequest attempt = request;
    for (std::size_t k = 0; k < bases.size(); ++k) {
      const std::size_t index = (first + k) % bases.size();
      attempt.url = bases[index] + path;
      auto response = inner_->send(attempt);
      if (response.ok()) {
        response->answered_by = bases[index];
        if (index != first) {
          addresses_->answered(index);
          addresses_->note(
              fmt::format("broker address {} answered; using it from now on", bases[index]));
        }
        return response;
      }
      if (response.status().code() != ErrorCode::kUnreachable) return response;
      failures += fmt::format("{}{}: {}", failures.empty() ? "" : "; ", bases[index],
                              response.status().message());
      const bool last = k + 1 == bases.size();
      if (last) break;
      if (SteadyClock::now() >= request.deadline) {
        // Name the addresses the deadline left untried, so that the operator reading the
        // error sees every configured broker and knows which were never reached.
        for (std::size_t j = k + 1; j < bases.size(); ++j) {
          failures +=
              fmt::format("; {}: not tried before the deadline", bases[(first + j) % bases.size()]);
        }
        break;
      }
      addresses_->note(fmt::format("broker address {} is unreachable ({}); trying {}", bases[index],
                                   response.status().message(), bases[(index + 1) % bases.size()]));
    }
    return make_error(ErrorCode::kUnreachable, "{} {}: no broker address answered: {}",
                      request.method, request.url, failures);
  }

 private:
  std::unique_ptr<HttpTransport> inner_;
  std::shared_ptr<BrokerAddresses> addresses_;
};

}  // namespace

std::unique_ptr<HttpTransport> make_failover_transport(std::unique_ptr<HttpTransport> inner,
                                                       std::shared_ptr<BrokerAddresses> addresses) {
  return std::make_unique<FailoverTransport>(std::move(inner), std::move(addresses));
}

}  // namespace ccfde::kbs_client

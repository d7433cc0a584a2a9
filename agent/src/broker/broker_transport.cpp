// SPDX-License-Identifier: Apache-2.0
#include "broker_transport.h"

#include <map>
#include <mutex>
#include <utility>

namespace ccfde::agent::broker_internal {

kbs_client::TransportOptions transport_options(const BrokerProfile& profile) {
  kbs_client::TransportOptions options;
  options.ca_file = profile.ca_file;
  options.pinned_public_keys = profile.pins;
  options.client_certificate = profile.client_certificate;
  options.client_key = profile.client_key;
  options.proxy = profile.proxy;
  options.connect_timeout = profile.connect_timeout;
  options.insecure_http = false;
  return options;
}

std::shared_ptr<kbs_client::BrokerAddresses> profile_addresses(const BrokerProfile& profile) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::vector<std::string>>,
                  std::shared_ptr<kbs_client::BrokerAddresses>>
      known;
  std::lock_guard lock(mutex);
  auto& addresses = known[{profile.name, profile.urls}];
  if (!addresses) addresses = std::make_shared<kbs_client::BrokerAddresses>(profile.urls);
  return addresses;
}

Result<std::unique_ptr<kbs_client::HttpTransport>> make_profile_transport(
    const BrokerProfile& profile) {
  if (profile.urls.empty()) {
    return make_error(ErrorCode::kConfigInvalid, "broker profile \"{}\": no broker URL",
                      profile.name);
  }
  auto transport = kbs_client::make_curl_transport(transport_options(profile));
  if (transport.ok()) {
    return kbs_client::make_failover_transport(std::move(transport).value(),
                                               profile_addresses(profile));
  }
  const Status& status = transport.status();
  if (status.code() == ErrorCode::kInvalidArgument || status.code() == ErrorCode::kNotFound) {
    return make_error(ErrorCode::kConfigInvalid, "broker profile \"{}\": {}", profile.name,
                      status.message());
  }
  return status.with_context(fmt::format("broker profile \"{}\"", profile.name));
}

}  // namespace ccfde::agent::broker_internal

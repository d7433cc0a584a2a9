// SPDX-License-Identifier: Apache-2.0
// The transport a broker profile describes, shared by key fetching and admin uploads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/failover_transport.h"
#include "ccfde/kbs-client/http_transport.h"

namespace ccfde::agent::broker_internal {

// TransportOptions of `profile`: its CA, pins, client certificate and key, proxy and connect
// timeout; never plain HTTP, never the system trust store.
kbs_client::TransportOptions transport_options(const BrokerProfile& profile);

// The address memory of `profile`, one per profile name and address list for the whole process:
// every transport of the profile, and every later broker made for it (later volumes), start at
// the address that answered last.
std::shared_ptr<kbs_client::BrokerAddresses> profile_addresses(const BrokerProfile& profile);

// A curl transport for `profile`: requests are written against profile.urls.front() and go to
// the profile's addresses as make_failover_transport says. Errors: kConfigInvalid naming the
// profile (no URL, CA or client files missing, a bad pin, one of certificate/key), kInternal
// (libcurl).
Result<std::unique_ptr<kbs_client::HttpTransport>> make_profile_transport(
    const BrokerProfile& profile);

}  // namespace ccfde::agent::broker_internal

// SPDX-License-Identifier: Apache-2.0
// The transport a broker profile describes, shared by key fetching and admin uploads.
#pragma once

#include <memory>

#include "ccfde/agent/config.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/http_transport.h"

namespace ccfde::agent::broker_internal {

// TransportOptions of `profile`: its CA, pins, client certificate and key, proxy and connect
// timeout; never plain HTTP, never the system trust store.
kbs_client::TransportOptions transport_options(const BrokerProfile& profile);

// A curl transport for `profile`. Errors: kConfigInvalid naming the profile (CA or client files
// missing, a bad pin, one of certificate/key), kInternal (libcurl).
Result<std::unique_ptr<kbs_client::HttpTransport>> make_profile_transport(
    const BrokerProfile& profile);

}  // namespace ccfde::agent::broker_internal

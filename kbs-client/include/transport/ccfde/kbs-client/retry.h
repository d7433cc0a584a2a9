// SPDX-License-Identifier: Apache-2.0
// Retry decisions for the key-broker client: exponential backoff with full jitter, which
// failures are transient, and the Retry-After header. Pure functions; the caller owns the clock,
// the random source and the sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

struct RetryPolicy {
  std::chrono::milliseconds initial_delay{500};
  std::chrono::milliseconds max_delay{30000};
  double multiplier = 2.0;
};

// Full jitter: uniform in [0, min(max_delay, initial_delay * multiplier^attempt)] milliseconds,
// attempt counted from 0, chosen by `random` (any 64-bit value, e.g. from the OS). Different
// random values spread VMs that fail at the same moment over the whole window. Never overflows:
// a multiplier below 1 (or NaN) counts as 1, negative durations as 0, and the ceiling is clamped
// to max_delay before it is converted back to an integer.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt,
                                        std::uint64_t random);

// True for statuses worth retrying: 429 Too Many Requests and every 5xx.
bool is_transient_http_status(long status);

// True for transport failures worth retrying: kUnreachable and kDeadlineExceeded. The latter is
// transient only for one request's own timeout; the caller stops at its overall deadline.
bool is_transient_error(const Status& status);

// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds ("120") or an HTTP-date in
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") or one of the obsolete forms (RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"), parsed by libcurl's
// curl_getdate (which also takes looser dates: other zone names, a missing time). A date is
// turned into the delay from `now`, rounded up, and 0 when it is in the past. Surrounding spaces
// and tabs are ignored. nullopt when the value is empty, malformed or out of range.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace ccfde::kbs_client

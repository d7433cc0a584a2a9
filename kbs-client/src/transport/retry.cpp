// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/retry.h"

#include <curl/curl.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace ccfde::kbs_client {
namespace {

using namespace std::chrono;

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt, std::uint64_t random) {
  const std::int64_t initial = std::max<std::int64_t>(0, policy.initial_delay.count());
  const std::int64_t cap = std::max<std::int64_t>(0, policy.max_delay.count());
  const double multiplier = policy.multiplier >= 1.0 ? policy.multiplier : 1.0;  // NaN -> 1
  std::uint64_t ceiling = static_cast<std::uint64_t>(cap);
  if (initial == 0) {
    ceiling = 0;
  } else {
    const double grown = static_cast<double>(initial) * std::pow(multiplier, attempt);
    if (grown < static_cast<double>(cap)) ceiling = static_cast<std::uint64_t>(grown);
  }
  // ceiling <= INT64_MAX, so ceiling + 1 neither overflows nor is 0.
  return milliseconds(static_cast<std::int64_t>(random % (ceiling + 1)));
}

bool is_transient_http_status(long status) {
  return status == 429 || (status >= 500 && status <= 599);
}

bool is_transient_error(const Status& status) {
  return status.code() == ErrorCode::kUnreachable || status.code() == ErrorCode::kDeadlineExceeded;
}

std::optional<seconds> parse_retry_after(std::string_view value, system_clock::time_point now) {
  const std::string_view text = trim_ows(value);
  if (text.empty()) return std::nullopt;
  if (text.front() >= '0' && text.front() <= '9') {
    std::int64_t delay = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), delay);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return seconds(delay);
  }
  // An HTTP-date, in any of the forms libcurl's date parser knows (the one curl uses for its own
  // Retry-After and cookie dates); -1 when it is not a date.
  const std::string date_text(text);
  const std::time_t parsed = curl_getdate(date_text.c_str(), nullptr);
  if (parsed == -1) return std::nullopt;
  const sys_seconds date(seconds(static_cast<std::int64_t>(parsed)));
  if (date <= now) return seconds(0);
  return ceil<seconds>(date - now);
}

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/retry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

namespace ccfde::kbs_client {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(BackoffDelay, StaysWithinTheGrowingWindow) {
  const RetryPolicy policy{milliseconds(500), milliseconds(30000), 2.0};
  std::mt19937_64 random(12345);
  // Ceilings 500, 1000, 2000, 4000, 8000, 16000, then the 30000 cap.
  const std::int64_t ceilings[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (unsigned attempt = 0; attempt < std::size(ceilings); ++attempt) {
    std::int64_t largest = 0;
    for (int i = 0; i < 2000; ++i) {
      const auto delay = backoff_delay(policy, attempt, random());
      ASSERT_GE(delay.count(), 0) << "attempt " << attempt;
      ASSERT_LE(delay.count(), ceilings[attempt]) << "attempt " << attempt;
      largest = std::max(largest, delay.count());
    }
    // Full jitter uses the whole window, not a fixed fraction of it.
    EXPECT_GT(largest, ceilings[attempt] * 9 / 10) << "attempt " << attempt;
  }
}

TEST(BackoffDelay, ExtremeRandomValuesHitTheWindowEdges) {
  const RetryPolicy policy{milliseconds(100), milliseconds(1000), 3.0};
  EXPECT_EQ(backoff_delay(policy, 0, 0).count(), 0);
  EXPECT_EQ(backoff_delay(policy, 0, 100).count(), 100);    // 100 % 101
  EXPECT_EQ(backoff_delay(policy, 1, 300).count(), 300);    // 100 * 3
  EXPECT_EQ(backoff_delay(policy, 2, 900).count(), 900);    // 100 * 9
  EXPECT_EQ(backoff_delay(policy, 3, 1000).count(), 1000);  // 2700 capped at 1000
  EXPECT_EQ(backoff_delay(policy, 3, 1001).count(), 0);
}

TEST(BackoffDelay, MeanGrowsUntilTheCap) {
  const RetryPolicy policy{milliseconds(200), milliseconds(5000), 2.0};
  std::mt19937_64 random(7);
  double previous_mean = 0;
  for (unsigned attempt = 0; attempt < 5; ++attempt) {  // ceilings 200 .. 3200
    double sum = 0;
    for (int i = 0; i < 4000; ++i)
      sum += static_cast<double>(backoff_delay(policy, attempt, random()).count());
    const double mean = sum / 4000;
    const double expected = 200.0 * std::pow(2.0, attempt) / 2;
    EXPECT_NEAR(mean, expected, expected * 0.1) << "attempt " << attempt;
    EXPECT_GT(mean, previous_mean);
    previous_mean = mean;
  }
}

TEST(BackoffDelay, DifferentRandomInputsGiveDifferentDelays) {
  // Two VMs failing at the same moment with the same attempt count must not retry in lockstep.
  const RetryPolicy policy{};
  EXPECT_NE(backoff_delay(policy, 3, 1234567), backoff_delay(policy, 3, 7654321));
  std::set<std::int64_t> distinct;
  std::mt19937_64 random(99);
  for (int i = 0; i < 100; ++i) distinct.insert(backoff_delay(policy, 4, random()).count());
  EXPECT_GT(distinct.size(), 90u);
  // Same input, same output: the function holds no state.
  EXPECT_EQ(backoff_delay(policy, 4, 42), backoff_delay(policy, 4, 42));
}

TEST(BackoffDelay, HugeAttemptsAndOddPoliciesDoNotOverflow) {
  const RetryPolicy policy{milliseconds(500), milliseconds(30000), 2.0};
  EXPECT_LE(backoff_delay(policy, 100000, kMax).count(), 30000);
  EXPECT_EQ(backoff_delay(policy, 100000, 30000).count(), 30000);
  const RetryPolicy huge{milliseconds(std::numeric_limits<std::int64_t>::max()),
                         milliseconds(std::numeric_limits<std::int64_t>::max()), 1e300};
  EXPECT_GE(backoff_delay(huge, 5000, kMax).count(), 0);
  const RetryPolicy shrinking{milliseconds(1000), milliseconds(30000), 0.5};  // treated as 1
  EXPECT_EQ(backoff_delay(shrinking, 10, 1000).count(), 1000);
  const RetryPolicy not_a_number{milliseconds(1000), milliseconds(30000),
                                 std::numeric_limits<double>::quiet_NaN()};
  EXPECT_EQ(backoff_delay(not_a_number, 10, 1000).count(), 1000);
  const RetryPolicy negative{milliseconds(-5), milliseconds(-5), 2.0};
  EXPECT_EQ(backoff_delay(negative, 3, kMax).count(), 0);
  const RetryPolicy initial_above_cap{milliseconds(5000), milliseconds(1000), 2.0};
  EXPECT_EQ(backoff_delay(initial_above_cap, 0, 1000).count(), 1000);
  EXPECT_LE(backoff_delay(initial_above_cap, 0, kMax).count(), 1000);
}

TEST(TransientClassification, HttpStatuses) {
  EXPECT_TRUE(is_transient_http_status(429));
  EXPECT_TRUE(is_transient_http_status(500));
  EXPECT_TRUE(is_transient_http_status(502));
  EXPECT_TRUE(is_transient_http_status(503));
  EXPECT_TRUE(is_transient_http_status(599));
  EXPECT_FALSE(is_transient_http_status(200));
  EXPECT_FALSE(is_transient_http_status(302));
  EXPECT_FALSE(is_transient_http_status(400));
  EXPECT_FALSE(is_transient_http_status(401));
  EXPECT_FALSE(is_transient_http_status(403));
  EXPECT_FALSE(is_transient_http_status(404));
  EXPECT_FALSE(is_transient_http_status(600));
  EXPECT_FALSE(is_transient_http_status(0));
}

TEST(TransientClassification, Errors) {
  EXPECT_TRUE(is_transient_error(Status(ErrorCode::kUnreachable, "refused")));
  EXPECT_TRUE(is_transient_error(Status(ErrorCode::kDeadlineExceeded, "timeout")));
  for (const ErrorCode code :
       {ErrorCode::kTlsTrustFailure, ErrorCode::kPinMismatch, ErrorCode::kPolicyDenied,
        ErrorCode::kAttestationRefused, ErrorCode::kMalformedResponse, ErrorCode::kInvalidArgument,
        ErrorCode::kProtocolVersionMismatch, ErrorCode::kResourceNotFound,
        ErrorCode::kDecryptionFailed}) {
    EXPECT_FALSE(is_transient_error(Status(code, "x"))) << static_cast<int>(code);
  }
  EXPECT_FALSE(is_transient_error(Status()));
}

// 1994-11-06T08:49:37Z, the RFC's example date.
const system_clock::time_point kExampleDate =
    std::chrono::sys_days(std::chrono::year(1994) / 11 / 6) + std::chrono::hours(8) +
    std::chrono::minutes(49) + seconds(37);

TEST(ParseRetryAfter, Seconds) {
  const auto now = system_clock::now();
  EXPECT_EQ(parse_retry_after("120", now), seconds(120));
  EXPECT_EQ(parse_retry_after("0", now), seconds(0));
  EXPECT_EQ(parse_retry_after("  7\t", now), seconds(7));
  EXPECT_EQ(parse_retry_after("9223372036854775807", now), seconds(9223372036854775807));
}

TEST(ParseRetryAfter, ImfFixdate) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate - seconds(90)),
            seconds(90));
  // A fraction of a second before the date rounds up.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                              kExampleDate - seconds(10) - milliseconds(300)),
            seconds(11));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate), seconds(0));
  // In the past: retry now.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate + seconds(3600)),
            seconds(0));
  // Across a month and a year boundary.
  const system_clock::time_point new_year_eve =
      std::chrono::sys_days(std::chrono::year(2024) / 12 / 31) + std::chrono::hours(23) +
      std::chrono::minutes(59);
  EXPECT_EQ(parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", new_year_eve), seconds(120));
}

TEST(ParseRetryAfter, ObsoleteDateForms) {
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", kExampleDate - seconds(5)),
            seconds(5));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", kExampleDate - seconds(5)), seconds(5));
  EXPECT_EQ(parse_retry_after("Sun Nov 16 08:49:37 1994", kExampleDate), seconds(10 * 24 * 3600));
}

TEST(ParseRetryAfter, RejectsMalformedValues) {
  const auto now = kExampleDate;
  for (const char* value : {"", "   ", "-5", "+5", "1.5", "12s", "0x10", "99999999999999999999999",
                            "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                            "Sun, 06 Nov 1994 08:60:00 GMT", "tomorrow"}) {
    EXPECT_EQ(parse_retry_after(value, now), std::nullopt) << "'" << value << "'";
  }
}

// Dates are parsed by libcurl (curl_getdate), which is more lenient than RFC 9110's grammar: it
// accepts other zone names, one-digit days, two-digit years, a missing time or seconds, lower
// case and unknown trailing words. Harmless for Retry-After, whose delay the caller caps by its
// deadline; these are dates, not errors.
TEST(ParseRetryAfter, LibcurlAcceptsLenientDates) {
  for (const char* value :
       {"Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing", "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT", "Sun, 06 Nov 1994", "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994"}) {
    EXPECT_TRUE(parse_retry_after(value, kExampleDate - std::chrono::hours(48)).has_value())
        << "'" << value << "'";
  }
}

}  // namespace
}  // namespace ccfde::kbs_client

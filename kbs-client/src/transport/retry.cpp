#include "ccfde/kbs/retry.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace ccfde::kbs {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> kShortDays = {"Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A forward-only cursor over the text of an HTTP-date; every step fails rather than read past
// the end.
class DateCursor {
 public:
  explicit DateCursor(std::string_view text) : text_(text) {}

  bool literal(std::string_view expected) {
    if (text_.substr(pos_, expected.size()) != expected) return false;
    pos_ += expected.size();
    return true;
  }

  // Exactly `count` decimal digits.
  bool digits(std::size_t count, int& out) {
    if (text_.size() - pos_ < count) return false;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = text_[pos_ + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    out = value;
    return true;
  }

  // One of `names`; `index` is its position.
  template <std::size_t N>
  bool name(const std::array<std::string_view, N>& names, std::size_t& index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = i;
        return true;
      }
    }
    return false;
  }

  // "HH:MM:SS"
  bool time_of_day(seconds& out) {
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!digits(2, hour) || !literal(":") || !digits(2, minute) || !literal(":") ||
        !digits(2, second) || hour > 23 || minute > 59 || second > 60) {
      return false;
    }
    out = hours(hour) + minutes(minute) + seconds(second);
    return true;
  }

  bool at_end() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<sys_seconds> make_time(int year, std::size_t month_index, int day, seconds time) {
  const year_month_day date{std::chrono::year(year),
                            std::chrono::month(static_cast<unsigned>(month_index + 1)),
                            std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return sys_days(date) + time;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (after the day name and the comma).
std::optional<sys_seconds> parse_imf_fixdate(DateCursor& cursor) {
  int day = 0;
  std::size_t month = 0;
  int year = 0;
  seconds time{};
  if (!cursor.literal(" ") || !cursor.digits(2, day) || !cursor.literal(" ") ||
      !cursor.name(kMonths, month) || !cursor.literal(" ") || !cursor.digits(4, year) ||
      !cursor.literal(" ") || !cursor.time_of_day(time) || !cursor.literal(" GMT") ||
      !cursor.at_end()) {
    return std::nullopt;
  }
  return make_time(year, month, day, time);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (after the day name and the comma). A two-digit year
// more than 50 years in the future means the most recent past year with those digits
// (RFC 9110 §5.6.7).
std::optional<sys_seconds> parse_rfc850_date(DateCursor& cursor, int current_year) {
  int day = 0;
  std::size_t month = 0;
  int two_digit_year = 0;
  seconds time{};
  if (!cursor.literal(" ") || !cursor.digits(2, day) || !cursor.literal("-") ||
      !cursor.name(kMonths, month) || !cursor.literal("-") || !cursor.digits(2, two_digit_year) ||
      !cursor.literal(" ") || !cursor.time_of_day(time) || !cursor.literal(" GMT") ||
      !cursor.at_end()) {
    return std::nullopt;
  }
  int year = current_year / 100 * 100 + two_digit_year;
  if (year > current_year + 50) year -= 100;
  return make_time(year, month, day, time);
}

// asctime: "Sun Nov  6 08:49:37 1994" (after the day name).
std::optional<sys_seconds> parse_asctime_date(DateCursor& cursor) {
  std::size_t month = 0;
  int day = 0;
  int year = 0;
  seconds time{};
  if (!cursor.literal(" ") || !cursor.name(kMonths, month) || !cursor.literal(" ")) {
    return std::nullopt;
  }
  if (!(cursor.literal(" ") ? cursor.digits(1, day) : cursor.digits(2, day)) ||
      !cursor.literal(" ") || !cursor.time_of_day(time) || !cursor.literal(" ") ||
      !cursor.digits(4, year) || !cursor.at_end()) {
    return std::nullopt;
  }
  return make_time(year, month, day, time);
}

std::optional<sys_seconds> parse_http_date(std::string_view text, system_clock::time_point now) {
  std::size_t day_index = 0;
  {
    DateCursor cursor(text);
    if (cursor.name(kLongDays, day_index) && cursor.literal(",")) {
      const int current_year = static_cast<int>(year_month_day(floor<days>(now)).year());
      return parse_rfc850_date(cursor, current_year);
    }
  }
  DateCursor cursor(text);
  if (!cursor.name(kShortDays, day_index)) return std::nullopt;
  if (cursor.literal(",")) return parse_imf_fixdate(cursor);
  return parse_asctime_date(cursor);
}

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
  const auto date = parse_http_date(text, now);
  if (!date) return std::nullopt;
  if (*date <= now) return seconds(0);
  return ceil<seconds>(*date - now);
}

}  // namespace ccfde::kbs

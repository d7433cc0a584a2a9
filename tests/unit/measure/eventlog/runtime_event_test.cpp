// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/runtime_event.h"

#include <gtest/gtest.h>

#include <string>

#include "log_builder.h"

namespace ccfde::measure {
namespace {

constexpr std::string_view kId = "0123456789abcdef0123456789abcdef";

TEST(FirstBootEvent, TextAndIdRoundTrip) {
  auto text = first_boot_event_text(kId);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "cc-fde first-boot 0123456789abcdef0123456789abcdef");
  EXPECT_EQ(first_boot_id_of(*text), std::string(kId));
}

TEST(FirstBootEvent, MalformedIdsAreRefused) {
  for (const std::string_view id :
       {"", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
        "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcdeg",
        "0123456789abcdef 123456789abcdef"}) {
    EXPECT_FALSE(is_first_boot_id(id)) << id;
    const auto text = first_boot_event_text(id);
    ASSERT_FALSE(text.ok()) << id;
    EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(first_boot_id_of(std::string(kFirstBootEventPrefix) + std::string(id)), std::nullopt)
        << id;
  }
}

TEST(FirstBootEvent, OtherEventsAreNotFirstBootEvents) {
  EXPECT_EQ(first_boot_id_of(kPhaseEndEventText), std::nullopt);
  EXPECT_EQ(first_boot_id_of(std::string("cc-fde first-boot") + std::string(kId)), std::nullopt);
  EXPECT_EQ(first_boot_id_of(std::string(" cc-fde first-boot ") + std::string(kId)), std::nullopt);
}

TEST(FirstBootEvent, RecordVerifiesAsItsText) {
  auto text = first_boot_event_text(kId);
  ASSERT_TRUE(text.ok());
  auto record = make_aael_record(*text);
  ASSERT_TRUE(record.ok()) << record.status().message();
  Bytes bytes = testing::spec_id_header({{kTcgAlgSha384, 48}}, 1);
  bytes.insert(bytes.end(), record->bytes.begin(), record->bytes.end());
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->events.size(), 1U);
  const auto verified = verified_aael_text(log->events[0]);
  ASSERT_TRUE(verified.has_value());
  EXPECT_EQ(first_boot_id_of(*verified), std::string(kId));
}

}  // namespace
}  // namespace ccfde::measure

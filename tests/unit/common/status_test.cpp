// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <set>

namespace ccfde {
namespace {

Result<int> parse_positive(int value) {
  if (value <= 0) return make_error(ErrorCode::kInvalidArgument, "value {} is not positive", value);
  return value;
}

Result<int> doubled(int value) {
  CCFDE_ASSIGN_OR_RETURN(int parsed, parse_positive(value));
  return parsed * 2;
}

Status check_both(int a, int b) {
  CCFDE_RETURN_IF_ERROR(parse_positive(a));
  CCFDE_RETURN_IF_ERROR(parse_positive(b).status().with_context("second"));
  return Status();
}

TEST(Status, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kOk);
  EXPECT_EQ(status.to_string(), "ok");
}

TEST(Status, CarriesCodeMessageAndErrno) {
  Status status = make_errno_error(ErrorCode::kIoError, ENOENT, "cannot open {}", "/x");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kIoError);
  EXPECT_EQ(status.sys_errno(), ENOENT);
  EXPECT_EQ(status.message(), "cannot open /x");
  EXPECT_EQ(status.to_string(), "io_error: cannot open /x (No such file or directory)");
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status status = make_error(ErrorCode::kTruncated, "short").with_context("quote.dat");
  EXPECT_EQ(status.code(), ErrorCode::kTruncated);
  EXPECT_EQ(status.message(), "quote.dat: short");
  EXPECT_TRUE(Status().with_context("x").ok());
}

TEST(Status, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int code = 0; code <= static_cast<int>(ErrorCode::kCollateralMismatch); ++code) {
    auto name = error_code_name(static_cast<ErrorCode>(code));
    EXPECT_NE(name, "unknown") << code;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  EXPECT_TRUE(good.status().ok());

  Result<int> bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "value -1 is not positive");
}

TEST(Result, ReturnIfErrorPropagatesFirstFailure) {
  EXPECT_TRUE(check_both(1, 2).ok());
  EXPECT_EQ(check_both(0, 2).message(), "value 0 is not positive");
  EXPECT_EQ(check_both(1, 0).message(), "second: value 0 is not positive");
}

TEST(Result, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> result(std::make_unique<int>(7));
  ASSERT_TRUE(result.ok());
  std::unique_ptr<int> taken = std::move(result).value();
  EXPECT_EQ(*taken, 7);
}

}  // namespace
}  // namespace ccfde

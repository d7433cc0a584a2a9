// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/guarded_main.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ccfde {
namespace {

int returns_seven(int argc, char** /*argv*/) {
  return argc == 1 ? 7 : 0;
}

int throws_runtime_error(int /*argc*/, char** /*argv*/) {
  throw std::runtime_error("a bug escaped");
}

int throws_an_int(int /*argc*/, char** /*argv*/) {
  throw 42;
}

char program_name[] = "test";
char* argv_one[] = {program_name, nullptr};

TEST(GuardedMain, ReturnsWhatRunMainReturns) {
  EXPECT_EQ(guarded_main("prog", 2, returns_seven, 1, argv_one), 7);
}

TEST(GuardedMain, AnEscapedExceptionIsTheErrorStatusAndAMessage) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(guarded_main("prog", 3, throws_runtime_error, 1, argv_one), 3);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "prog: internal error: a bug escaped\n");
}

TEST(GuardedMain, AnyOtherThrownValueToo) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(guarded_main("prog", 1, throws_an_int, 1, argv_one), 1);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "prog: internal error: unknown exception\n");
}

}  // namespace
}  // namespace ccfde

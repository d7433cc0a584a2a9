// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace ccfde {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST(RunProgram, SuccessAndExitStatus) {
  EXPECT_TRUE(run_program("/bin/true", {}, 10s).ok());
  const Status failed = run_program("/bin/sh", {"-c", "exit 3"}, 10s);
  EXPECT_EQ(failed.code(), ErrorCode::kIoError);
  EXPECT_THAT(failed.message(), HasSubstr("/bin/sh exited with status 3"));
}

TEST(RunProgram, OnlyAbsolutePathsThatExist) {
  EXPECT_EQ(run_program("true", {}, 10s).code(), ErrorCode::kInvalidArgument);
  const Status missing = run_program("/nonexistent/mkfs.none", {}, 10s);
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/mkfs.none"));
}

TEST(RunProgram, FixedEnvironmentAndNoInput) {
  // HOME and everything else of the caller's environment are gone; standard input is at its end.
  EXPECT_TRUE(run_program("/bin/sh",
                          {"-c",
                           "test -z \"${HOME:-}\" && test \"$LC_ALL\" = C && "
                           "test \"$PATH\" = /usr/sbin:/usr/bin:/sbin:/bin && ! read -r line"},
                          10s)
                  .ok());
}

TEST(RunProgram, KilledAtTheTimeout) {
  const auto started = std::chrono::steady_clock::now();
  const Status late = run_program("/bin/sleep", {"30"}, 200ms);
  EXPECT_EQ(late.code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(late.message(), HasSubstr("killed"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

TEST(RunProgram, KilledBySignalIsNamed) {
  const Status killed = run_program("/bin/sh", {"-c", "kill -TERM $$"}, 10s);
  EXPECT_EQ(killed.code(), ErrorCode::kIoError);
  EXPECT_THAT(killed.message(), HasSubstr("signal 15"));
}

}  // namespace
}  // namespace ccfde

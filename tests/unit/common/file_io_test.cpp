// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>

#include "ccfde/common/encoding.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/testing/testdata.h"

namespace ccfde {
namespace {

TEST(FileIo, WriteThenReadBack) {
  testing::TempDir dir;
  auto path = dir.path() / "blob";
  ASSERT_TRUE(write_file(path, as_bytes("hello\n")).ok());
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(as_chars(*bytes), "hello\n");
  auto text = read_text_attribute(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello");
}

TEST(FileIo, MissingFileIsNotFoundWithErrno) {
  testing::TempDir dir;
  auto bytes = read_file(dir.path() / "absent");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(bytes.status().sys_errno(), ENOENT);
  EXPECT_NE(bytes.status().message().find("absent"), std::string::npos);
}

TEST(FileIo, SizeCapIsEnforced) {
  testing::TempDir dir;
  auto path = dir.path() / "big";
  ASSERT_TRUE(write_file(path, std::vector<std::uint8_t>(100, 0xaa)).ok());
  auto capped = read_file(path, 99);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(read_file(path, 100).ok());
}

TEST(FileIo, WriteAttributeNeedsAnExistingFile) {
  testing::TempDir dir;
  auto status = write_attribute(dir.path() / "inblob", as_bytes("x"));
  EXPECT_EQ(status.code(), ErrorCode::kNotFound);
  ASSERT_TRUE(write_file(dir.path() / "inblob", {}).ok());
  EXPECT_TRUE(write_attribute(dir.path() / "inblob", as_bytes("abc")).ok());
  EXPECT_EQ(as_chars(*read_file(dir.path() / "inblob")), "abc");
}

TEST(FileIo, WriteAllAndReadAllRoundTripThroughADescriptor) {
  testing::TempDir dir;
  const auto path = dir.path() / "blob";
  Bytes content(40000);
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<std::uint8_t>(i * 7);
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd);
    EXPECT_EQ(write_all(fd.get(), content), 0);
    EXPECT_EQ(write_all(fd.get(), {}), 0);
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  Bytes out = {1, 2, 3};  // replaced, not appended to
  // A chunk size that does not divide the size: several reads, the last one short.
  EXPECT_EQ(read_all(fd.get(), out, content.size(), 999), 0);
  EXPECT_EQ(out, content);
}

TEST(FileIo, ReadAllStopsOnceMoreThanTheCapIsRead) {
  testing::TempDir dir;
  const auto path = dir.path() / "big";
  ASSERT_TRUE(write_file(path, Bytes(100, 0x5a)).ok());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  Bytes out;
  // Reads of 10 bytes with a cap of 25: the third read passes the cap and the fourth never
  // happens, so the descriptor stands at offset 30.
  EXPECT_EQ(read_all(fd.get(), out, 25, 10), 0);
  EXPECT_EQ(out, Bytes(30, 0x5a));
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 30);
  // Exactly the cap is not over it.
  ASSERT_EQ(::lseek(fd.get(), 0, SEEK_SET), 0);
  EXPECT_EQ(read_all(fd.get(), out, 100, 7), 0);
  EXPECT_EQ(out.size(), 100u);
}

TEST(FileIo, ReadAllAndWriteAllReturnTheErrno) {
  testing::TempDir dir;
  UniqueFd directory(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(directory);
  Bytes out = {1};
  EXPECT_EQ(read_all(directory.get(), out, 10), EISDIR);
  EXPECT_TRUE(out.empty());

  const auto path = dir.path() / "read-only";
  ASSERT_TRUE(write_file(path, as_bytes("abc")).ok());
  UniqueFd read_only(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(read_only);
  EXPECT_EQ(write_all(read_only.get(), as_bytes("x")), EBADF);
  EXPECT_EQ(as_chars(*read_file(path)), "abc");
}

TEST(FileIo, SecretFileIsReadExactlyWithinItsLimits) {
  testing::TempDir dir;
  auto path = dir.path() / "secret";
  ASSERT_TRUE(write_file(path, as_bytes("pass\n")).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto secret = read_secret_file(path, 16);
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(as_chars(secret->span()), "pass\n");
  auto shared = read_secret_file(path, 16, SecretFileAccess::kOwnerOnly);
  EXPECT_EQ(shared.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(shared.status().message().find("mode 0644"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(read_secret_file(path, 16, SecretFileAccess::kOwnerOnly).ok());
  EXPECT_EQ(read_secret_file(path, 4).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_secret_file(dir.path() / "absent", 16).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(read_secret_file(dir.path(), 16).status().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(write_file(path, {}).ok());
  EXPECT_EQ(read_secret_file(path, 16).status().code(), ErrorCode::kInvalidArgument);
}

TEST(FileIo, SecretFileRefusesAFifoWithoutWaitingForAWriter) {
  testing::TempDir dir;
  const auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return read_secret_file(fifo, 16); });
  const bool returned = reading.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  if (!returned) {
    // Unblocks the open so that the test ends (and fails) instead of hanging.
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  }
  EXPECT_TRUE(returned) << "read_secret_file waited for a writer on " << fifo;
  const auto result = reading.get();
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("not a regular file"), std::string::npos)
      << result.status().to_string();
}

}  // namespace
}  // namespace ccfde

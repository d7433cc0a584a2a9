#include "ccfde/common/file_io.h"

#include <gtest/gtest.h>

#include "ccfde/common/encoding.h"
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

}  // namespace
}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/byte_reader.h"

#include <gtest/gtest.h>

namespace ccfde {
namespace {

const std::uint8_t kBytes[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                               0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

TEST(ByteReader, ReadsLittleEndianInOrder) {
  ByteReader reader(kBytes);
  EXPECT_EQ(*reader.u8("a"), 0x01);
  EXPECT_EQ(*reader.u16le("b"), 0x0302);
  EXPECT_EQ(*reader.u32le("c"), 0x07060504u);
  EXPECT_EQ(*reader.u64le("d"), 0x0f0e0d0c0b0a0908ull);
  EXPECT_TRUE(reader.at_end());
}

TEST(ByteReader, ShortReadNamesFieldOffsetAndSizesAndDoesNotAdvance) {
  ByteReader reader(std::span<const std::uint8_t>(kBytes).first(5), /*base_offset=*/100);
  ASSERT_TRUE(reader.u8("first").ok());
  auto value = reader.u64le("digest size");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), ErrorCode::kTruncated);
  EXPECT_EQ(value.status().message(), "digest size at offset 101 needs 8 bytes, only 4 left");
  EXPECT_EQ(reader.position(), 1u);
  EXPECT_EQ(*reader.u32le("rest"), 0x05040302u);
}

TEST(ByteReader, BytesArrayAndSkip) {
  ByteReader reader(kBytes);
  auto first = reader.array<3>("head");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)[2], 0x03);
  ASSERT_TRUE(reader.skip(2, "gap").ok());
  auto view = reader.bytes(4, "body");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->front(), 0x06);
  EXPECT_EQ(reader.offset(), 9u);
  EXPECT_FALSE(reader.skip(7, "too far").ok());
  EXPECT_EQ(reader.remaining(), 6u);
}

TEST(ByteReader, HugeCountDoesNotOverflow) {
  ByteReader reader(kBytes);
  ASSERT_TRUE(reader.skip(1, "x").ok());
  EXPECT_FALSE(reader.bytes(SIZE_MAX, "huge").ok());
  EXPECT_FALSE(reader.skip(SIZE_MAX, "huge").ok());
}

TEST(ByteReader, LoadHelpers) {
  EXPECT_EQ(load_u16le(kBytes, 1), 0x0302);
  EXPECT_EQ(load_u32le(kBytes, 0), 0x04030201u);
  EXPECT_EQ(load_u64le(kBytes, 7), 0x0f0e0d0c0b0a0908ull);
}

}  // namespace
}  // namespace ccfde

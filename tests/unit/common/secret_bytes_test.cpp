// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/secret_bytes.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <utility>

namespace ccfde {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

const std::uint8_t kKey[] = {1, 2, 3, 4, 5, 6, 7, 8};

TEST(SecretBytes, StartsZeroedAtRequestedSize) {
  SecretBytes secret(32);
  ASSERT_EQ(secret.size(), 32u);
  for (std::uint8_t byte : secret.span()) EXPECT_EQ(byte, 0);
}

TEST(SecretBytes, CopyOfHoldsTheBytes) {
  SecretBytes secret = SecretBytes::copy_of(kKey);
  EXPECT_TRUE(secret.equals(kKey));
  const std::uint8_t other[] = {1, 2, 3, 4, 5, 6, 7, 9};
  EXPECT_FALSE(secret.equals(other));
  EXPECT_FALSE(secret.equals(std::span(kKey).first(7)));
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  SecretBytes source = SecretBytes::copy_of(kKey);
  SecretBytes target = std::move(source);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(source.data(), nullptr);
  EXPECT_TRUE(target.equals(kKey));

  SecretBytes assigned(4);
  assigned = std::move(target);
  EXPECT_TRUE(assigned.equals(kKey));
  EXPECT_TRUE(target.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytes, WipeReleasesContents) {
  SecretBytes secret = SecretBytes::copy_of(kKey);
  secret.wipe();
  EXPECT_EQ(secret.size(), 0u);
  EXPECT_EQ(secret.data(), nullptr);
  EXPECT_FALSE(secret.is_locked());
}

TEST(SecretBytes, EmptySecretHasNoAllocation) {
  SecretBytes secret;
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.data(), nullptr);
  EXPECT_TRUE(secret.equals({}));
}

}  // namespace
}  // namespace ccfde

// SPDX-License-Identifier: Apache-2.0
// LuksVolume::volume_key on LUKS2 image files (crypt_volume_key_get needs no device-mapper),
// checked against the cryptsetup CLI's own dump of the volume key where the CLI is installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

SecretBytes secret(std::string_view text) {
  return SecretBytes::copy_of(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

std::vector<std::uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class VolumeKeyTest : public ::testing::Test {
 protected:
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  // A fresh 32 MiB LUKS2 image with `pass1_` in keyslot 0.
  LuksVolume formatted(const std::string& name) {
    std::ofstream(path(name), std::ios::binary | std::ios::trunc).close();
    fs::resize_file(path(name), 32u << 20);
    auto volume = LuksVolume::format(path(name), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
    EXPECT_TRUE(volume.ok()) << volume.status().to_string();
    return std::move(volume).value();
  }

  ccfde::testing::TempDir dir_;
  SecretBytes pass1_ = secret("first passphrase");
  SecretBytes pass2_ = secret("second passphrase");
  SecretBytes wrong_ = secret("wrong passphrase");
};

TEST_F(VolumeKeyTest, EveryKeyslotYieldsTheSameKeyAndItIsTheCliOne) {
  auto volume = formatted("disk.img");
  auto from_slot0 = volume.volume_key(pass1_.span(), 0);
  ASSERT_TRUE(from_slot0.ok()) << from_slot0.status().to_string();
  EXPECT_EQ(from_slot0->size(), 64u);  // FormatOptions default: AES-256-XTS
  auto added = volume.add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, 3);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  auto from_slot3 = volume.volume_key(pass2_.span(), 3);
  ASSERT_TRUE(from_slot3.ok()) << from_slot3.status().to_string();
  EXPECT_TRUE(from_slot0->equals(from_slot3->span()));
  auto from_any = volume.volume_key(pass2_.span(), kAnyKeyslot);
  ASSERT_TRUE(from_any.ok()) << from_any.status().to_string();
  EXPECT_TRUE(from_slot0->equals(from_any->span()));

  auto other = formatted("other.img");
  auto other_key = other.volume_key(pass1_.span(), 0);
  ASSERT_TRUE(other_key.ok());
  EXPECT_FALSE(from_slot0->equals(other_key->span()));

  if (std::system("command -v cryptsetup >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the cryptsetup CLI is not installed: no independent check of the key";
  }
  std::ofstream(path("pass1"), std::ios::binary) << "first passphrase";
  const std::string command =
      "cryptsetup luksDump --batch-mode --dump-volume-key "
      "--volume-key-file " +
      path("dumped.key").string() + " --key-file " + path("pass1").string() + " " +
      path("disk.img").string() + " >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  EXPECT_TRUE(from_slot0->equals(file_bytes(path("dumped.key"))));
}

TEST_F(VolumeKeyTest, APassphraseThatDoesNotOpenTheKeyslotIsRejected) {
  auto volume = formatted("disk.img");
  ASSERT_TRUE(volume.add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, 1).ok());

  auto other_slot = volume.volume_key(pass2_.span(), 0);
  ASSERT_FALSE(other_slot.ok());
  EXPECT_EQ(other_slot.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(other_slot.status().message(),
              HasSubstr("disk.img: the key does not open keyslot 0"));

  auto wrong = volume.volume_key(wrong_.span(), kAnyKeyslot);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(wrong.status().message(), HasSubstr("disk.img: the key opens no keyslot"));
}

TEST_F(VolumeKeyTest, InactiveOrOutOfRangeKeyslotsAreInvalidArguments) {
  auto volume = formatted("disk.img");
  auto inactive = volume.volume_key(pass1_.span(), 5);
  ASSERT_FALSE(inactive.ok());
  EXPECT_EQ(inactive.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(inactive.status().message(), HasSubstr("keyslot 5 is not active"));
  for (const int keyslot : {-2, 32}) {
    auto out_of_range = volume.volume_key(pass1_.span(), keyslot);
    ASSERT_FALSE(out_of_range.ok()) << keyslot;
    EXPECT_EQ(out_of_range.status().code(), ErrorCode::kInvalidArgument) << keyslot;
  }
}

}  // namespace
}  // namespace ccfde::agent

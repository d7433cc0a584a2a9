// SPDX-License-Identifier: Apache-2.0
// LuksVolume against the real libcryptsetup on image files (no device-mapper needed except for
// activation, whose failure on this kind of host is itself tested).
#include "ccfde/agent/luks_volume.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_alg.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "ccfde/agent/token.h"
#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/testing/device_mapper.h"
#include "ccfde/testing/luks_header_edit.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::uint64_t kMiB = 1 << 20;

SecretBytes secret(std::string_view text) {
  return SecretBytes::copy_of(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void make_image(const fs::path& path, std::uint64_t size) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).close();
  fs::resize_file(path, size);
}

std::vector<std::uint8_t> read_range(const fs::path& path, std::uint64_t offset,
                                     std::uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<std::uint8_t> bytes(length);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

std::string sha256_hex(const std::vector<std::uint8_t>& bytes) {
  const auto digest_bytes = digest(DigestAlgorithm::kSha256, bytes);
  EXPECT_TRUE(digest_bytes.ok());
  std::string hex;
  for (const auto b : *digest_bytes) hex += fmt::format("{:02x}", b);
  return hex;
}

// SHA-256 of the bytes [offset, end of file).
std::string sha256_from(const fs::path& path, std::uint64_t offset) {
  return sha256_hex(read_range(path, offset, fs::file_size(path) - offset));
}

void write_pattern(const fs::path& path, std::uint64_t offset, std::uint64_t length,
                   std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> bytes(length);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(length));
}

bool have_cryptsetup_cli() {
  return std::system("command -v cryptsetup >/dev/null 2>&1") == 0;
}

int run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define SKIP_WITHOUT_CLI()                                                                  \
  if (!have_cryptsetup_cli()) {                                                             \
    GTEST_SKIP() << "the cryptsetup CLI is not installed (apt-get install cryptsetup-bin)"; \
  }

class LuksVolumeTest : public ::testing::Test {
 protected:
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  // A fresh 32 MiB LUKS2 image formatted by LuksVolume with `pass1` in keyslot 0.
  LuksVolume formatted(const std::string& name = "disk.img") {
    make_image(path(name), 32 * kMiB);
    auto volume = LuksVolume::format(path(name), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
    EXPECT_TRUE(volume.ok()) << volume.status().to_string();
    return std::move(volume).value();
  }

  // A key file for the CLI (test passphrases are not secrets).
  fs::path key_file(const std::string& name, std::string_view content) const {
    const fs::path file = path(name);
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

  ccfde::testing::TempDir dir_;
  SecretBytes pass1_ = secret("first passphrase");
  SecretBytes pass2_ = secret("second passphrase");
  SecretBytes wrong_ = secret("wrong passphrase");
};

// Evaluates `expr` (a Result) once; records a failure naming the line when it holds an error
// and yields the value (or a default one).
#define VALUE_OR_FAIL(expr)                                                             \
  ([](auto result, int line) {                                                          \
    EXPECT_TRUE(result.ok()) << "line " << line << ": " << result.status().to_string(); \
    return result.ok() ? *result : std::remove_cvref_t<decltype(*result)>{};            \
  }((expr), __LINE__))

// Whether the kernel crypto API is reachable from user space.
bool have_af_alg() {
  const int fd = ::socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

using ccfde::testing::have_device_mapper;

TEST_F(LuksVolumeTest, FormatCreatesLuks2WithKeyslotZero) {
  auto volume = formatted();
  EXPECT_EQ(volume.device(), path("disk.img"));
  EXPECT_EQ(volume.active_keyslots(), std::vector<int>{0});
  EXPECT_EQ(volume.data_offset_bytes(), 16 * kMiB);
  EXPECT_FALSE(volume.reencryption_in_progress());
  const std::string uuid = volume.uuid();
  EXPECT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid.find_first_of("ABCDEF"), std::string::npos);

  auto reopened = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
  EXPECT_EQ(reopened->uuid(), uuid);
  const auto keyslot = reopened->verify_passphrase(pass1_.span());
  EXPECT_EQ(VALUE_OR_FAIL(keyslot), 0);
}

TEST_F(LuksVolumeTest, FormatUsesMinimalPbkdf2AndLabel) {
  SKIP_WITHOUT_CLI();
  make_image(path("disk.img"), 32 * kMiB);
  FormatOptions options;
  options.label = "cc-fde-test";
  auto volume =
      LuksVolume::format(path("disk.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2, options);
  ASSERT_TRUE(volume.ok()) << volume.status().to_string();
  const std::string dump = "cryptsetup luksDump " + path("disk.img").string();
  EXPECT_EQ(run(dump + " | grep -q 'PBKDF:[[:space:]]*pbkdf2'"), 0);
  EXPECT_EQ(run(dump + " | grep -q 'Iterations:[[:space:]]*1000$'"), 0);
  EXPECT_EQ(run(dump + " | grep -q 'Hash:[[:space:]]*sha512'"), 0);
  EXPECT_EQ(run(dump + " | grep -q 'Label:[[:space:]]*cc-fde-test'"), 0);
  const fs::path key = key_file("pass1", "first passphrase");
  EXPECT_EQ(run("cryptsetup open --test-passphrase --key-file " + key.string() + " " +
                path("disk.img").string()),
            0);
}

TEST_F(LuksVolumeTest, FormatErrors) {
  auto missing = LuksVolume::format(path("nope.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.img"));

  make_image(path("disk.img"), 32 * kMiB);
  FormatOptions bad_syntax;
  bad_syntax.cipher = "AES;x";
  auto bad =
      LuksVolume::format(path("disk.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2, bad_syntax);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument) << bad.status().to_string();
  EXPECT_THAT(bad.status().message(), HasSubstr("disk.img: invalid cipher specification"));

  FormatOptions unknown;
  unknown.cipher = "no-such-cipher";
  auto unknown_cipher =
      LuksVolume::format(path("disk.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2, unknown);
  ASSERT_FALSE(unknown_cipher.ok());
  EXPECT_THAT(unknown_cipher.status().message(), HasSubstr("disk.img"));
  if (have_af_alg()) {
    // Without AF_ALG libcryptsetup probes the cipher through device-mapper and reports its
    // failure instead; with it, the cipher is checked up front.
    EXPECT_EQ(unknown_cipher.status().code(), ErrorCode::kInvalidArgument)
        << unknown_cipher.status().to_string();
  }
  // Nothing was written: the image holds no header.
  EXPECT_EQ(LuksVolume::open(path("disk.img")).status().code(), ErrorCode::kNotLuks2);
}

TEST_F(LuksVolumeTest, VerifyPassphraseRightWrongAndOtherKeyslot) {
  auto volume = formatted();
  EXPECT_EQ(VALUE_OR_FAIL(volume.verify_passphrase(pass1_.span(), 0)), 0);

  auto wrong = volume.verify_passphrase(wrong_.span());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(wrong.status().message(), HasSubstr("disk.img"));

  EXPECT_EQ(VALUE_OR_FAIL(
                volume.add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, 3)),
            3);
  EXPECT_EQ(VALUE_OR_FAIL(volume.verify_passphrase(pass2_.span())), 3);
  auto other_slot = volume.verify_passphrase(pass1_.span(), 3);
  ASSERT_FALSE(other_slot.ok());
  EXPECT_EQ(other_slot.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(other_slot.status().message(), HasSubstr("keyslot 3"));

  auto inactive = volume.verify_passphrase(pass1_.span(), 5);
  ASSERT_FALSE(inactive.ok());
  EXPECT_EQ(inactive.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(inactive.status().message(), HasSubstr("keyslot 5 is not active"));

  auto out_of_range = volume.verify_passphrase(pass1_.span(), 32);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_EQ(out_of_range.status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LuksVolumeTest, AddAndDestroyKeyslotsLeaveDataAreaUntouched) {
  auto volume = formatted();
  write_pattern(path("disk.img"), volume.data_offset_bytes(), 16 * kMiB, 7);
  const std::string before = sha256_from(path("disk.img"), volume.data_offset_bytes());

  auto rejected = volume.add_keyslot(wrong_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), ErrorCode::kKeyRejected);

  auto taken = volume.add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, 0);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(taken.status().message(), HasSubstr("keyslot 0 is already in use"));

  EXPECT_EQ(
      VALUE_OR_FAIL(volume.add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2)),
      1);
  EXPECT_EQ(VALUE_OR_FAIL(
                volume.add_keyslot(pass2_.span(), wrong_.span(), KeyslotKdf::kMinimalPbkdf2, 31)),
            31);
  EXPECT_EQ(volume.active_keyslots(), (std::vector<int>{0, 1, 31}));

  ASSERT_TRUE(volume.destroy_keyslot(31).ok());
  ASSERT_TRUE(volume.destroy_keyslot(0).ok());
  EXPECT_EQ(volume.active_keyslots(), std::vector<int>{1});
  EXPECT_EQ(volume.verify_passphrase(pass1_.span()).status().code(), ErrorCode::kKeyRejected);
  EXPECT_EQ(VALUE_OR_FAIL(volume.verify_passphrase(pass2_.span())), 1);

  const Status again = volume.destroy_keyslot(0);
  EXPECT_EQ(again.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(again.message(), HasSubstr("keyslot 0 is not active"));
  EXPECT_EQ(volume.destroy_keyslot(-1).code(), ErrorCode::kInvalidArgument);

  EXPECT_EQ(sha256_from(path("disk.img"), volume.data_offset_bytes()), before);
  // The state is on disk, not only in the handle.
  auto reopened = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->active_keyslots(), std::vector<int>{1});
}

TEST_F(LuksVolumeTest, TokensSetGetReplaceRemove) {
  auto volume = formatted();
  write_pattern(path("disk.img"), volume.data_offset_bytes(), 16 * kMiB, 8);
  const std::string before = sha256_from(path("disk.img"), volume.data_offset_bytes());

  auto empty = volume.tokens();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  CcFdeToken token;
  token.keyslots = {0};
  token.profile = "default";
  token.resource = "default/cc-fde/disk1";
  const std::string json = *token_to_json(token);
  EXPECT_EQ(VALUE_OR_FAIL(volume.set_token(kAnyToken, json)), 0);
  EXPECT_EQ(VALUE_OR_FAIL(volume.set_token(5, json)), 5);

  auto listed = volume.tokens();
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, 0);
  EXPECT_EQ((*listed)[1].id, 5);
  EXPECT_EQ((*listed)[0].type, "cc-fde");
  const auto parsed = parse_token((*listed)[0].json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, token);

  // Writing an existing id replaces the token.
  token.state = TokenState::kPending;
  EXPECT_EQ(VALUE_OR_FAIL(volume.set_token(5, *token_to_json(token))), 5);
  listed = volume.tokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(parse_token((*listed)[1].json)->state, TokenState::kPending);

  auto dangling = volume.set_token(
      kAnyToken,
      R"({"type":"cc-fde","keyslots":["7"],"cc-fde-version":1,"profile":"p","resource":"r"})");
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(dangling.status().message(), HasSubstr("disk.img"));

  auto not_json = volume.set_token(kAnyToken, "{not json");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(volume.set_token(32, json).status().code(), ErrorCode::kInvalidArgument);

  ASSERT_TRUE(volume.remove_token(0).ok());
  const Status again = volume.remove_token(0);
  EXPECT_EQ(again.code(), ErrorCode::kNotFound);
  EXPECT_THAT(again.message(), HasSubstr("token 0"));
  EXPECT_EQ(volume.remove_token(40).code(), ErrorCode::kNotFound);

  auto reopened = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(reopened.ok());
  listed = reopened->tokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, 5);

  EXPECT_EQ(sha256_from(path("disk.img"), volume.data_offset_bytes()), before);
}

TEST_F(LuksVolumeTest, WorksOnImagesMadeByTheCli) {
  SKIP_WITHOUT_CLI();
  make_image(path("cli.img"), 32 * kMiB);
  const fs::path key1 = key_file("key1", "first passphrase");
  const fs::path key2 = key_file("key2", "second passphrase");
  ASSERT_EQ(run("cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 "
                "--pbkdf-force-iterations 1000 --key-file " +
                key1.string() + " " + path("cli.img").string()),
            0);
  write_pattern(path("cli.img"), 16 * kMiB, 16 * kMiB, 9);
  auto volume = LuksVolume::open(path("cli.img"));
  ASSERT_TRUE(volume.ok()) << volume.status().to_string();
  const std::string before = sha256_from(path("cli.img"), volume->data_offset_bytes());
  EXPECT_EQ(VALUE_OR_FAIL(volume->verify_passphrase(pass1_.span())), 0);
  EXPECT_EQ(
      VALUE_OR_FAIL(volume->add_keyslot(pass1_.span(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2)),
      1);
  EXPECT_EQ(run("cryptsetup open --test-passphrase --key-slot 1 --key-file " + key2.string() + " " +
                path("cli.img").string()),
            0);
  EXPECT_NE(run("cryptsetup open --test-passphrase --key-slot 0 --key-file " + key2.string() + " " +
                path("cli.img").string()),
            0);
  EXPECT_EQ(sha256_from(path("cli.img"), volume->data_offset_bytes()), before);
}

TEST_F(LuksVolumeTest, BackupHeaderIsPrivateAndMatchesTheCli) {
  SKIP_WITHOUT_CLI();
  auto volume = formatted();
  const fs::path backup = path("header.bak");
  ASSERT_TRUE(volume.backup_header(backup).ok());
  struct stat st {};
  ASSERT_EQ(::stat(backup.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(st.st_mode));

  ASSERT_EQ(run("cryptsetup luksHeaderBackup --batch-mode " + path("disk.img").string() +
                " --header-backup-file " + path("cli.bak").string()),
            0);
  EXPECT_EQ(fs::file_size(backup), fs::file_size(path("cli.bak")));
  EXPECT_EQ(read_range(backup, 0, fs::file_size(backup)),
            read_range(path("cli.bak"), 0, fs::file_size(path("cli.bak"))));
  // No temporary directory is left behind.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().rfind(".cc-fde-", 0), std::string::npos);
    ++entries;
  }
  EXPECT_EQ(entries, 3);

  const Status exists = volume.backup_header(backup);
  EXPECT_EQ(exists.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(exists.message(), HasSubstr("already exists"));
  EXPECT_EQ(volume.backup_header(path("no-such-dir") / "h").code(), ErrorCode::kIoError);
}

TEST_F(LuksVolumeTest, OpenRefusesLuks1) {
  SKIP_WITHOUT_CLI();
  make_image(path("luks1.img"), 32 * kMiB);
  const fs::path key = key_file("key", "first passphrase");
  ASSERT_EQ(run("cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 "
                "--key-file " +
                key.string() + " " + path("luks1.img").string()),
            0);
  auto volume = LuksVolume::open(path("luks1.img"));
  ASSERT_FALSE(volume.ok());
  EXPECT_EQ(volume.status().code(), ErrorCode::kNotLuks2);
  EXPECT_THAT(volume.status().message(), HasSubstr("luks1.img is LUKS1; cc-fde needs LUKS2"));
}

TEST_F(LuksVolumeTest, OpenRefusesNonLuksAndMissing) {
  make_image(path("random.img"), 32 * kMiB);
  write_pattern(path("random.img"), 0, 1 * kMiB, 1);
  auto random = LuksVolume::open(path("random.img"));
  ASSERT_FALSE(random.ok());
  EXPECT_EQ(random.status().code(), ErrorCode::kNotLuks2);
  EXPECT_THAT(random.status().message(), HasSubstr("random.img: no LUKS2 header"));

  auto missing = LuksVolume::open(path("missing.img"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.img"));

  auto directory = LuksVolume::open(dir_.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), ErrorCode::kIoError);
  EXPECT_THAT(directory.status().message(), HasSubstr("neither a block device nor a regular file"));
}

TEST_F(LuksVolumeTest, OpenReportsCorruptedHeaderAsMalformed) {
  { auto volume = formatted(); }
  // Flip bytes in the JSON area of both header copies (primary at 0, secondary at 16 KiB; the
  // JSON follows each 4 KiB binary header), so neither checksum holds.
  std::fstream image(path("disk.img"), std::ios::binary | std::ios::in | std::ios::out);
  for (const std::streamoff offset : {4096 + 64, 16384 + 4096 + 64}) {
    image.seekg(offset);
    char byte = 0;
    image.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x5a);
    image.seekp(offset);
    image.write(&byte, 1);
  }
  image.close();
  auto volume = LuksVolume::open(path("disk.img"));
  ASSERT_FALSE(volume.ok());
  EXPECT_EQ(volume.status().code(), ErrorCode::kMalformed) << volume.status().to_string();
  EXPECT_THAT(volume.status().message(), HasSubstr("disk.img"));
}

TEST_F(LuksVolumeTest, ActivateWithoutDeviceMapper) {
  auto volume = formatted();
  // A name of this volume alone (its UUID is random), closed on every path out of the test.
  ccfde::testing::MappingGuard mapping("cc-fde-unit-test-" + volume.uuid());
  auto wrong = volume.activate(mapping.name(), wrong_.span());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kKeyRejected) << wrong.status().to_string();
  EXPECT_FALSE(LuksVolume::is_active(mapping.name()));

  auto right = volume.activate(mapping.name(), pass1_.span());
  if (have_device_mapper()) {
    // device-mapper exists (the VM test runs this binary in its provisioning guest, tests/e2e):
    // the mapping really exists, is this volume's (on a block device: the image on a loop
    // device), holds what is written through it encrypted, and is gone again, with the loop
    // devices of the image file.
    ASSERT_TRUE(right.ok()) << right.status().to_string();
    EXPECT_EQ(*right, 0);
    ASSERT_TRUE(LuksVolume::is_active(mapping.name()));
    ASSERT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
    { const LuksVolume closed = std::move(volume); }  // the handle holds the image's loop device
    std::optional<ccfde::testing::LoopDevice> loop(std::in_place, path("disk.img"));
    ASSERT_TRUE(loop->ok());
    auto on_loop = LuksVolume::open(loop->path());
    ASSERT_TRUE(on_loop.ok()) << on_loop.status().to_string();
    volume = std::move(on_loop).value();
    ASSERT_TRUE(volume.activate(mapping.name(), pass1_.span()).ok());
    EXPECT_TRUE(volume.check_active_mapping(mapping.name()).ok());
    auto twice = volume.activate(mapping.name(), pass1_.span());
    EXPECT_EQ(twice.status().code(), ErrorCode::kActivationFailed) << "the name is in use";
    const auto plaintext = ccfde::testing::test_pattern(64 << 10, 3);
    ASSERT_TRUE(ccfde::testing::write_device(mapping.device(), 0, plaintext));
    ASSERT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
    EXPECT_FALSE(LuksVolume::is_active(mapping.name()));
    const auto stored =
        ccfde::testing::read_device(path("disk.img"), volume.data_offset_bytes(), plaintext.size());
    ASSERT_EQ(stored.size(), plaintext.size());
    EXPECT_NE(stored, plaintext);
    ASSERT_TRUE(volume.activate(mapping.name(), pass1_.span()).ok());
    EXPECT_EQ(ccfde::testing::read_device(mapping.device(), 0, plaintext.size()), plaintext);
    EXPECT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
    EXPECT_FALSE(LuksVolume::is_active(mapping.name()));
    { const LuksVolume closed = std::move(volume); }
    loop.reset();
    EXPECT_TRUE(ccfde::testing::no_loop_device_backs(path("disk.img")));
    return;
  }
  ASSERT_FALSE(right.ok());
  EXPECT_EQ(right.status().code(), ErrorCode::kActivationFailed) << right.status().to_string();
  EXPECT_THAT(right.status().message(), HasSubstr(mapping.name()));

  EXPECT_FALSE(LuksVolume::is_active(mapping.name()));
  EXPECT_FALSE(LuksVolume::is_active(""));
}

TEST_F(LuksVolumeTest, IntegrityLayoutsHaveFixedNamesAndFormatOptions) {
  EXPECT_EQ(VALUE_OR_FAIL(parse_integrity_layout("none")), IntegrityLayout::kNone);
  EXPECT_EQ(VALUE_OR_FAIL(parse_integrity_layout("hmac-sha256")), IntegrityLayout::kHmacSha256);
  EXPECT_EQ(VALUE_OR_FAIL(parse_integrity_layout("aes-gcm-random")),
            IntegrityLayout::kAesGcmRandom);
  for (const std::string_view bad : {"", "aead", "hmac(sha256)", "HMAC-SHA256", "hmac-sha512"}) {
    const auto parsed = parse_integrity_layout(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr(fmt::format("integrity \"{}\" is not one of none, hmac-sha256", bad)));
  }

  const FormatOptions none = integrity_format_options(IntegrityLayout::kNone);
  EXPECT_EQ(none.cipher + "-" + none.cipher_mode, "aes-xts-plain64");
  EXPECT_EQ(none.integrity, "");
  EXPECT_EQ(none.volume_key_bytes, 64u);
  EXPECT_EQ(none.sector_size, 0u);
  const FormatOptions hmac = integrity_format_options(IntegrityLayout::kHmacSha256);
  EXPECT_EQ(hmac.cipher + "-" + hmac.cipher_mode, "aes-xts-plain64");
  EXPECT_EQ(hmac.integrity, "hmac(sha256)");
  EXPECT_EQ(hmac.volume_key_bytes, 96u);  // AES-256-XTS (64) + HMAC-SHA256 key (32)
  EXPECT_EQ(hmac.sector_size, 4096u);
  const FormatOptions gcm = integrity_format_options(IntegrityLayout::kAesGcmRandom);
  EXPECT_EQ(gcm.cipher + "-" + gcm.cipher_mode, "aes-gcm-random");
  EXPECT_EQ(gcm.integrity, "aead");
  EXPECT_EQ(gcm.volume_key_bytes, 32u);  // AES-256-GCM
  EXPECT_EQ(gcm.sector_size, 4096u);
}

TEST_F(LuksVolumeTest, FormatWithIntegrityWithoutDeviceMapperChangesNothing) {
  if (have_device_mapper()) {
    // device-mapper exists (the VM test runs this binary in its provisioning guest, tests/e2e):
    // formatting with integrity really formats, wiping the device through a real mapping so that
    // every tag is initialised; each layout opens, reads back what is written, and leaves no
    // mapping or loop device behind.
    ASSERT_TRUE(device_mapper_available().ok());
    std::uint32_t seed = 10;
    for (const auto layout : {IntegrityLayout::kHmacSha256, IntegrityLayout::kAesGcmRandom}) {
      const FormatOptions options = integrity_format_options(layout);
      make_image(path("disk.img"), 32 * kMiB);
      {
        ccfde::testing::LoopDevice loop(path("disk.img"));
        ASSERT_TRUE(loop.ok());
        auto volume =
            LuksVolume::format(loop.path(), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, options);
        ASSERT_TRUE(volume.ok()) << options.integrity << ": " << volume.status().to_string();
        EXPECT_EQ(volume->integrity(), options.integrity);
        ccfde::testing::MappingGuard mapping("cc-fde-unit-test-" + volume->uuid());
        ASSERT_TRUE(volume->activate(mapping.name(), pass2_.span()).ok()) << options.integrity;
        EXPECT_TRUE(volume->check_active_mapping(mapping.name()).ok()) << options.integrity;
        EXPECT_EQ(ccfde::testing::read_device(mapping.device(), 0, 1u << 20).size(), 1u << 20)
            << options.integrity << ": the tags are not initialised";
        const auto plaintext = ccfde::testing::test_pattern(64 << 10, ++seed);
        ASSERT_TRUE(ccfde::testing::write_device(mapping.device(), 8192, plaintext));
        ASSERT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
        ASSERT_TRUE(volume->activate(mapping.name(), pass2_.span()).ok());
        EXPECT_EQ(ccfde::testing::read_device(mapping.device(), 8192, plaintext.size()), plaintext)
            << options.integrity;
        EXPECT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
        EXPECT_FALSE(LuksVolume::is_active(mapping.name()));
      }
      EXPECT_TRUE(ccfde::testing::no_loop_device_backs(path("disk.img"))) << options.integrity;
    }
    return;
  }
  const Status dm = device_mapper_available();
  ASSERT_FALSE(dm.ok());
  EXPECT_EQ(dm.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(dm.message(), HasSubstr("this kernel has no device-mapper"));

  // An existing volume with data: neither the header nor a byte of data may change.
  formatted();
  write_pattern(path("disk.img"), 16 * kMiB, 4 * kMiB, 7);
  const std::string before = sha256_from(path("disk.img"), 0);
  for (const auto layout : {IntegrityLayout::kHmacSha256, IntegrityLayout::kAesGcmRandom}) {
    const FormatOptions options = integrity_format_options(layout);
    auto result =
        LuksVolume::format(path("disk.img"), pass2_.span(), KeyslotKdf::kMinimalPbkdf2, options);
    ASSERT_FALSE(result.ok()) << options.integrity;
    EXPECT_EQ(result.status().code(), ErrorCode::kUnsupported) << result.status().to_string();
    EXPECT_THAT(result.status().message(),
                HasSubstr(fmt::format("disk.img: formatting with integrity {} needs "
                                      "device-mapper (dm-integrity, dm-crypt) to initialise the "
                                      "integrity tags, and this kernel has no device-mapper",
                                      options.integrity)));
    EXPECT_THAT(result.status().message(), HasSubstr("(nothing was changed)"));
    EXPECT_EQ(sha256_from(path("disk.img"), 0), before);
  }
  EXPECT_TRUE(check_integrity_format_possible(path("disk.img"), "").ok());
  // The old passphrase still opens the untouched header.
  auto reopened = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
  EXPECT_EQ(VALUE_OR_FAIL(reopened->verify_passphrase(pass1_.span())), 0);
}

TEST_F(LuksVolumeTest, IntegrityNamesTheSegmentsIntegrity) {
  auto volume = formatted();
  EXPECT_EQ(volume.integrity(), "");
  ccfde::testing::set_segment_integrity(path("disk.img"), "hmac(sha256)");
  auto hmac = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(hmac.ok()) << hmac.status().to_string();
  EXPECT_EQ(hmac->integrity(), "hmac(sha256)");
  EXPECT_EQ(hmac->segment_cipher(), "aes-xts-plain64");
  ccfde::testing::set_segment_integrity(path("disk.img"), "aead");
  auto aead = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(aead.ok()) << aead.status().to_string();
  EXPECT_EQ(aead->integrity(), "aead");
  // A header stripped of its integrity says so.
  ccfde::testing::set_segment_integrity(path("disk.img"), "");
  auto stripped = LuksVolume::open(path("disk.img"));
  ASSERT_TRUE(stripped.ok()) << stripped.status().to_string();
  EXPECT_EQ(stripped->integrity(), "");
}

class EncryptTest : public LuksVolumeTest {
 protected:
  static constexpr std::uint64_t kImageSize = 64 * kMiB;
  static constexpr std::uint64_t kPayload = 30 * kMiB;

  void SetUp() override {
    make_image(path("plain.img"), kImageSize);
    write_pattern(path("plain.img"), 0, kPayload, 42);
    payload_sha_ = sha256_hex(read_range(path("plain.img"), 0, kPayload));
  }

  // Decrypts the image back in place with the CLI and checks the payload survived.
  void expect_payload_preserved() {
    ASSERT_EQ(run("cryptsetup reencrypt --decrypt --batch-mode --force-offline-reencrypt "
                  "--header " +
                  path("decrypt-header").string() + " --key-file " +
                  key_file("key1", "first passphrase").string() + " " + path("plain.img").string()),
              0);
    EXPECT_EQ(sha256_hex(read_range(path("plain.img"), 0, kPayload)), payload_sha_);
  }

  std::string payload_sha_;
};

TEST_F(EncryptTest, EncryptsInPlacePreservingData) {
  SKIP_WITHOUT_CLI();
  int calls = 0;
  std::uint64_t last_total = 0;
  auto volume =
      LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2, {},
                                   [&](std::uint64_t done, std::uint64_t total) {
                                     ++calls;
                                     EXPECT_LE(done, total);
                                     last_total = total;
                                     return true;
                                   });
  ASSERT_TRUE(volume.ok()) << volume.status().to_string();
  EXPECT_GT(calls, 0);
  EXPECT_GT(last_total, 0u);
  EXPECT_FALSE(volume->reencryption_in_progress());
  EXPECT_EQ(volume->data_offset_bytes(), 16 * kMiB);
  EXPECT_EQ(VALUE_OR_FAIL(volume->verify_passphrase(pass1_.span())), 0);
  // The payload is no longer readable in clear.
  EXPECT_NE(sha256_hex(read_range(path("plain.img"), 16 * kMiB, kPayload)), payload_sha_);

  // Re-running after completion is a no-op with the right passphrase.
  auto again =
      LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->uuid(), volume->uuid());
  auto other =
      LuksVolume::encrypt_in_place(path("plain.img"), pass2_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::kInvalidArgument);

  volume = Result<LuksVolume>(Status(ErrorCode::kInternal, "closed"));
  again = Result<LuksVolume>(Status(ErrorCode::kInternal, "closed"));
  expect_payload_preserved();
}

TEST_F(EncryptTest, InterruptedEncryptionResumes) {
  SKIP_WITHOUT_CLI();
  auto interrupted =
      LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2, {},
                                   [](std::uint64_t, std::uint64_t) { return false; });
  ASSERT_FALSE(interrupted.ok());
  EXPECT_EQ(interrupted.status().code(), ErrorCode::kDeadlineExceeded)
      << interrupted.status().to_string();
  {
    auto volume = LuksVolume::open(path("plain.img"));
    ASSERT_TRUE(volume.ok()) << volume.status().to_string();
    EXPECT_TRUE(volume->reencryption_in_progress());
  }

  auto wrong =
      LuksVolume::encrypt_in_place(path("plain.img"), wrong_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kKeyRejected) << wrong.status().to_string();

  auto resumed =
      LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_TRUE(resumed.ok()) << resumed.status().to_string();
  EXPECT_FALSE(resumed->reencryption_in_progress());
  resumed = Result<LuksVolume>(Status(ErrorCode::kInternal, "closed"));
  expect_payload_preserved();
}

TEST_F(EncryptTest, KilledEncryptionResumes) {
  SKIP_WITHOUT_CLI();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int calls = 0;
    auto result =
        LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2,
                                     {}, [&](std::uint64_t, std::uint64_t) {
                                       if (++calls == 2) ::raise(SIGKILL);
                                       return true;
                                     });
    ::_exit(result.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished before it could be killed";

  auto resumed =
      LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_TRUE(resumed.ok()) << resumed.status().to_string();
  EXPECT_FALSE(resumed->reencryption_in_progress());
  resumed = Result<LuksVolume>(Status(ErrorCode::kInternal, "closed"));
  expect_payload_preserved();
}

TEST_F(EncryptTest, RefusesTooSmallDeviceAndBadReduction) {
  make_image(path("small.img"), 20 * kMiB);
  auto small =
      LuksVolume::encrypt_in_place(path("small.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(small.status().message(), HasSubstr("too small"));

  EncryptOptions odd;
  odd.reduce_device_size_bytes = 1000;
  auto bad = LuksVolume::encrypt_in_place(path("plain.img"), pass1_.span(),
                                          KeyslotKdf::kMinimalPbkdf2, odd);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  // Nothing was written.
  EXPECT_EQ(sha256_hex(read_range(path("plain.img"), 0, kPayload)), payload_sha_);

  auto missing =
      LuksVolume::encrypt_in_place(path("missing.img"), pass1_.span(), KeyslotKdf::kMinimalPbkdf2);
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

// The read-back after activation (the host owns the disk between check and use): the decision
// over what device-mapper reports. The reading itself runs in every VM boot.
MappingView verified_view() {
  return MappingView{makedev(252, 16), "/dev/vdb", 32768, "0b1c2d3e-0000-4000-8000-000000000001"};
}

TEST(CompareMapping, TheVerifiedDeviceOffsetAndUuidPass) {
  EXPECT_TRUE(compare_mapping("luks-x", verified_view(), verified_view()).ok());
}

TEST(CompareMapping, AnotherDeviceIsRefusedNamingBoth) {
  MappingView swapped = verified_view();
  swapped.device = makedev(252, 32);
  swapped.device_path = "/dev/vdc";
  const Status refused = compare_mapping("luks-x", verified_view(), swapped);
  EXPECT_EQ(refused.code(), ErrorCode::kActivationFailed);
  EXPECT_EQ(refused.message(),
            "luks-x: the mapping reads from /dev/vdc, not from the verified device /dev/vdb");
  MappingView unknown = verified_view();
  unknown.device = 0;
  unknown.device_path = "an unknown device\x1b[2J";
  const Status unknown_refused = compare_mapping("luks-x", verified_view(), unknown);
  EXPECT_EQ(unknown_refused.code(), ErrorCode::kActivationFailed);
  EXPECT_THAT(unknown_refused.message(), HasSubstr("reads from an unknown device\\x1b[2J"));
  // An expected device that could not be read is never a match, even with "0 == 0".
  MappingView no_device = verified_view();
  no_device.device = 0;
  EXPECT_EQ(compare_mapping("luks-x", no_device, no_device).code(), ErrorCode::kActivationFailed);
}

TEST(CompareMapping, AnotherOffsetIsRefused) {
  MappingView shifted = verified_view();
  shifted.offset_sectors = 4096;
  const Status refused = compare_mapping("luks-x", verified_view(), shifted);
  EXPECT_EQ(refused.code(), ErrorCode::kActivationFailed);
  EXPECT_EQ(refused.message(),
            "luks-x: the mapping starts at sector 4096, the verified header's data segment at "
            "sector 32768");
}

TEST(CompareMapping, AnotherOrMissingUuidIsRefused) {
  MappingView other = verified_view();
  other.luks_uuid = "0b1c2d3e-0000-4000-8000-000000000002";
  const Status refused = compare_mapping("luks-x", verified_view(), other);
  EXPECT_EQ(refused.code(), ErrorCode::kActivationFailed);
  EXPECT_EQ(refused.message(),
            "luks-x: the mapping belongs to LUKS UUID 0b1c2d3e-0000-4000-8000-000000000002, the "
            "verified header is 0b1c2d3e-0000-4000-8000-000000000001");
  MappingView none = verified_view();
  none.luks_uuid.clear();
  EXPECT_THAT(compare_mapping("luks-x", verified_view(), none).message(),
              HasSubstr("belongs to LUKS UUID (none)"));
  MappingView expected_none = verified_view();
  expected_none.luks_uuid.clear();
  EXPECT_EQ(compare_mapping("luks-x", expected_none, expected_none).code(),
            ErrorCode::kActivationFailed);
}

}  // namespace
}  // namespace ccfde::agent

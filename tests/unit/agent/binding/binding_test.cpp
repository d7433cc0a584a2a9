// SPDX-License-Identifier: Apache-2.0
// enroll / rotate / unbind / test / list on LUKS2 image files, with a fake KeyService standing in
// for the broker. Interrupted operations are constructed directly (tokens written by hand in the
// state a crash leaves), and every re-run must complete them.
#include "ccfde/agent/binding.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/recovery_key.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/digest.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/testing/device_mapper.h"
#include "ccfde/testing/luks_header_edit.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kResource[] = "default/fde/disk";

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

SecretBytes secret(std::string_view text) {
  return SecretBytes::copy_of(bytes_of(text));
}

// `size` bytes with min(size, 256) distinct values in no simple order: a key check_broker_key
// takes for random from 32 bytes on (32 distinct values: 160 bits by its estimate).
std::vector<std::uint8_t> random_looking_key(std::size_t size) {
  std::vector<std::uint8_t> key(size);
  for (std::size_t i = 0; i < size; ++i) key[i] = static_cast<std::uint8_t>(i * 167 + 13);
  return key;
}

// Overwrites the UUID field of both LUKS2 binary headers of `image` (offset 168, 40 bytes, NUL
// padded) and recomputes each header's SHA-256 checksum (offset 448, over the header area with
// the checksum zeroed), as a host editing the disk would: libcryptsetup then loads the header and
// reports `uuid` as the volume's UUID.
void set_header_uuid(const std::filesystem::path& image, std::string_view uuid) {
  ASSERT_LT(uuid.size(), 40u);
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(fd);
  std::uint8_t size_field[8];
  ASSERT_EQ(::pread(fd.get(), size_field, sizeof size_field, 8), 8);
  std::uint64_t header_size = 0;
  for (std::uint8_t byte : size_field) header_size = header_size << 8 | byte;
  ASSERT_GE(header_size, 16384u);
  for (const std::uint64_t offset : {std::uint64_t{0}, header_size}) {
    std::vector<std::uint8_t> area(header_size);
    ASSERT_EQ(::pread(fd.get(), area.data(), area.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(area.size()));
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(&area[72])), "sha256");
    std::fill(area.begin() + 168, area.begin() + 208, 0);
    std::copy(uuid.begin(), uuid.end(), area.begin() + 168);
    std::fill(area.begin() + 448, area.begin() + 512, 0);
    auto checksum = digest(DigestAlgorithm::kSha256, area);
    ASSERT_TRUE(checksum.ok());
    std::copy(checksum->begin(), checksum->end(), area.begin() + 448);
    ASSERT_EQ(::pwrite(fd.get(), area.data(), area.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(area.size()));
  }
}

// A broker in memory: resources by path, with switchable failures and call counters.
class FakeKeyService : public KeyService {
 public:
  Result<SecretBytes> fetch(const BrokerProfile& profile, const std::string& resource) override {
    ++fetches;
    last_profile = profile.name;
    if (fetch_error) return *fetch_error;
    auto found = store.find(resource);
    if (found == store.end()) {
      return make_error(ErrorCode::kResourceNotFound, "no resource {}", resource);
    }
    return SecretBytes::copy_of(found->second);
  }
  Status upload(const BrokerProfile& /*profile*/, const std::string& resource,
                std::span<const std::uint8_t> key) override {
    ++uploads;
    if (upload_error) return *upload_error;
    store[resource].assign(key.begin(), key.end());
    return Status();
  }

  std::map<std::string, std::vector<std::uint8_t>> store;
  std::optional<Status> fetch_error;
  std::optional<Status> upload_error;
  int fetches = 0;
  int uploads = 0;
  std::string last_profile;
};

class BindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = dir_.path() / "disk.img";
    { std::ofstream create(image_); }
    std::filesystem::resize_file(image_, image_bytes_);
    auto volume = LuksVolume::format(image_, passphrase_.span(), KeyslotKdf::kMinimalPbkdf2);
    ASSERT_TRUE(volume.ok()) << volume.status().to_string();
    data_offset_ = volume->data_offset_bytes();
    ASSERT_GT(data_offset_, 0u);
    fill_data_area();
    data_digest_ = data_area_digest();

    BrokerProfile profile;
    profile.name = "default";
    profile.urls = {"https://kbs.invalid:8080"};
    profile.ca_file = "/nonexistent/ca.pem";
    profile.resources = {"default/fde/*"};
    config_.profiles.emplace("default", profile);
    profile.name = "other";
    config_.profiles.emplace("other", profile);
  }

  BindingContext context() {
    BindingContext context{config_, keys_, dir_.path() / "backups", {}};
    context.notice = [this](std::string_view line) { notices_.emplace_back(line); };
    return context;
  }

  EnrollOptions bind_options() {
    EnrollOptions options;
    options.resource = kResource;
    options.unlock_secret = &passphrase_;
    return options;
  }

  LuksVolume open() {
    auto volume = LuksVolume::open(image_);
    EXPECT_TRUE(volume.ok()) << volume.status().to_string();
    return std::move(volume).value();
  }

  // Whether `key` opens `keyslot` (kAnyKeyslot: any).
  bool opens(std::span<const std::uint8_t> key, int keyslot = kAnyKeyslot) {
    return open().verify_passphrase(key, keyslot).ok();
  }
  bool broker_key_opens(int keyslot) { return opens(keys_.store.at(kResource), keyslot); }

  std::vector<TokenEntry> tokens() {
    auto entries = open().tokens();
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? std::move(entries).value() : std::vector<TokenEntry>{};
  }

  CcFdeToken only_cc_fde_token() {
    auto entries = tokens();
    EXPECT_EQ(entries.size(), 1u);
    if (entries.empty()) return {};
    auto token = parse_token(entries.front().json);
    EXPECT_TRUE(token.ok()) << token.status().to_string();
    return token.ok() ? *token : CcFdeToken{};
  }

  // Writes a token by hand, as an interrupted operation leaves it.
  int write_token(const CcFdeToken& token, int id = kAnyToken) {
    auto json = token_to_json(token);
    EXPECT_TRUE(json.ok()) << json.status().to_string();
    auto volume = open();
    auto written = volume.set_token(id, *json);
    EXPECT_TRUE(written.ok()) << written.status().to_string();
    return written.ok() ? *written : -1;
  }

  void add_keyslot(std::span<const std::uint8_t> key, int keyslot) {
    auto volume = open();
    auto added = volume.add_keyslot(passphrase_.span(), key, KeyslotKdf::kMinimalPbkdf2, keyslot);
    ASSERT_TRUE(added.ok()) << added.status().to_string();
  }

  void enroll_ok(EnrollOptions options) {
    auto enrolled = enroll(image_, options, context());
    ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  }

  void fill_data_area() {
    UniqueFd fd(::open(image_.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    std::vector<std::uint8_t> pattern(std::filesystem::file_size(image_) - data_offset_);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      pattern[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 13);
    }
    ASSERT_EQ(::pwrite(fd.get(), pattern.data(), pattern.size(), static_cast<off_t>(data_offset_)),
              static_cast<ssize_t>(pattern.size()));
  }

  std::vector<std::uint8_t> data_area_digest() {
    auto content = read_file(image_, std::size_t{1} << 30);
    EXPECT_TRUE(content.ok());
    if (!content.ok()) return {};
    auto sum = digest(DigestAlgorithm::kSha256,
                      std::span<const std::uint8_t>(*content).subspan(data_offset_));
    EXPECT_TRUE(sum.ok());
    return sum.ok() ? *sum : std::vector<std::uint8_t>{};
  }

  std::vector<std::filesystem::path> backups() {
    std::vector<std::filesystem::path> files;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path() / "backups", error)) {
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  testing::TempDir dir_;
  std::uint64_t image_bytes_ = 32u << 20;
  std::filesystem::path image_;
  SecretBytes passphrase_ = secret("correct horse battery staple");
  std::uint64_t data_offset_ = 0;
  std::vector<std::uint8_t> data_digest_;
  AgentConfig config_;
  FakeKeyService keys_;
  std::vector<std::string> notices_;
};

// ---- enroll ----

TEST_F(BindingTest, EnrollGeneratesUploadsAndBindsANewKeyslot) {
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  EXPECT_EQ(keys_.uploads, 1);
  ASSERT_EQ(keys_.store.at(kResource).size(), kGeneratedKeyBytes);
  EXPECT_EQ(enrolled->keyslot, 1);
  EXPECT_FALSE(enrolled->completed_interrupted);
  EXPECT_FALSE(enrolled->already_enrolled);
  EXPECT_TRUE(broker_key_opens(1));
  EXPECT_TRUE(opens(passphrase_.span(), 0));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  const CcFdeToken token = only_cc_fde_token();
  EXPECT_EQ(token.state, TokenState::kComplete);
  EXPECT_THAT(token.keyslots, ElementsAre(1));
  EXPECT_EQ(token.profile, "default");
  EXPECT_EQ(token.resource, kResource);
  EXPECT_FALSE(token.pending_keyslot.has_value());
  EXPECT_EQ(data_area_digest(), data_digest_);

  // The backup was taken before the change: it has no token and no keyslot 1.
  auto files = backups();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(enrolled->backup, files.front());
  const std::string name = files.front().filename().string();
  EXPECT_EQ(name.rfind(open().uuid() + "-", 0), 0u) << name;
  EXPECT_THAT(name, ::testing::EndsWith("Z-enroll.img"));
  EXPECT_EQ(std::filesystem::status(files.front()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto restored = LuksVolume::open(files.front());
  ASSERT_TRUE(restored.ok()) << restored.status().to_string();
  EXPECT_THAT(restored->active_keyslots(), ElementsAre(0));
  EXPECT_THAT(*restored->tokens(), IsEmpty());
}

TEST_F(BindingTest, EnrollWithBrokerKeyFetchesAndDoesNotUpload) {
  keys_.store[kResource] = random_looking_key(32);
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  enroll_ok(options);
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_EQ(keys_.fetches, 1);
  EXPECT_TRUE(broker_key_opens(1));
}

TEST_F(BindingTest, EnrollWithMissingBrokerResourceChangesNothing) {
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kResourceNotFound);
  EXPECT_THAT(enrolled.status().message(), HasSubstr(kResource));
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
  EXPECT_THAT(backups(), IsEmpty());
}

TEST(CheckBrokerKey, RefusesShortAndPatternedKeysAndNeverShowsThem) {
  EXPECT_TRUE(check_broker_key(random_looking_key(32)).ok());
  EXPECT_TRUE(check_broker_key(random_looking_key(64)).ok());
  // A 64-character hex string: 16 values at most, 64 * 4 = 256.
  EXPECT_TRUE(
      check_broker_key(bytes_of("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))
          .ok());
  // The boundary: 32 bytes of 16 distinct values give exactly 128; of 15, 125.
  std::vector<std::uint8_t> sixteen(32), fifteen(32);
  for (std::size_t i = 0; i < 32; ++i) {
    sixteen[i] = static_cast<std::uint8_t>(i % 16);
    fifteen[i] = static_cast<std::uint8_t>(i % 15);
  }
  EXPECT_TRUE(check_broker_key(sixteen).ok());
  EXPECT_EQ(check_broker_key(fifteen).code(), ErrorCode::kKeyRejected);

  const Status short_key = check_broker_key(random_looking_key(31));
  EXPECT_EQ(short_key.code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(short_key.message(), HasSubstr("31 bytes"));
  EXPECT_EQ(check_broker_key({}).code(), ErrorCode::kKeyRejected);

  const std::string same(64, 'a');
  const Status uniform = check_broker_key(bytes_of(same));
  EXPECT_EQ(uniform.code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(uniform.message(), HasSubstr("does not look random"));
  EXPECT_THAT(uniform.message(), HasSubstr("64 bytes with 1 distinct byte values"));
  EXPECT_THAT(uniform.message(), ::testing::Not(HasSubstr("aaaa")));

  const std::string repeated = "hunter2!hunter2!hunter2!hunter2!hunter2!";
  const Status phrase = check_broker_key(bytes_of(repeated));
  EXPECT_EQ(phrase.code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(phrase.message(), HasSubstr("40 bytes with 8 distinct byte values give 120 bits"));
  EXPECT_THAT(phrase.message(), ::testing::Not(HasSubstr("hunter")));
}

TEST_F(BindingTest, EnrollWithAShortBrokerKeyIsRefusedBeforeAnyChange) {
  keys_.store[kResource] = random_looking_key(16);
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("--key-source broker: default/fde/disk"));
  EXPECT_THAT(enrolled.status().message(), HasSubstr("16 bytes; at least 32"));
  EXPECT_THAT(enrolled.status().message(), HasSubstr("nothing changed"));
  EXPECT_EQ(keys_.fetches, 1);
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
  EXPECT_THAT(backups(), IsEmpty());
}

TEST_F(BindingTest, EnrollWithAPatternedBrokerKeyIsRefusedBeforeAnyChange) {
  const std::string phrase = "passwordpasswordpasswordpassword";
  keys_.store[kResource].assign(phrase.begin(), phrase.end());
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("does not look random"));
  EXPECT_THAT(enrolled.status().message(), ::testing::Not(HasSubstr("password")));
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
  EXPECT_THAT(backups(), IsEmpty());
  EXPECT_FALSE(opens(bytes_of(phrase)));
}

TEST_F(BindingTest, EnrollWithAHexBrokerKeyBinds) {
  const std::string hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  keys_.store[kResource].assign(hex.begin(), hex.end());
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  enroll_ok(options);
  EXPECT_TRUE(opens(bytes_of(hex), 1));
}

TEST_F(BindingTest, FormatWithAWeakBrokerKeyLeavesTheDeviceUntouched) {
  const auto plain = dir_.path() / "plain.img";
  { std::ofstream create(plain); }
  std::filesystem::resize_file(plain, 32u << 20);
  keys_.store[kResource] = std::vector<std::uint8_t>(64, 0x5a);
  EnrollOptions options;
  options.resource = kResource;
  options.mode = EnrollMode::kFormat;
  options.key_source = KeySource::kBroker;
  auto enrolled = enroll(plain, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kKeyRejected);
  auto volume = LuksVolume::open(plain);
  ASSERT_FALSE(volume.ok());
  EXPECT_EQ(volume.status().code(), ErrorCode::kNotLuks2);
}

TEST_F(BindingTest, IntegrityIsRefusedOutsideFormatAndWithoutDeviceMapper) {
  // The whole image (header and data area): nothing may change.
  const auto whole = [this] {
    auto bytes = read_file(image_, 64u << 20);
    EXPECT_TRUE(bytes.ok());
    auto sum = digest(DigestAlgorithm::kSha256, bytes.ok() ? *bytes : std::vector<std::uint8_t>{});
    return sum.ok() ? *sum : std::vector<std::uint8_t>{};
  };
  const auto before = whole();
  EnrollOptions options = bind_options();
  options.format = integrity_format_options(IntegrityLayout::kHmacSha256);
  auto bound = enroll(image_, options, context());
  ASSERT_FALSE(bound.ok());
  EXPECT_EQ(bound.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bound.status().message(),
              HasSubstr("integrity hmac(sha256) is chosen when a volume is formatted (--format)"));

  options.mode = EnrollMode::kEncrypt;
  auto encrypted = enroll(image_, options, context());
  ASSERT_FALSE(encrypted.ok());
  EXPECT_EQ(encrypted.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(encrypted.status().message(),
              HasSubstr("integrity hmac(sha256) needs a new volume (--format): libcryptsetup "
                        "cannot encrypt in place with integrity"));

  options.mode = EnrollMode::kFormat;
  options.force = true;
  if (testing::have_device_mapper()) {
    // device-mapper exists (the VM test runs this binary in its provisioning guest, tests/e2e):
    // --format with integrity really formats, and wipes the device through a temporary
    // dm-integrity mapping so that every tag is initialised. Nothing is left mapped or attached.
    ASSERT_TRUE(device_mapper_available().ok());
    // Without a recovery passphrase, whose keyslot would pay libcryptsetup's benchmarked argon2id
    // (half a minute under the VM test's emulation): the wipe is the same.
    options.unlock_secret = nullptr;
    auto formatted = enroll(image_, options, context());
    ASSERT_TRUE(formatted.ok()) << formatted.status().to_string();
    EXPECT_EQ(keys_.uploads, 1);
    EXPECT_NE(whole(), before);
    {
      auto volume = open();
      EXPECT_EQ(volume.integrity(), "hmac(sha256)");
      const CcFdeToken token = only_cc_fde_token();
      ASSERT_EQ(token.keyslots.size(), 1u);
      EXPECT_TRUE(broker_key_opens(token.keyslots[0]));
      testing::MappingGuard mapping("cc-fde-test-" + volume.uuid());
      ASSERT_TRUE(volume.activate(mapping.name(), keys_.store.at(kResource)).ok());
      // Initialised tags: the mapping reads without an integrity error; what is written through
      // it reads back after a new activation.
      EXPECT_EQ(testing::read_device(mapping.device(), 0, 1u << 20).size(), 1u << 20);
      const auto plaintext = testing::test_pattern(64 << 10, 2);
      ASSERT_TRUE(testing::write_device(mapping.device(), 4096, plaintext));
      ASSERT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
      ASSERT_TRUE(volume.activate(mapping.name(), keys_.store.at(kResource)).ok());
      EXPECT_EQ(testing::read_device(mapping.device(), 4096, plaintext.size()), plaintext);
      EXPECT_TRUE(LuksVolume::deactivate(mapping.name()).ok());
      EXPECT_FALSE(LuksVolume::is_active(mapping.name()));
    }
    EXPECT_TRUE(testing::no_loop_device_backs(image_));
    return;
  }
  auto formatted = enroll(image_, options, context());
  ASSERT_FALSE(formatted.ok());
  EXPECT_EQ(formatted.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(formatted.status().message(), HasSubstr("needs device-mapper"));
  EXPECT_EQ(keys_.uploads, 0);  // refused before a key was generated and uploaded
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "backups"));
  EXPECT_EQ(whole(), before);
  EXPECT_EQ(data_area_digest(), data_digest_);
}

// ---- an untrusted header UUID ----

TEST_F(BindingTest, AHeaderUuidThatIsNotAUuidIsRefusedBeforeAnyChange) {
  set_header_uuid(image_, "../../escaped");
  ASSERT_EQ(open().uuid(), "../../escaped");
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(enrolled.status().message(),
              HasSubstr("the header's UUID \"../../escaped\" is not a UUID"));
  EXPECT_EQ(keys_.uploads, 0);  // the generated key was not even uploaded
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "backups"));
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path().parent_path())) {
    EXPECT_EQ(entry.path().filename().string().find("escaped"), std::string::npos) << entry.path();
  }

  // Also with a key from the broker, and for --format --force over that header.
  keys_.store[kResource] = random_looking_key(32);
  EnrollOptions options = bind_options();
  options.key_source = KeySource::kBroker;
  EXPECT_EQ(enroll(image_, options, context()).status().code(), ErrorCode::kMalformed);
  options = EnrollOptions{};
  options.resource = kResource;
  options.mode = EnrollMode::kFormat;
  options.force = true;
  auto formatted = enroll(image_, options, context());
  EXPECT_EQ(formatted.status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_EQ(open().uuid(), "../../escaped");
  EXPECT_TRUE(opens(passphrase_.span(), 0));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "backups"));
}

TEST_F(BindingTest, RotateAndUnbindRefuseAHeaderUuidWithControlCharactersOrBadUtf8) {
  enroll_ok(bind_options());
  const auto key = keys_.store.at(kResource);
  const auto backups_before = backups();
  for (const std::string_view uuid :
       {std::string_view("\x1b[2J\n12345678-1234-1234"),
        std::string_view("12345678-1234-1234-1234-12345678\xff\xfe\xfd\xfc"),
        std::string_view("12345678/1234-1234-1234-123456789abc")}) {
    set_header_uuid(image_, uuid);
    auto rotated = rotate(image_, std::nullopt, context());
    ASSERT_FALSE(rotated.ok());
    EXPECT_EQ(rotated.status().code(), ErrorCode::kMalformed);
    EXPECT_EQ(rotated.status().message().find_first_of("\x1b\n\xff"), std::string::npos)
        << rotated.status().message();
    auto unbound = unbind(image_, std::nullopt, context());
    ASSERT_FALSE(unbound.ok());
    EXPECT_EQ(unbound.status().code(), ErrorCode::kMalformed);
  }
  EXPECT_EQ(keys_.uploads, 1);
  EXPECT_EQ(keys_.store.at(kResource), key);
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kComplete);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_EQ(backups(), backups_before);

  // Reading is harmless: list returns the bytes as stored, for the caller to escape.
  auto listing = list(image_);
  ASSERT_TRUE(listing.ok()) << listing.status().to_string();
  EXPECT_EQ(listing->uuid, "12345678/1234-1234-1234-123456789abc");
}

TEST_F(BindingTest, AnUppercaseHeaderUuidNamesTheBackupInLowercase) {
  set_header_uuid(image_, "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D");
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  const auto files = backups();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files.front().filename().string().rfind("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-", 0), 0u)
      << files.front();
}

TEST_F(BindingTest, ABackupNameTakenByADanglingSymlinkIsSkippedNotFollowed) {
  // Every name the first attempts could use within this second or the next is a symbolic link to
  // a file that does not exist: the backup goes elsewhere and the link target stays absent.
  const std::string uuid = open().uuid();
  const auto target = dir_.path() / "target.img";
  std::filesystem::create_directories(dir_.path() / "backups");
  const std::time_t now = std::time(nullptr);
  for (std::time_t when : {now, now + 1, now + 2}) {
    std::tm utc{};
    ::gmtime_r(&when, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    std::filesystem::create_symlink(target,
                                    dir_.path() / "backups" / (uuid + "-" + stamp + "-enroll.img"));
  }
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(enrolled->backup)))
      << enrolled->backup;
  EXPECT_THAT(enrolled->backup.filename().string(), ::testing::EndsWith("-enroll.1.img"));
}

TEST_F(BindingTest, EnrollWithAWrongUnlockSecretIsRejectedBeforeAnyUpload) {
  SecretBytes wrong = secret("wrong");
  EnrollOptions options = bind_options();
  options.unlock_secret = &wrong;
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("unlock secret"));
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_THAT(tokens(), IsEmpty());
}

TEST_F(BindingTest, EnrollWithoutAnUnlockSecretIsRefused) {
  EnrollOptions options = bind_options();
  options.unlock_secret = nullptr;
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("--unlock-with"));
}

TEST_F(BindingTest, EnrollWithAnUnknownProfileChangesNothing) {
  EnrollOptions options = bind_options();
  options.profile = "nope";
  auto enrolled = enroll(image_, options, context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kUnknownProfile);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("nope"));
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_THAT(tokens(), IsEmpty());
}

TEST_F(BindingTest, EnrollOnAMissingDeviceIsNotFound) {
  auto enrolled = enroll(dir_.path() / "absent.img", bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kNotFound);
}

TEST_F(BindingTest, EnrollRemovePassphraseDestroysTheUnlockKeyslotAfterVerification) {
  EnrollOptions options = bind_options();
  options.remove_passphrase = true;
  auto enrolled = enroll(image_, options, context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  EXPECT_EQ(enrolled->removed_keyslot, std::optional<int>(0));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(1));
  EXPECT_FALSE(opens(passphrase_.span()));
  EXPECT_TRUE(broker_key_opens(1));
  EXPECT_EQ(data_area_digest(), data_digest_);
}

TEST_F(BindingTest, EnrollAgainIsIdempotentAndVerifiesTheBinding) {
  enroll_ok(bind_options());
  const auto key = keys_.store.at(kResource);
  auto again = enroll(image_, bind_options(), context());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->already_enrolled);
  EXPECT_EQ(again->keyslot, 1);
  EXPECT_EQ(keys_.uploads, 1);
  EXPECT_EQ(keys_.store.at(kResource), key);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_EQ(tokens().size(), 1u);
}

TEST_F(BindingTest, EnrollAgainWithRemovePassphraseFinishesTheLastStep) {
  // A crash after the token became complete, before --remove-passphrase ran.
  enroll_ok(bind_options());
  EnrollOptions options = bind_options();
  options.remove_passphrase = true;
  auto again = enroll(image_, options, context());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->already_enrolled);
  EXPECT_EQ(again->removed_keyslot, std::optional<int>(0));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(1));
  // A third run: the passphrase opens nothing any more, which is what was asked.
  auto third = enroll(image_, options, context());
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  EXPECT_FALSE(third->removed_keyslot.has_value());
}

TEST_F(BindingTest, EnrollRerunOnAPendingTokenDestroysTheUnverifiedKeyslotAndRedoes) {
  // A crash after "enroll.after-add-keyslot": token pending, keyslot 1 holds a key the broker
  // may not even have.
  const SecretBytes stale = secret("stale key of the first attempt");
  add_keyslot(stale.span(), 1);
  CcFdeToken pending{{}, "default", kResource, TokenState::kPending, 1};
  write_token(pending);
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  EXPECT_TRUE(enrolled->completed_interrupted);
  EXPECT_EQ(enrolled->keyslot, 1);
  EXPECT_FALSE(opens(stale.span()));
  EXPECT_TRUE(broker_key_opens(1));
  EXPECT_TRUE(opens(passphrase_.span(), 0));
  const CcFdeToken token = only_cc_fde_token();
  EXPECT_EQ(token.state, TokenState::kComplete);
  EXPECT_THAT(token.keyslots, ElementsAre(1));
  EXPECT_THAT(notices_, ::testing::Contains(HasSubstr("destroyed unverified keyslot 1")));
}

TEST_F(BindingTest, EnrollRerunOnAPendingTokenWithoutItsKeyslotCompletes) {
  // A crash after "enroll.after-token-pending".
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kPending, 1});
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  EXPECT_TRUE(enrolled->completed_interrupted);
  EXPECT_TRUE(broker_key_opens(enrolled->keyslot));
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kComplete);
}

TEST_F(BindingTest, EnrollRerunNeverDestroysThePendingKeyslotTheUnlockSecretOpens) {
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kPending, 0});
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("unlock secret opens"));
  EXPECT_TRUE(opens(passphrase_.span(), 0));
}

TEST_F(BindingTest, EnrollRefusesAHeaderWithAnInvalidCcFdeToken) {
  auto volume = open();
  ASSERT_TRUE(volume.set_token(kAnyToken, R"({"type":"cc-fde","keyslots":[],"bogus":1})").ok());
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kInvalidToken);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("token 0"));
  EXPECT_EQ(keys_.uploads, 0);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
}

TEST_F(BindingTest, EnrollRefusesWhileAnotherTokenIsRotating) {
  add_keyslot(secret("other").span(), 3);
  write_token(CcFdeToken{{3}, "other", "default/fde/other", TokenState::kRotating, 4});
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(enrolled.status().message(), HasSubstr("fdectl rotate"));
  EXPECT_EQ(keys_.uploads, 0);
}

TEST_F(BindingTest, EnrollAFailedUploadChangesNothing) {
  keys_.upload_error = Status(ErrorCode::kPolicyDenied, "admin token refused");
  auto enrolled = enroll(image_, bind_options(), context());
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
}

TEST_F(BindingTest, FormatCreatesABoundVolume) {
  const auto plain = dir_.path() / "plain.img";
  { std::ofstream create(plain); }
  std::filesystem::resize_file(plain, 32u << 20);
  EnrollOptions options;
  options.resource = kResource;
  options.mode = EnrollMode::kFormat;
  auto enrolled = enroll(plain, options, context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  auto volume = LuksVolume::open(plain);
  ASSERT_TRUE(volume.ok());
  EXPECT_TRUE(volume->verify_passphrase(keys_.store.at(kResource), enrolled->keyslot).ok());
  EXPECT_EQ(volume->uuid(), enrolled->uuid);

  // Over an existing LUKS header only with force.
  auto again = enroll(plain, options, context());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(again.status().message(), HasSubstr("--force"));
}

TEST_F(BindingTest, EncryptInPlaceBindsAndARerunIsIdempotent) {
  const auto plain = dir_.path() / "plain.img";
  { std::ofstream create(plain); }
  std::filesystem::resize_file(plain, 40u << 20);
  EnrollOptions options;
  options.resource = kResource;
  options.mode = EnrollMode::kEncrypt;
  auto enrolled = enroll(plain, options, context());
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
  auto volume = LuksVolume::open(plain);
  ASSERT_TRUE(volume.ok());
  EXPECT_FALSE(volume->reencryption_in_progress());
  EXPECT_TRUE(volume->verify_passphrase(keys_.store.at(kResource), enrolled->keyslot).ok());
  auto again = enroll(plain, options, context());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->already_enrolled);
  EXPECT_EQ(keys_.uploads, 1);
}

// ---- rotate ----

TEST_F(BindingTest, RotateReplacesKeyAndKeyslot) {
  enroll_ok(bind_options());
  const auto old_key = keys_.store.at(kResource);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_EQ(rotated->old_keyslot, 1);
  EXPECT_EQ(rotated->new_keyslot, 2);
  EXPECT_NE(keys_.store.at(kResource), old_key);
  EXPECT_FALSE(opens(old_key));
  EXPECT_TRUE(broker_key_opens(2));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 2));
  const CcFdeToken token = only_cc_fde_token();
  EXPECT_EQ(token.state, TokenState::kComplete);
  EXPECT_THAT(token.keyslots, ElementsAre(2));
  EXPECT_EQ(data_area_digest(), data_digest_);
  EXPECT_EQ(backups().size(), 2u);
}

TEST_F(BindingTest, RotateWhenTheBrokerKeyOpensNothingChangesNothing) {
  enroll_ok(bind_options());
  keys_.store[kResource] = std::vector<std::uint8_t>(32, 1);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(rotated.status().message(), HasSubstr("nothing changed"));
  EXPECT_EQ(keys_.uploads, 1);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
}

TEST_F(BindingTest, RotateAFailedUploadRollsTheNewKeyslotBack) {
  enroll_ok(bind_options());
  const auto old_key = keys_.store.at(kResource);
  keys_.upload_error = Status(ErrorCode::kPolicyDenied, "admin token refused");
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), ErrorCode::kPolicyDenied);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_TRUE(opens(old_key, 1));
  const CcFdeToken token = only_cc_fde_token();
  EXPECT_EQ(token.state, TokenState::kComplete);
  EXPECT_THAT(token.keyslots, ElementsAre(1));
}

// The states a crash leaves inside rotate, each followed by a re-run.
class RotateRerunTest : public BindingTest {
 protected:
  void SetUp() override {
    BindingTest::SetUp();
    enroll_ok(bind_options());
    old_key_ = keys_.store.at(kResource);
  }
  void expect_rotated_to_a_single_fresh_keyslot() {
    EXPECT_FALSE(opens(old_key_));
    const CcFdeToken token = only_cc_fde_token();
    EXPECT_EQ(token.state, TokenState::kComplete);
    ASSERT_EQ(token.keyslots.size(), 1u);
    EXPECT_FALSE(token.pending_keyslot.has_value());
    EXPECT_TRUE(broker_key_opens(token.keyslots.front()));
    EXPECT_THAT(open().active_keyslots(), ElementsAre(0, token.keyslots.front()));
    EXPECT_EQ(data_area_digest(), data_digest_);
  }
  std::vector<std::uint8_t> old_key_;
};

TEST_F(RotateRerunTest, AfterTokenRotatingRotatesAgain) {
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kRotating, 2}, 0);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_TRUE(rotated->completed_interrupted);
  EXPECT_EQ(keys_.uploads, 2);
  expect_rotated_to_a_single_fresh_keyslot();
}

TEST_F(RotateRerunTest, AfterAddKeyslotDropsTheUnuploadedKeyslotAndRotatesAgain) {
  const SecretBytes unuploaded = secret("new key that never reached the broker");
  add_keyslot(unuploaded.span(), 2);
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kRotating, 2}, 0);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_FALSE(opens(unuploaded.span()));
  expect_rotated_to_a_single_fresh_keyslot();
}

TEST_F(RotateRerunTest, AfterTokenBothWithTheOldKeyAtTheBrokerKeepsTheOldSlotThenRotates) {
  const SecretBytes unuploaded = secret("new key that never reached the broker");
  add_keyslot(unuploaded.span(), 2);
  write_token(CcFdeToken{{1, 2}, "default", kResource, TokenState::kRotating, 2}, 0);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_FALSE(opens(unuploaded.span()));
  EXPECT_THAT(notices_, ::testing::Contains(HasSubstr("destroyed keyslot 2")));
  expect_rotated_to_a_single_fresh_keyslot();
}

TEST_F(RotateRerunTest, AfterUploadKeepsTheNewSlotAndFinishesWithoutAnotherUpload) {
  const SecretBytes uploaded = secret("new key already at the broker");
  add_keyslot(uploaded.span(), 2);
  write_token(CcFdeToken{{1, 2}, "default", kResource, TokenState::kRotating, 2}, 0);
  keys_.store[kResource].assign(uploaded.span().begin(), uploaded.span().end());
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_TRUE(rotated->completed_interrupted);
  EXPECT_EQ(rotated->new_keyslot, 2);
  EXPECT_EQ(rotated->old_keyslot, 1);
  EXPECT_EQ(keys_.uploads, 1);
  EXPECT_TRUE(opens(uploaded.span(), 2));
  expect_rotated_to_a_single_fresh_keyslot();
}

TEST_F(RotateRerunTest, AfterDestroyOldOnlyRewritesTheToken) {
  const SecretBytes uploaded = secret("new key already at the broker");
  add_keyslot(uploaded.span(), 2);
  write_token(CcFdeToken{{1, 2}, "default", kResource, TokenState::kRotating, 2}, 0);
  keys_.store[kResource].assign(uploaded.span().begin(), uploaded.span().end());
  ASSERT_TRUE(open().destroy_keyslot(1).ok());  // libcryptsetup drops it from the token too
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_EQ(keys_.uploads, 1);
  expect_rotated_to_a_single_fresh_keyslot();
}

TEST_F(RotateRerunTest, WhenTheBrokerKeyOpensNoCandidateNothingChanges) {
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kRotating, 2}, 0);
  keys_.store[kResource] = std::vector<std::uint8_t>(32, 7);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), ErrorCode::kKeyRejected);
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kRotating);
  EXPECT_TRUE(opens(old_key_, 1));
}

TEST_F(RotateRerunTest, PendingAndUnbindingTokensAreReportedNotRotated) {
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kUnbinding, std::nullopt}, 0);
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(rotated.status().message(), HasSubstr("fdectl unbind"));
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kPending, 1}, 0);
  rotated = rotate(image_, std::nullopt, context());
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(rotated.status().message(), HasSubstr("fdectl enroll"));
}

// ---- reencrypt (volume-key change) ----

// The plaintext of the data area as `volume_key` decrypts it (aes-xts-plain64 in the header's
// sector size, the IV counting 512-byte units whatever the sector size, as LUKS2 sets up dm-crypt:
// no iv_large_sectors), as a SHA-256: what a reader with that key sees, without device-mapper.
std::vector<std::uint8_t> plaintext_digest(const std::filesystem::path& image,
                                           std::span<const std::uint8_t> volume_key) {
  auto volume = LuksVolume::open(image);
  EXPECT_TRUE(volume.ok());
  if (!volume.ok()) return {};
  EXPECT_EQ(volume->segment_cipher(), "aes-xts-plain64");
  EXPECT_EQ(volume_key.size(), 64u);
  const std::size_t sector = volume->sector_size();
  auto content = read_file(image, std::size_t{1} << 30);
  EXPECT_TRUE(content.ok());
  if (!content.ok()) return {};
  std::span<const std::uint8_t> data =
      std::span<const std::uint8_t>(*content).subspan(volume->data_offset_bytes());
  std::vector<std::uint8_t> plain(data.size());
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  for (std::size_t offset = 0; offset + sector <= data.size(); offset += sector) {
    std::array<std::uint8_t, 16> iv{};
    const std::uint64_t number = offset / 512;
    for (std::size_t i = 0; i < 8; ++i) iv[i] = static_cast<std::uint8_t>(number >> (8 * i));
    int written = 0;
    EXPECT_EQ(
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_xts(), nullptr, volume_key.data(), iv.data()), 1);
    EXPECT_EQ(EVP_DecryptUpdate(ctx.get(), plain.data() + offset, &written, data.data() + offset,
                                static_cast<int>(sector)),
              1);
  }
  auto sum = digest(DigestAlgorithm::kSha256, plain);
  EXPECT_TRUE(sum.ok());
  return sum.ok() ? *sum : std::vector<std::uint8_t>{};
}

class ReencryptTest : public BindingTest {
 protected:
  // A data area of two reencryption steps (16 MiB each), so that an interruption after the first
  // leaves the data pass half done.
  ReencryptTest() { image_bytes_ = 48u << 20; }
  void SetUp() override {
    BindingTest::SetUp();
    enroll_ok(bind_options());
    broker_key_ = keys_.store.at(kResource);
    old_volume_key_ = volume_key_of(broker_key_);
    plaintext_ = plaintext_digest(image_, old_volume_key_.span());
  }
  SecretBytes volume_key_of(std::span<const std::uint8_t> key) {
    auto vk = open().volume_key(key, kAnyKeyslot);
    EXPECT_TRUE(vk.ok()) << vk.status().to_string();
    return vk.ok() ? std::move(vk).value() : SecretBytes();
  }
  ReencryptOptions dropping() {
    ReencryptOptions options;
    options.drop_other_keyslots = true;
    return options;
  }
  // The broker key opens the one keyslot of a complete token, under a new volume key that
  // decrypts the same plaintext; the old volume key no longer does.
  void expect_reencrypted(int new_keyslot) {
    const CcFdeToken token = only_cc_fde_token();
    EXPECT_EQ(token.state, TokenState::kComplete);
    EXPECT_THAT(token.keyslots, ElementsAre(new_keyslot));
    EXPECT_FALSE(token.pending_keyslot.has_value());
    EXPECT_TRUE(broker_key_opens(new_keyslot));
    EXPECT_FALSE(open().reencryption_in_progress());
    const SecretBytes new_volume_key = volume_key_of(broker_key_);
    EXPECT_FALSE(new_volume_key.equals(old_volume_key_.span()));
    EXPECT_EQ(plaintext_digest(image_, new_volume_key.span()), plaintext_);
    EXPECT_NE(plaintext_digest(image_, old_volume_key_.span()), plaintext_);
    EXPECT_NE(data_area_digest(), data_digest_);
    EXPECT_FALSE(opens(passphrase_.span()));
  }

  std::vector<std::uint8_t> broker_key_;
  SecretBytes old_volume_key_;
  std::vector<std::uint8_t> plaintext_;
};

TEST_F(ReencryptTest, ANewVolumeKeyDecryptsTheSamePlaintextAndTheOldKeyslotsAreGone) {
  auto done = reencrypt(image_, dropping(), context());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_EQ(done->token_id, 0);
  EXPECT_THAT(done->old_keyslots, ElementsAre(0, 1));
  EXPECT_EQ(done->new_keyslot, 2);
  EXPECT_FALSE(done->recovery_keyslot.has_value());
  EXPECT_FALSE(done->completed_interrupted);
  EXPECT_EQ(keys_.uploads, 1);  // the broker key is unchanged
  EXPECT_THAT(open().active_keyslots(), ElementsAre(2));
  expect_reencrypted(2);
  // The header backup still opens with the old passphrase: it holds the old key only.
  ASSERT_EQ(backups().size(), 2u);
  auto old_header = LuksVolume::open(backups().back());
  ASSERT_TRUE(old_header.ok());
  auto old_vk = old_header->volume_key(passphrase_.span(), 0);
  ASSERT_TRUE(old_vk.ok()) << old_vk.status().to_string();
  EXPECT_TRUE(old_vk->equals(old_volume_key_.span()));
}

TEST_F(ReencryptTest, OtherKeyslotsAreKeptUnlessDroppingIsConfirmedAndNothingChanges) {
  auto refused = reencrypt(image_, ReencryptOptions{}, context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("keyslots 0 are not token 0's"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--drop-other-keyslots"));
  EXPECT_EQ(data_area_digest(), data_digest_);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kComplete);
  EXPECT_EQ(backups().size(), 1u);
}

TEST_F(ReencryptTest, ARecoveryPassphraseGetsAKeyslotOfTheNewKey) {
  const SecretBytes recovery = secret("a new recovery passphrase");
  ReencryptOptions options = dropping();
  options.recovery_passphrase = &recovery;
  auto done = reencrypt(image_, options, context());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  ASSERT_TRUE(done->recovery_keyslot.has_value());
  EXPECT_TRUE(opens(recovery.span(), *done->recovery_keyslot));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(*done->recovery_keyslot, done->new_keyslot));
  expect_reencrypted(done->new_keyslot);
}

TEST_F(ReencryptTest, ABrokerKeyThatOpensNothingChangesNothing) {
  keys_.store[kResource] = std::vector<std::uint8_t>(32, 7);
  auto refused = reencrypt(image_, dropping(), context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(refused.status().message(), HasSubstr("nothing changed"));
  EXPECT_EQ(data_area_digest(), data_digest_);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_EQ(backups().size(), 1u);
}

TEST_F(ReencryptTest, AVolumeWithAnotherCcFdeTokenIsRefused) {
  write_token(CcFdeToken{{0}, "default", "default/fde/other", TokenState::kComplete, {}});
  auto refused = reencrypt(image_, dropping(), context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  ReencryptOptions by_id = dropping();
  by_id.token_id = 0;
  refused = reencrypt(image_, by_id, context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("other cc-fde tokens (1)"));
  EXPECT_EQ(data_area_digest(), data_digest_);
}

TEST_F(ReencryptTest, AnInterruptedDataPassIsRefusedByRotateAndUnbindAndResumedByARerun) {
  ReencryptOptions options = dropping();
  options.progress = [](std::uint64_t /*done*/, std::uint64_t /*total*/) { return false; };
  auto interrupted = reencrypt(image_, options, context());
  ASSERT_FALSE(interrupted.ok());
  EXPECT_EQ(interrupted.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(open().reencryption_in_progress());
  const CcFdeToken token = only_cc_fde_token();
  EXPECT_EQ(token.state, TokenState::kReencrypting);
  EXPECT_EQ(token.pending_keyslot, 2);

  for (auto result : {rotate(image_, std::nullopt, context()).status(),
                      unbind(image_, std::nullopt, context()).status(),
                      test_binding(image_, std::nullopt, context()).status()}) {
    EXPECT_EQ(result.code(), ErrorCode::kUnfinishedOperation) << result.to_string();
    EXPECT_THAT(result.message(), HasSubstr("fdectl reencrypt"));
  }

  auto resumed = reencrypt(image_, ReencryptOptions{}, context());
  ASSERT_TRUE(resumed.ok()) << resumed.status().to_string();
  EXPECT_TRUE(resumed->completed_interrupted);
  EXPECT_EQ(resumed->new_keyslot, 2);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(2));
  expect_reencrypted(2);
}

TEST_F(ReencryptTest, KilledBeforeTheNewKeyslotARerunAddsItAndFinishes) {
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kReencrypting, 2}, 0);
  auto done = reencrypt(image_, dropping(), context());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_TRUE(done->completed_interrupted);
  expect_reencrypted(2);
}

TEST_F(ReencryptTest, KilledWithTheNewKeyslotUnboundARerunFinishes) {
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kReencrypting, 3}, 0);
  {
    auto volume = open();
    auto added = volume.add_unbound_keyslot(broker_key_, KeyslotKdf::kMinimalPbkdf2, 3);
    ASSERT_TRUE(added.ok()) << added.status().to_string();
    EXPECT_TRUE(volume.keyslot_unbound(3));
    EXPECT_FALSE(volume.keyslot_unbound(1));
  }
  auto done = reencrypt(image_, dropping(), context());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_EQ(done->new_keyslot, 3);
  expect_reencrypted(3);
}

TEST_F(ReencryptTest, AFinishedChangeKilledBeforeItsTokenIsCompletedWithTheBackupOfItsStart) {
  auto done = reencrypt(image_, dropping(), context());
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  // The state a kill after the data pass leaves: the old keyslots gone, the token reencrypting.
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kReencrypting, 2}, 0);
  auto again = reencrypt(image_, ReencryptOptions{}, context());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->completed_interrupted);
  EXPECT_EQ(again->new_keyslot, 2);
  expect_reencrypted(2);
}

TEST_F(ReencryptTest, AHeaderClaimingAFinishedChangeWithoutEvidenceIsRefused) {
  // The host writes a "reencrypting" token naming the current, bound keyslot: nothing was
  // re-encrypted, and no backup of a change's start is in the backup directory.
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kReencrypting, 1}, 0);
  auto refused = reencrypt(image_, dropping(), context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("says a volume-key change finished on keyslot 1, but no header backup"));
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kReencrypting);
  EXPECT_EQ(data_area_digest(), data_digest_);
  EXPECT_TRUE(volume_key_of(broker_key_).equals(old_volume_key_.span()));
}

TEST_F(ReencryptTest, AHeaderReencryptionFdectlDidNotStartIsRefused) {
  {
    auto volume = open();
    ASSERT_TRUE(volume.add_unbound_keyslot(broker_key_, KeyslotKdf::kMinimalPbkdf2, 4).ok());
    auto interrupted =
        volume.reencrypt(broker_key_, 4, [](std::uint64_t, std::uint64_t) { return false; });
    ASSERT_EQ(interrupted.code(), ErrorCode::kDeadlineExceeded) << interrupted.to_string();
  }
  auto refused = reencrypt(image_, dropping(), context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(refused.status().message(), HasSubstr("did not start"));
}

TEST_F(ReencryptTest, AnIntegrityProtectedVolumeIsRefusedBeforeAnyChange) {
  ccfde::testing::set_segment_integrity(image_, "hmac(sha256)");
  ASSERT_EQ(open().integrity(), "hmac(sha256)");
  const auto digest_before = data_area_digest();
  auto refused = reencrypt(image_, dropping(), context());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("integrity-protected (hmac(sha256)): libcryptsetup cannot re-encrypt"));
  EXPECT_EQ(backups().size(), 1u);
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kComplete);
  EXPECT_EQ(data_area_digest(), digest_before);
  auto volume = open();
  const Status direct = volume.reencrypt(broker_key_, 1);
  EXPECT_EQ(direct.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(direct.message(), HasSubstr("integrity-protected"));
}

TEST_F(ReencryptTest, LuksVolumeRefusesAKeyslotThatIsNotUnbound) {
  auto volume = open();
  const Status refused = volume.reencrypt(broker_key_, 1);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("not an unbound keyslot"));
  EXPECT_FALSE(open().reencryption_in_progress());
  EXPECT_EQ(data_area_digest(), data_digest_);
  auto where = open().reencryption_mapping();
  ASSERT_TRUE(where.ok()) << where.status().to_string();
  EXPECT_EQ(*where, "");  // an image file with no mapping: offline
  EXPECT_EQ(open().integrity(), "");
}

// ---- unbind ----

TEST_F(BindingTest, UnbindRemovesTheTokenAndItsKeyslot) {
  enroll_ok(bind_options());
  const auto key = keys_.store.at(kResource);
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_THAT(unbound->removed_keyslots, ElementsAre(1));
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
  EXPECT_FALSE(opens(key));
  EXPECT_TRUE(opens(passphrase_.span(), 0));
  EXPECT_EQ(data_area_digest(), data_digest_);
}

TEST_F(BindingTest, UnbindRefusesToRemoveTheLastCredential) {
  EnrollOptions options = bind_options();
  options.remove_passphrase = true;
  enroll_ok(options);
  const std::size_t backups_before = backups().size();
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_FALSE(unbound.ok());
  EXPECT_EQ(unbound.status().code(), ErrorCode::kLastCredential);
  EXPECT_THAT(unbound.status().message(), HasSubstr("no way to open"));
  EXPECT_EQ(only_cc_fde_token().state, TokenState::kComplete);
  EXPECT_TRUE(broker_key_opens(1));
  EXPECT_EQ(backups().size(), backups_before);
}

TEST_F(BindingTest, UnbindRerunInStateUnbindingFinishes) {
  enroll_ok(bind_options());
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kUnbinding, std::nullopt}, 0);
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_TRUE(unbound->completed_interrupted);
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0));
}

TEST_F(BindingTest, UnbindRerunAfterTheKeyslotsAreGoneRemovesTheToken) {
  enroll_ok(bind_options());
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kUnbinding, std::nullopt}, 0);
  ASSERT_TRUE(open().destroy_keyslot(1).ok());
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_THAT(unbound->removed_keyslots, IsEmpty());
  EXPECT_THAT(tokens(), IsEmpty());
}

TEST_F(BindingTest, UnbindAbandonsAPendingEnroll) {
  const SecretBytes stale = secret("stale");
  add_keyslot(stale.span(), 1);
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kPending, 1});
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_THAT(unbound->removed_keyslots, ElementsAre(1));
  EXPECT_THAT(tokens(), IsEmpty());
  EXPECT_FALSE(opens(stale.span()));
}

TEST_F(BindingTest, UnbindOfARotatingTokenIsRefused) {
  enroll_ok(bind_options());
  write_token(CcFdeToken{{1}, "default", kResource, TokenState::kRotating, 2}, 0);
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_FALSE(unbound.ok());
  EXPECT_EQ(unbound.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(unbound.status().message(), HasSubstr("fdectl rotate"));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
}

TEST_F(BindingTest, UnbindSelectsByTokenIdAndRefusesAmbiguity) {
  enroll_ok(bind_options());
  EnrollOptions second = bind_options();
  second.resource = "default/fde/second";
  enroll_ok(second);
  auto ambiguous = unbind(image_, std::nullopt, context());
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(ambiguous.status().message(), HasSubstr("--token"));
  auto missing = unbind(image_, 7, context());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNoToken);
  auto unbound = unbind(image_, 1, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_THAT(unbound->removed_keyslots, ElementsAre(2));
  EXPECT_EQ(only_cc_fde_token().resource, kResource);
}

// ---- test ----

TEST_F(BindingTest, TestFetchesAndVerifiesWithoutChangingAnything) {
  enroll_ok(bind_options());
  const std::size_t backups_before = backups().size();
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_TRUE(tested.ok()) << tested.status().to_string();
  EXPECT_EQ(tested->keyslot, 1);
  EXPECT_EQ(tested->token_id, 0);
  EXPECT_EQ(tested->resource, kResource);
  EXPECT_EQ(keys_.last_profile, "default");
  EXPECT_EQ(backups().size(), backups_before);
}

TEST_F(BindingTest, TestWithAWrongBrokerKeyIsKeyRejected) {
  enroll_ok(bind_options());
  keys_.store[kResource] = std::vector<std::uint8_t>(32, 9);
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(tested.ok());
  EXPECT_EQ(tested.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(tested.status().message(), HasSubstr("opens none of token 0's keyslots (1)"));
}

TEST_F(BindingTest, TestPassesBrokerRefusalsThrough) {
  enroll_ok(bind_options());
  keys_.fetch_error = Status(ErrorCode::kAttestationRefused, "evidence refused");
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(tested.ok());
  EXPECT_EQ(tested.status().code(), ErrorCode::kAttestationRefused);
}

TEST_F(BindingTest, TestOfATokenNamingAnUnknownProfileIsRefused) {
  add_keyslot(secret("k").span(), 1);
  write_token(CcFdeToken{{1}, "elsewhere", kResource, TokenState::kComplete, std::nullopt});
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(tested.ok());
  EXPECT_EQ(tested.status().code(), ErrorCode::kUnknownProfile);
  EXPECT_THAT(tested.status().message(), HasSubstr("elsewhere"));
  EXPECT_EQ(keys_.fetches, 0);
  auto unbound = unbind(image_, std::nullopt, context());
  EXPECT_EQ(unbound.status().code(), ErrorCode::kUnknownProfile);
}

TEST_F(BindingTest, TestWithoutATokenOrWithAnInvalidOne) {
  auto none = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kNoToken);
  auto volume = open();
  ASSERT_TRUE(
      volume.set_token(kAnyToken, R"({"type":"cc-fde","keyslots":["0"],"cc-fde-version":1})").ok());
  auto invalid = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().code(), ErrorCode::kInvalidToken);
  EXPECT_THAT(invalid.status().message(), HasSubstr("token 0"));
}

TEST_F(BindingTest, TestOfAnInterruptedOperationNamesTheCommand) {
  write_token(CcFdeToken{{}, "default", kResource, TokenState::kPending, 1});
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_FALSE(tested.ok());
  EXPECT_EQ(tested.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_THAT(tested.status().message(), HasSubstr("state pending"));
}

// ---- list ----

TEST_F(BindingTest, ListShowsValidInvalidAndForeignTokens) {
  enroll_ok(bind_options());
  auto volume = open();
  ASSERT_TRUE(volume.set_token(kAnyToken, R"({"type":"cc-fde","keyslots":["1"]})").ok());
  ASSERT_TRUE(volume.set_token(kAnyToken, R"({"type":"systemd-recovery","keyslots":["0"]})").ok());
  auto listing = list(image_);
  ASSERT_TRUE(listing.ok()) << listing.status().to_string();
  EXPECT_EQ(listing->uuid, volume.uuid());
  EXPECT_EQ(listing->data_offset_bytes, data_offset_);
  EXPECT_FALSE(listing->reencryption_in_progress);
  EXPECT_THAT(listing->keyslots, ElementsAre(0, 1));
  ASSERT_EQ(listing->tokens.size(), 3u);
  EXPECT_TRUE(listing->tokens[0].cc_fde.has_value());
  EXPECT_EQ(listing->tokens[0].cc_fde->resource, kResource);
  EXPECT_FALSE(listing->tokens[1].cc_fde.has_value());
  ASSERT_TRUE(listing->tokens[1].error.has_value());
  EXPECT_EQ(listing->tokens[1].error->code(), ErrorCode::kInvalidToken);
  EXPECT_THAT(listing->tokens[1].keyslots, ElementsAre(1));
  EXPECT_EQ(listing->tokens[2].type, "systemd-recovery");
  EXPECT_FALSE(listing->tokens[2].error.has_value());
  EXPECT_THAT(listing->tokens[2].keyslots, ElementsAre(0));
}

TEST_F(BindingTest, ListOfANonLuksFileIsNotLuks2) {
  const auto plain = dir_.path() / "plain.img";
  { std::ofstream create(plain); }
  std::filesystem::resize_file(plain, 1u << 20);
  auto listing = list(plain);
  ASSERT_FALSE(listing.ok());
  EXPECT_EQ(listing.status().code(), ErrorCode::kNotLuks2);
}

TEST(OneLinePrintable, EscapesEveryControlCharacterAndNonAsciiByte) {
  EXPECT_EQ(one_line_printable("plain text, ok"), "plain text, ok");
  EXPECT_EQ(one_line_printable(std::string_view("a\tb\nc\rd\x1b[2J\xff\0e", 14)),
            "a\\x09b\\x0ac\\x0dd\\x1b[2J\\xff\\x00e");
}

// ---- process protection ----

// protect_key_process in a child process (it changes the whole process): the child reports what
// the kernel says afterwards through its exit status, one bit per failed expectation.
TEST(ProtectKeyProcess, MakesTheProcessUndumpableWithoutCoreAndLocksMemoryWhenAllowed) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int failures = 0;
    auto protection = protect_key_process();
    if (!protection.ok()) ::_exit(64);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) failures |= 1;
    struct rlimit core {};
    if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) {
      failures |= 2;
    }
    // Locked memory shows in VmLck; a lock that was not possible must say why. As root
    // (CAP_IPC_LOCK) the lock is always possible. ASan intercepts mlockall and ignores it (its
    // shadow mappings could not be locked), so a sanitizer build can check neither.
#if !defined(__SANITIZE_ADDRESS__)
    auto status = read_file("/proc/self/status");
    if (!status.ok()) ::_exit(65);
    const std::string text(status->begin(), status->end());
    const std::size_t at = text.find("VmLck:");
    const long locked_kib = at == std::string::npos ? -1 : std::atol(text.c_str() + at + 6);
    if (protection->memory_lock.ok() ? locked_kib <= 0
                                     : protection->memory_lock.message().empty()) {
      failures |= 4;
    }
    if (::geteuid() == 0 && !protection->memory_lock.ok()) failures |= 8;
#endif
    ::_exit(failures);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: dumpable, 2: core limit, 4: memory lock, 8: root "
                                       "without a lock, 64: protect_key_process failed";
}

// ---- recovery key ----

class RecoveryKeyTest : public BindingTest {
 protected:
  RecoveryKeyResult add_ok(const RecoveryKeyOptions& options = {}) {
    auto added = add_recovery_key(image_, options, context());
    EXPECT_TRUE(added.ok()) << added.status().to_string();
    return added.ok() ? std::move(added).value() : RecoveryKeyResult{};
  }

  std::vector<ListedToken> recovery_tokens() {
    auto listing = list(image_);
    EXPECT_TRUE(listing.ok()) << listing.status().to_string();
    std::vector<ListedToken> found;
    if (!listing.ok()) return found;
    for (const auto& token : listing->tokens) {
      if (token.recovery) found.push_back(token);
    }
    return found;
  }

  // No notice the operation gave holds the key's text, nor any 8-letter group of it.
  void expect_not_in_notices(const SecretBytes& key) {
    const std::string text(reinterpret_cast<const char*>(key.data()), key.size());
    for (const std::string& notice : notices_) {
      EXPECT_EQ(notice.find(text.substr(0, kRecoveryKeyGroupLength)), std::string::npos);
      EXPECT_EQ(notice.find(text.substr(text.size() - kRecoveryKeyGroupLength)), std::string::npos);
    }
  }
};

TEST_F(RecoveryKeyTest, AddsAnArgon2idKeyslotOpenedByThePrintableKeyAndAMarkerToken) {
  enroll_ok(bind_options());
  const int fetches_before = keys_.fetches;
  const RecoveryKeyResult added = add_ok();
  EXPECT_EQ(keys_.fetches, fetches_before + 1);  // authorised by the broker key
  EXPECT_EQ(keys_.uploads, 1);                   // the enroll's only
  EXPECT_EQ(added.keyslot, 2);
  EXPECT_FALSE(added.completed_interrupted);
  EXPECT_TRUE(is_recovery_key_text(added.key.span()));
  EXPECT_TRUE(opens(added.key.span(), 2));
  EXPECT_FALSE(opens(added.key.span(), 1));
  EXPECT_EQ(open().keyslot_pbkdf(2), "argon2id");
  EXPECT_EQ(open().keyslot_pbkdf(1), "pbkdf2");
  EXPECT_THAT(added.created,
              ::testing::MatchesRegex(
                  "20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z"));
  EXPECT_EQ(data_area_digest(), data_digest_);
  expect_not_in_notices(added.key);

  const auto found = recovery_tokens();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, added.token_id);
  EXPECT_EQ(found[0].type, "systemd-recovery");
  EXPECT_THAT(found[0].keyslots, ElementsAre(2));
  EXPECT_EQ(found[0].recovery->created, added.created);
  EXPECT_FALSE(found[0].recovery->pending_keyslot.has_value());
  auto listing = list(image_);
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->keyslot_pbkdfs.at(2), "argon2id");

  // The backup was taken before the change.
  auto restored = LuksVolume::open(added.backup);
  ASSERT_TRUE(restored.ok()) << restored.status().to_string();
  EXPECT_THAT(restored->active_keyslots(), ElementsAre(0, 1));
  // The cc-fde token is unchanged.
  auto volume = open();
  auto entries = volume.tokens();
  ASSERT_TRUE(entries.ok());
  for (const auto& entry : *entries) {
    if (entry.type != kTokenType) continue;
    auto token = parse_token(entry.json);
    ASSERT_TRUE(token.ok());
    EXPECT_THAT(token->keyslots, ElementsAre(1));
  }
}

TEST_F(RecoveryKeyTest, AnUnlockSecretAuthorisesItOnAVolumeWithoutACcFdeToken) {
  RecoveryKeyOptions options;
  options.unlock_secret = &passphrase_;
  const RecoveryKeyResult added = add_ok(options);
  EXPECT_EQ(keys_.fetches, 0);
  EXPECT_EQ(added.keyslot, 1);
  EXPECT_TRUE(opens(added.key.span(), 1));
  EXPECT_TRUE(opens(passphrase_.span(), 0));
  // A second one is another keyslot and another key; the first still opens.
  const RecoveryKeyResult second = add_ok(options);
  EXPECT_EQ(second.keyslot, 2);
  EXPECT_FALSE(second.key.equals(added.key.span()));
  EXPECT_TRUE(opens(added.key.span(), 1));
  EXPECT_EQ(recovery_tokens().size(), 2u);
}

TEST_F(RecoveryKeyTest, NothingChangesWithoutAWayToAuthoriseIt) {
  auto no_token = add_recovery_key(image_, {}, context());
  ASSERT_FALSE(no_token.ok());
  EXPECT_EQ(no_token.status().code(), ErrorCode::kNoToken);
  const SecretBytes wrong = secret("not the passphrase");
  RecoveryKeyOptions options;
  options.unlock_secret = &wrong;
  auto rejected = add_recovery_key(image_, options, context());
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), ErrorCode::kKeyRejected);
  enroll_ok(bind_options());
  const std::size_t backups_before = backups().size();
  keys_.store[kResource] = random_looking_key(32);  // the broker's key no longer opens keyslot 1
  auto stale = add_recovery_key(image_, {}, context());
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), ErrorCode::kKeyRejected);
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_TRUE(recovery_tokens().empty());
  EXPECT_EQ(backups().size(), backups_before);
}

TEST_F(RecoveryKeyTest, RotateTestAndUnbindLeaveItAlone) {
  enroll_ok(bind_options());
  const RecoveryKeyResult added = add_ok();
  auto rotated = rotate(image_, std::nullopt, context());
  ASSERT_TRUE(rotated.ok()) << rotated.status().to_string();
  EXPECT_NE(rotated->new_keyslot, added.keyslot);
  EXPECT_NE(rotated->old_keyslot, added.keyslot);
  auto tested = test_binding(image_, std::nullopt, context());
  ASSERT_TRUE(tested.ok()) << tested.status().to_string();
  EXPECT_NE(tested->keyslot, added.keyslot);
  auto unbound = unbind(image_, std::nullopt, context());
  ASSERT_TRUE(unbound.ok()) << unbound.status().to_string();
  EXPECT_THAT(unbound->removed_keyslots, ElementsAre(rotated->new_keyslot));
  EXPECT_TRUE(opens(added.key.span(), added.keyslot));
  const auto found = recovery_tokens();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(found[0].keyslots, ElementsAre(added.keyslot));
}

TEST_F(RecoveryKeyTest, ARerunAfterAnInterruptedAddDestroysTheNeverShownKeyslot) {
  enroll_ok(bind_options());
  // What a crash after the keyslot was added leaves: a pending token and its keyslot 2, whose key
  // nobody saw.
  const auto unseen = random_looking_key(40);
  add_keyslot(unseen, 2);
  RecoveryToken pending;
  pending.created = "2026-01-01T00:00:00Z";
  pending.pending_keyslot = 2;
  ASSERT_TRUE(open().set_token(kAnyToken, recovery_token_json(pending)).ok());
  const RecoveryKeyResult added = add_ok();
  EXPECT_TRUE(added.completed_interrupted);
  EXPECT_FALSE(opens(unseen));
  EXPECT_TRUE(opens(added.key.span(), added.keyslot));
  EXPECT_TRUE(broker_key_opens(1));
  const auto found = recovery_tokens();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].recovery->pending_keyslot.has_value());
  EXPECT_THAT(found[0].keyslots, ElementsAre(added.keyslot));
  EXPECT_THAT(notices_, ::testing::Contains(HasSubstr("destroyed keyslot 2")));
}

TEST_F(RecoveryKeyTest, APendingMarkerNamingTheCcFdeKeyslotIsRefused) {
  enroll_ok(bind_options());
  RecoveryToken forged;
  forged.pending_keyslot = 1;  // the cc-fde keyslot
  ASSERT_TRUE(open().set_token(kAnyToken, recovery_token_json(forged)).ok());
  const std::size_t backups_before = backups().size();
  auto added = add_recovery_key(image_, {}, context());
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), ErrorCode::kUnfinishedOperation);
  EXPECT_TRUE(broker_key_opens(1));
  EXPECT_THAT(open().active_keyslots(), ElementsAre(0, 1));
  EXPECT_EQ(backups().size(), backups_before);
}

// ---- fault points ----

TEST(FaultPoints, NamesAreListedOnlyInFaultInjectionBuildsAndAreUnique) {
  const auto names = fault_point_names();
  if (!fault_injection_compiled()) {
    EXPECT_TRUE(names.empty());
    return;
  }
  std::vector<std::string_view> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  for (std::string_view name : names) {
    EXPECT_NE(name.find('.'), std::string_view::npos) << "'" << name << "'";
  }
  for (std::string_view operation :
       {"enroll.", "rotate.", "unbind.", "encrypt.", "reencrypt.", "recovery."}) {
    EXPECT_TRUE(std::any_of(names.begin(), names.end(), [&](std::string_view name) {
      return name.substr(0, operation.size()) == operation;
    })) << operation;
  }
  EXPECT_THAT(std::vector<std::string_view>(names.begin(), names.end()),
              ::testing::Contains("enroll.after-token-pending"));
}

}  // namespace
}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The unlock run over real LUKS2 image files with a fake broker: one attestation per profile,
// keys verified against the token's keyslots, every failure kept to its own volume.
#include "ccfde/agent/unlock.h"

#include <gtest/gtest.h>
#include <libcryptsetup.h>
#include <openssl/rand.h>

#include <atomic>
#include <fstream>
#include <map>
#include <optional>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/token.h"
#include "ccfde/testing/device_mapper.h"
#include "ccfde/testing/luks_header_edit.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

SecretBytes random_key(std::size_t size = 32) {
  SecretBytes key(size);
  EXPECT_EQ(RAND_bytes(key.data(), static_cast<int>(size)), 1);
  return key;
}

// A broker holding resources in memory; counts fetch calls as attestations (one per call, like a
// real session that attests once per fetch()).
class FakeBroker : public KeyBroker {
 public:
  FakeBroker(std::map<std::string, std::vector<std::uint8_t>>* resources, std::atomic<int>* calls,
             Status refuse)
      : resources_(resources), calls_(calls), refuse_(std::move(refuse)) {}
  std::vector<Result<SecretBytes>> fetch(std::span<const std::string> resources,
                                         SteadyClock::time_point) override {
    ++*calls_;
    attested_ = refuse_.ok();
    std::vector<Result<SecretBytes>> out;
    for (const auto& name : resources) {
      if (!refuse_.ok()) {
        out.emplace_back(refuse_);
        continue;
      }
      auto it = resources_->find(name);
      if (it == resources_->end()) {
        out.emplace_back(Status(ErrorCode::kResourceNotFound, "no " + name));
      } else {
        out.emplace_back(SecretBytes::copy_of(it->second));
      }
    }
    return out;
  }
  Status attest(SteadyClock::time_point) override {
    attested_ = refuse_.ok();
    return refuse_;
  }
  unsigned attestations() const override { return attested_ ? 1 : 0; }
  measure::TeeKind tee() const override { return measure::TeeKind::kSample; }

 private:
  std::map<std::string, std::vector<std::uint8_t>>* resources_;
  std::atomic<int>* calls_;
  Status refuse_;
  bool attested_ = false;
};

class RecordingObserver : public UnlockObserver {
 public:
  void progress(const std::string& text) override { progress_lines.push_back(text); }
  void attesting(const BrokerProfile& profile, measure::TeeKind) override {
    attesting_profiles.push_back(profile.name);
  }
  void attested(const BrokerProfile&, measure::TeeKind, const Status& status,
                std::chrono::milliseconds) override {
    attest_results.push_back(status);
  }
  void keys_fetched(const BrokerProfile& profile, measure::TeeKind, unsigned attestations,
                    std::size_t fetched, std::size_t requested, std::chrono::milliseconds,
                    const Status& first_error) override {
    fetches.push_back({profile.name, attestations, fetched, requested, first_error});
  }
  void volume_done(const UnlockOutcome& outcome) override { done.push_back(outcome); }

  struct Fetch {
    std::string profile;
    unsigned attestations;
    std::size_t fetched;
    std::size_t requested;
    Status first_error;
  };
  std::vector<std::string> progress_lines;
  std::vector<std::string> attesting_profiles;
  std::vector<Status> attest_results;
  std::vector<Fetch> fetches;
  std::vector<UnlockOutcome> done;
};

class UnlockTest : public ::testing::Test {
 protected:
  // Creates a 16 MiB LUKS2 image whose keyslot 0 opens with a passphrase and keyslot 1 with
  // `key`, and a cc-fde token for keyslot 1 naming `profile`/`resource`.
  // A LUKS2 image of `size` bytes (the default leaves the data segment empty behind the 16 MiB
  // header: enough for everything but a real activation).
  VolumeCandidate make_volume(const std::string& name, const std::string& profile,
                              const std::string& resource, const SecretBytes& key,
                              std::streamoff size = 16 << 20) {
    const fs::path image = dir_.path() / (name + ".img");
    {
      std::ofstream out(image, std::ios::binary);
      out.seekp(size - 1);
      out.put('\0');
    }
    const std::string passphrase = "recovery passphrase";
    auto volume = LuksVolume::format(
        image,
        std::span(reinterpret_cast<const std::uint8_t*>(passphrase.data()), passphrase.size()),
        KeyslotKdf::kMinimalPbkdf2);
    EXPECT_TRUE(volume.ok()) << volume.status().to_string();
    auto slot = volume->add_keyslot(
        std::span(reinterpret_cast<const std::uint8_t*>(passphrase.data()), passphrase.size()),
        key.span(), KeyslotKdf::kMinimalPbkdf2);
    EXPECT_TRUE(slot.ok()) << slot.status().to_string();
    CcFdeToken token{{*slot}, profile, resource, TokenState::kComplete, std::nullopt};
    auto json = token_to_json(token);
    EXPECT_TRUE(json.ok());
    auto id = volume->set_token(kAnyToken, *json);
    EXPECT_TRUE(id.ok()) << id.status().to_string();

    VolumeCandidate candidate;
    candidate.device = image;
    candidate.uuid = volume->uuid();
    candidate.mapping_name = "luks-" + candidate.uuid;
    candidate.token_id = *id;
    candidate.token = token;
    candidate.cipher = volume->segment_cipher();
    candidate.sector_size = volume->sector_size();
    candidate.integrity = volume->integrity();
    return candidate;
  }

  AgentConfig config(std::vector<std::string> profiles = {"default"}) {
    AgentConfig config;
    for (const auto& name : profiles) {
      BrokerProfile profile;
      profile.name = name;
      profile.urls = {"https://127.0.0.1:1"};
      profile.resources = {"default/*", "r/*"};
      config.profiles[name] = profile;
    }
    // The phase-event rule has its own tests; these are about the run itself.
    config.unlock.require_phase_event = false;
    config.unlock.volume_timeout = std::chrono::seconds(30);
    config.unlock.overall_timeout = std::chrono::seconds(60);
    return config;
  }

  UnlockOptions options(Status refuse = Status()) {
    UnlockOptions options;
    options.dry_run = true;
    options.make_broker = [this, refuse](const BrokerProfile& profile, const EvidenceConfig&,
                                         unsigned) -> Result<std::unique_ptr<KeyBroker>> {
      profiles_made_.push_back(profile.name);
      return std::unique_ptr<KeyBroker>(new FakeBroker(&resources_, &calls_, refuse));
    };
    return options;
  }

  testing::TempDir dir_;
  std::map<std::string, std::vector<std::uint8_t>> resources_;
  std::atomic<int> calls_{0};
  std::vector<std::string> profiles_made_;
};

void store(std::map<std::string, std::vector<std::uint8_t>>& resources, const std::string& name,
           const SecretBytes& key) {
  resources[name] = std::vector<std::uint8_t>(key.data(), key.data() + key.size());
}

TEST_F(UnlockTest, DryRunVerifiesEveryVolumeWithOneFetchPerProfile) {
  std::vector<VolumeCandidate> volumes;
  for (int i = 0; i < 4; ++i) {
    const std::string resource = "default/disk/key" + std::to_string(i);
    SecretBytes key = random_key();
    store(resources_, resource, key);
    volumes.push_back(make_volume("v" + std::to_string(i), "default", resource, key));
  }
  RecordingObserver observer;
  auto outcomes = unlock_volumes(volumes, config(), options(), observer);
  ASSERT_EQ(outcomes.size(), 4u);
  for (const auto& outcome : outcomes) {
    EXPECT_EQ(outcome.result, VolumeResult::kVerified) << outcome.status.to_string();
    EXPECT_EQ(outcome.keyslot, 1);
  }
  EXPECT_EQ(calls_.load(), 1);
  ASSERT_EQ(observer.fetches.size(), 1u);
  EXPECT_EQ(observer.fetches[0].fetched, 4u);
  EXPECT_TRUE(observer.fetches[0].first_error.ok());
  EXPECT_EQ(observer.done.size(), 4u);
}

TEST_F(UnlockTest, SharedResourceIsFetchedOnce) {
  SecretBytes key = random_key();
  store(resources_, "default/disk/shared", key);
  std::vector<VolumeCandidate> volumes = {make_volume("a", "default", "default/disk/shared", key),
                                          make_volume("b", "default", "default/disk/shared", key)};
  RecordingObserver observer;
  auto outcomes = unlock_volumes(volumes, config(), options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified);
  EXPECT_EQ(outcomes[1].result, VolumeResult::kVerified);
  ASSERT_EQ(observer.fetches.size(), 1u);
  EXPECT_EQ(observer.fetches[0].requested, 1u);
}

TEST_F(UnlockTest, OneVolumeFailingDoesNotStopTheOthers) {
  SecretBytes good = random_key();
  SecretBytes enrolled = random_key();
  store(resources_, "default/disk/good", good);
  store(resources_, "default/disk/wrong", random_key());  // not the enrolled key
  std::vector<VolumeCandidate> volumes = {
      make_volume("good", "default", "default/disk/good", good),
      make_volume("wrong", "default", "default/disk/wrong", enrolled),
      make_volume("missing", "default", "default/disk/missing", random_key())};
  RecordingObserver observer;
  auto outcomes = unlock_volumes(volumes, config(), options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified);
  EXPECT_EQ(outcomes[1].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[1].status.code(), ErrorCode::kKeyRejected);
  EXPECT_NE(outcomes[1].status.message().find("[1]"), std::string::npos)
      << outcomes[1].status.message();
  EXPECT_EQ(outcomes[2].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[2].status.code(), ErrorCode::kResourceNotFound);
  EXPECT_NE(outcomes[2].status.message().find("default/disk/missing"), std::string::npos);
  // The observer hears the missing resource's own error, not a generic count.
  ASSERT_EQ(observer.fetches.size(), 1u);
  EXPECT_EQ(observer.fetches[0].fetched, 2u);
  EXPECT_EQ(observer.fetches[0].first_error.code(), ErrorCode::kResourceNotFound);
  EXPECT_NE(observer.fetches[0].first_error.message().find("default/disk/missing"),
            std::string::npos);
}

TEST_F(UnlockTest, UnknownProfileFailsOnlyItsVolumes) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  std::vector<VolumeCandidate> volumes = {make_volume("known", "default", "r/d/k", key),
                                          make_volume("unknown", "elsewhere", "r/d/k", key)};
  RecordingObserver observer;
  auto outcomes = unlock_volumes(volumes, config(), options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified);
  EXPECT_EQ(outcomes[1].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[1].status.code(), ErrorCode::kUnknownProfile);
  EXPECT_EQ(profiles_made_, std::vector<std::string>{"default"});
}

TEST_F(UnlockTest, RefusedAttestationFailsEveryVolumeOfTheProfile) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  std::vector<VolumeCandidate> volumes = {make_volume("a", "default", "r/d/k", key),
                                          make_volume("b", "default", "r/d/k", key)};
  RecordingObserver observer;
  auto outcomes =
      unlock_volumes(volumes, config(),
                     options(Status(ErrorCode::kAttestationRefused, "RTMR2 differs")), observer);
  for (const auto& outcome : outcomes) {
    EXPECT_EQ(outcome.result, VolumeResult::kFailed);
    EXPECT_EQ(outcome.status.code(), ErrorCode::kAttestationRefused);
  }
  ASSERT_EQ(observer.attest_results.size(), 1u);
  EXPECT_EQ(observer.attest_results[0].code(), ErrorCode::kAttestationRefused);
  EXPECT_TRUE(observer.fetches.empty()) << "no key requests after a refused attestation";
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(UnlockTest, UnfinishedTokensAndForeignUuidsAreSkipped) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto pending = make_volume("pending", "default", "r/d/k", key);
  pending.token.state = TokenState::kPending;
  pending.token.keyslots.clear();
  auto foreign = make_volume("foreign", "default", "r/d/k", key);
  auto allowed = make_volume("allowed", "default", "r/d/k", key);
  auto cfg = config();
  cfg.unlock.allowed_uuids = {allowed.uuid, pending.uuid};
  RecordingObserver observer;
  auto outcomes = unlock_volumes({pending, foreign, allowed}, cfg, options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kSkipped);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kUnfinishedOperation);
  EXPECT_EQ(outcomes[1].result, VolumeResult::kSkipped);
  EXPECT_EQ(outcomes[1].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_EQ(outcomes[2].result, VolumeResult::kVerified);
}

TEST_F(UnlockTest, EveryUnfinishedTokenStateIsRefusedWithoutAskingTheBroker) {
  SecretBytes old_key = random_key();
  SecretBytes new_key = random_key();
  auto volume = make_volume("rot", "default", "r/d/k", old_key);
  {
    auto luks = LuksVolume::open(volume.device);
    ASSERT_TRUE(luks.ok());
    auto slot = luks->add_keyslot(old_key.span(), new_key.span(), KeyslotKdf::kMinimalPbkdf2);
    ASSERT_TRUE(slot.ok());
    volume.token.keyslots = {1, *slot};
  }
  store(resources_, "r/d/k", new_key);
  for (TokenState state : {TokenState::kRotating, TokenState::kPending, TokenState::kUnbinding,
                           TokenState::kReencrypting}) {
    volume.token.state = state;
    RecordingObserver observer;
    auto outcomes = unlock_volumes({volume}, config(), options(), observer);
    EXPECT_EQ(outcomes[0].result, VolumeResult::kSkipped) << token_state_name(state);
    EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kUnfinishedOperation);
    EXPECT_NE(outcomes[0].status.message().find(std::string(token_state_name(state))),
              std::string::npos);
  }
  EXPECT_EQ(calls_.load(), 0);
  EXPECT_TRUE(profiles_made_.empty());
}

TEST_F(UnlockTest, AResourceOutsideTheProfileIsRefusedBeforeAnyEvidenceIsSent) {
  SecretBytes key = random_key();
  store(resources_, "sibling/fde/root", key);
  auto volume = make_volume("sib", "default", "sibling/fde/root", key);
  RecordingObserver observer;
  auto outcomes = unlock_volumes({volume}, config(), options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find(
                "the token asks profile default for resource sibling/fde/root, which is not in "
                "the profile's resources [default/*, r/*]; nothing was sent to the broker"),
            std::string::npos)
      << outcomes[0].status.message();
  EXPECT_TRUE(profiles_made_.empty());
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(UnlockTest, ARequiredVolumeBindingOverridesWhatTheHeaderAsks) {
  SecretBytes key = random_key();
  store(resources_, "default/fde/other", key);
  auto volume = make_volume("bound", "default", "default/fde/other", key);
  auto opts = options();
  opts.required = {{volume.uuid, {}, "default", "default/fde/root", "unlock.volumes"}};
  RecordingObserver observer;
  auto outcomes = unlock_volumes({volume}, config(), opts, observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find("binds this volume to resource default/fde/root"),
            std::string::npos)
      << outcomes[0].status.message();
  EXPECT_TRUE(profiles_made_.empty());

  opts.required[0].resource = "default/fde/other";
  RecordingObserver second;
  outcomes = unlock_volumes({volume}, config(), opts, second);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified) << outcomes[0].status.to_string();
}

TEST_F(UnlockTest, CiphersAndSectorSizesTheConfigurationDoesNotAllowAreRefused) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto volume = make_volume("ciph", "default", "r/d/k", key);
  EXPECT_EQ(volume.cipher, "aes-xts-plain64");
  auto cfg = config();
  cfg.unlock.allowed_ciphers = {"serpent-xts-plain64"};
  RecordingObserver observer;
  auto outcomes = unlock_volumes({volume}, cfg, options(), observer);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find("cipher \"aes-xts-plain64\" is not in "
                                              "unlock.allowed_ciphers [serpent-xts-plain64]"),
            std::string::npos)
      << outcomes[0].status.message();
  cfg = config();
  cfg.unlock.allowed_sector_sizes = {4096};
  volume.sector_size = 512;
  outcomes = unlock_volumes({volume}, cfg, options(), observer);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find("sector size 512 is not in"), std::string::npos);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(UnlockTest, IntegrityTheConfigurationDoesNotAllowIsRefused) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto plain = make_volume("plain", "default", "r/d/k", key);
  EXPECT_EQ(plain.integrity, "");
  auto protected_volume = make_volume("hmac", "default", "r/d/k", key);
  // Shaped as the host would write it; the header check comes before any activation.
  ccfde::testing::set_segment_integrity(protected_volume.device, "hmac(sha256)");
  protected_volume.integrity = "hmac(sha256)";
  RecordingObserver observer;

  // Default ["none"]: a header that adds integrity is refused.
  auto outcomes = unlock_volumes({protected_volume}, config(), options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(
      outcomes[0].status.message().find("the data segment's integrity \"hmac(sha256)\" is not in "
                                        "unlock.allowed_integrity [none]"),
      std::string::npos)
      << outcomes[0].status.message();

  // A configuration that requires integrity refuses a header without it (stripped by the host).
  auto required = config();
  required.unlock.allowed_integrity = {"hmac(sha256)"};
  outcomes = unlock_volumes({plain}, required, options(), observer);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find(
                "the data segment has no integrity protection, but unlock.allowed_integrity "
                "[hmac(sha256)] requires it (a header stripped of its integrity?)"),
            std::string::npos)
      << outcomes[0].status.message();

  // Another integrity than the listed one is refused too.
  auto aead_only = config();
  aead_only.unlock.allowed_integrity = {"aead"};
  outcomes = unlock_volumes({protected_volume}, aead_only, options(), observer);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kPolicyViolation);
  EXPECT_NE(outcomes[0].status.message().find("integrity \"hmac(sha256)\" is not in "
                                              "unlock.allowed_integrity [aead]"),
            std::string::npos);
  EXPECT_EQ(calls_.load(), 0);

  // Listed: the volume goes on (a dry run verifies the key against the header).
  outcomes = unlock_volumes({protected_volume}, required, options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified) << outcomes[0].status.to_string();
  auto either = config();
  either.unlock.allowed_integrity = {"none", "hmac(sha256)"};
  outcomes = unlock_volumes({plain, protected_volume}, either, options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified) << outcomes[0].status.to_string();
  EXPECT_EQ(outcomes[1].result, VolumeResult::kVerified) << outcomes[1].status.to_string();
}

TEST_F(UnlockTest, IntegrityStrippedAfterDiscoveryIsRefused) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto volume = make_volume("strip", "default", "r/d/k", key);
  ccfde::testing::set_segment_integrity(volume.device, "hmac(sha256)");
  volume.integrity = "hmac(sha256)";
  auto cfg = config();
  cfg.unlock.allowed_integrity = {"hmac(sha256)"};
  // Discovery saw integrity; the host rewrites the header before the activation step.
  ccfde::testing::set_segment_integrity(volume.device, "");
  RecordingObserver observer;
  auto outcomes = unlock_volumes({volume}, cfg, options(), observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kBusy);
  EXPECT_NE(outcomes[0].status.message().find("the data segment changed during the run"),
            std::string::npos)
      << outcomes[0].status.message();
}

TEST_F(UnlockTest, NoKeyIsFetchedWhenThePhaseEventCannotBeRecorded) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto volume = make_volume("phase", "default", "r/d/k", key);
  auto cfg = config();
  cfg.unlock.require_phase_event = true;
  auto opts = options();
  opts.phase_event_available = [] {
    return Status(ErrorCode::kUnsupported, "no rtmr3:sha384 (Linux 6.16 or later)");
  };
  RecordingObserver observer;
  auto outcomes = unlock_volumes({volume}, cfg, opts, observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kUnsupported);
  EXPECT_NE(outcomes[0].status.message().find("refusing to fetch keys: the end of the initramfs "
                                              "unlock phase cannot be recorded"),
            std::string::npos);
  EXPECT_NE(outcomes[0].status.message().find("Linux 6.16"), std::string::npos);
  EXPECT_TRUE(profiles_made_.empty());

  auto missing_hook = options();
  outcomes = unlock_volumes({volume}, cfg, missing_hook, observer);
  EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kUnsupported);

  opts.phase_event_available = [] { return Status(); };
  outcomes = unlock_volumes({volume}, cfg, opts, observer);
  EXPECT_EQ(outcomes[0].result, VolumeResult::kVerified) << outcomes[0].status.to_string();
  auto fetched = fetch_verified_key(volume, cfg, opts.make_broker);
  EXPECT_EQ(fetched.status().code(), ErrorCode::kUnsupported);
}

TEST_F(UnlockTest, RequiredVolumesComeFromTheConfigurationAndCrypttab) {
  AgentConfig cfg = config();
  cfg.unlock.volumes = {{"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "default", "default/fde/root"}};
  auto crypttab = parse_crypttab(
      "root UUID=11111111-2222-3333-4444-555555555555 none luks\n"
      "data UUID=66666666-7777-8888-9999-aaaaaaaaaaaa none luks,noauto\n"
      "keyed UUID=bbbbbbbb-cccc-dddd-eeee-ffffffffffff /etc/key luks\n"
      "swap /dev/sdb2 /dev/urandom swap\n"
      "byname /dev/vdb none luks\n",
      "crypttab");
  ASSERT_TRUE(crypttab.ok()) << crypttab.status().to_string();
  auto required = required_volumes(cfg, *crypttab, dir_.path());
  ASSERT_EQ(required.size(), 3u);
  EXPECT_EQ(required[0].origin, "unlock.volumes");
  EXPECT_EQ(required[0].resource, "default/fde/root");
  EXPECT_EQ(required[1].uuid, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(required[1].origin, "crypttab line 1 (root)");
  EXPECT_EQ(required[2].device, fs::path("/dev/vdb"));
  EXPECT_TRUE(matches_required(required[1], "/dev/x", "11111111-2222-3333-4444-555555555555"));
  EXPECT_TRUE(matches_required(required[1], "/dev/x", "11111111-2222-3333-4444-555555555555"));
  EXPECT_FALSE(matches_required(required[1], "/dev/x", "11111111-2222-3333-4444-555555555556"));
  cfg.unlock.require_crypttab = false;
  EXPECT_EQ(required_volumes(cfg, *crypttab, dir_.path()).size(), 1u);
}

TEST_F(UnlockTest, RealActivationWithoutDeviceMapperFailsCleanly) {
  // Without device-mapper (this host) activation must fail with its own code, not be ignored.
  // With it (the VM test runs this binary in its provisioning guest, tests/e2e): the volume is
  // open under its own name (luks-<UUID>, the UUID random per image), the mapping is the one the
  // header describes and stores what is written through it encrypted, and neither the mapping nor
  // the loop device libcryptsetup attached the image file to outlives the test.
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto volume = make_volume("act", "default", "r/d/k", key, 20 << 20);
  const bool device_mapper = testing::have_device_mapper();
  const fs::path image = volume.device;
  {
    // The agent unlocks block devices: with device-mapper, the image on a loop device.
    std::optional<testing::LoopDevice> loop;
    if (device_mapper) {
      loop.emplace(image);
      ASSERT_TRUE(loop->ok()) << "no loop device for " << image;
      volume.device = loop->path();
    }
    testing::MappingGuard mapping(volume.mapping_name);
    EXPECT_FALSE(LuksVolume::is_active(volume.mapping_name)) << "in use before the run";
    auto opts = options();
    opts.dry_run = false;
    RecordingObserver observer;
    auto outcomes = unlock_volumes({volume}, config(), opts, observer);
    if (!device_mapper) {
      EXPECT_EQ(outcomes[0].result, VolumeResult::kFailed);
      EXPECT_EQ(outcomes[0].status.code(), ErrorCode::kActivationFailed)
          << outcomes[0].status.to_string();
      EXPECT_FALSE(LuksVolume::is_active(volume.mapping_name));
      return;
    }
    ASSERT_EQ(outcomes[0].result, VolumeResult::kUnlocked) << outcomes[0].status.to_string();
    EXPECT_EQ(volume.mapping_name, "luks-" + volume.uuid);
    ASSERT_TRUE(LuksVolume::is_active(volume.mapping_name));
    auto luks = LuksVolume::open(volume.device);
    ASSERT_TRUE(luks.ok()) << luks.status().to_string();
    EXPECT_TRUE(luks->check_active_mapping(volume.mapping_name).ok());

    // What is written through the mapping is on the image encrypted, and a new activation with
    // the broker's key reads it back.
    const auto plaintext = testing::test_pattern(64 << 10, 1);
    ASSERT_TRUE(testing::write_device(mapping.device(), 0, plaintext));
    ASSERT_TRUE(LuksVolume::deactivate(volume.mapping_name).ok());
    EXPECT_FALSE(LuksVolume::is_active(volume.mapping_name));
    const auto stored =
        testing::read_device(volume.device, luks->data_offset_bytes(), plaintext.size());
    ASSERT_EQ(stored.size(), plaintext.size());
    EXPECT_NE(stored, plaintext);
    auto again = luks->activate(volume.mapping_name, key.span());
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_EQ(testing::read_device(mapping.device(), 0, plaintext.size()), plaintext);
    EXPECT_TRUE(LuksVolume::deactivate(volume.mapping_name).ok());
  }
  EXPECT_FALSE(LuksVolume::is_active(volume.mapping_name));
  EXPECT_TRUE(testing::no_loop_device_backs(image));
}

TEST_F(UnlockTest, FetchVerifiedKeyReturnsOnlyAKeyThatOpensTheVolume) {
  SecretBytes key = random_key();
  store(resources_, "r/d/k", key);
  auto volume = make_volume("ks", "default", "r/d/k", key);
  auto opts = options();
  auto fetched = fetch_verified_key(volume, config(), opts.make_broker);
  ASSERT_TRUE(fetched.ok()) << fetched.status().to_string();
  EXPECT_TRUE(fetched->equals(key.span()));

  store(resources_, "r/d/k", random_key());
  auto wrong = fetch_verified_key(volume, config(), opts.make_broker);
  EXPECT_EQ(wrong.status().code(), ErrorCode::kKeyRejected);
}

TEST_F(UnlockTest, DiscoveryFindsTokensAndReportsNamedDevicesWithout) {
  SecretBytes key = random_key();
  auto with_token = make_volume("with", "default", "r/d/k", key);
  const fs::path plain = dir_.path() / "plain.img";
  {
    std::ofstream out(plain, std::ios::binary);
    out << std::string(1 << 20, 'x');
  }
  DiscoveryOptions discovery_options;
  discovery_options.devices = {with_token.device.string(), plain.string()};
  CrypttabEntry entry;
  entry.name = "cryptdata";
  entry.source = "UUID=" + with_token.uuid;
  entry.options = {"discard"};
  entry.line = 3;
  discovery_options.crypttab = {entry};
  auto found = discover_volumes(discovery_options);
  ASSERT_EQ(found.volumes.size(), 1u);
  EXPECT_EQ(found.volumes[0].mapping_name, "cryptdata");
  EXPECT_EQ(found.volumes[0].token, with_token.token);
  ASSERT_EQ(found.problems.size(), 1u);
  EXPECT_EQ(found.problems[0].status.code(), ErrorCode::kNotLuks2);
}

TEST_F(UnlockTest, DiscoveryRefusesAHeaderThatRecordsAnUnfinishedReencryption) {
  SecretBytes key = random_key();
  auto volume = make_volume("half", "default", "r/d/k", key);
  // The data segment spans the rest of the device: two reencryption steps of 16 MiB.
  fs::resize_file(volume.device, 48u << 20);
  {
    auto luks = LuksVolume::open(volume.device);
    ASSERT_TRUE(luks.ok());
    auto slot = luks->add_unbound_keyslot(key.span(), KeyslotKdf::kMinimalPbkdf2);
    ASSERT_TRUE(slot.ok()) << slot.status().to_string();
    // Stopped after its first step: the header now records the reencryption (the token is
    // still complete, as a header edited by the host or another tool could say).
    const Status stopped =
        luks->reencrypt(key.span(), *slot, [](std::uint64_t, std::uint64_t) { return false; });
    ASSERT_TRUE(stopped.ok() || stopped.code() == ErrorCode::kDeadlineExceeded)
        << stopped.to_string();
    ASSERT_TRUE(LuksVolume::open(volume.device)->reencryption_in_progress());
  }
  DiscoveryOptions discovery_options;
  discovery_options.devices = {volume.device.string()};
  auto found = discover_volumes(discovery_options);
  EXPECT_TRUE(found.volumes.empty());
  ASSERT_EQ(found.problems.size(), 1u);
  EXPECT_EQ(found.problems[0].status.code(), ErrorCode::kUnfinishedOperation);
  EXPECT_NE(found.problems[0].status.message().find("unfinished reencryption"), std::string::npos)
      << found.problems[0].status.to_string();
}

TEST_F(UnlockTest, DiscoveryRefusesAHeaderThatRecordsAnUnfinishedFirstBoot) {
  SecretBytes key = random_key();
  auto volume = make_volume("state", "default", "r/d/k", key);
  {
    auto luks = LuksVolume::open(volume.device);
    ASSERT_TRUE(luks.ok());
    // A first boot interrupted after its token (first_boot.h): the complete token would open it.
    ASSERT_TRUE(luks->set_label(std::string(32, 'a'), std::string(kFirstBootSubsystem)).ok());
  }
  DiscoveryOptions discovery_options;
  discovery_options.devices = {volume.device.string()};
  auto found = discover_volumes(discovery_options);
  EXPECT_TRUE(found.volumes.empty());
  ASSERT_EQ(found.problems.size(), 1u);
  EXPECT_EQ(found.problems[0].status.code(), ErrorCode::kUnfinishedOperation);
  EXPECT_NE(found.problems[0].status.message().find("unfinished first boot"), std::string::npos)
      << found.problems[0].status.to_string();
}

TEST_F(UnlockTest, DiscoveryScansSysfsForLuks2Devices) {
  SecretBytes key = random_key();
  auto volume = make_volume("vdb", "default", "r/d/k", key);
  const fs::path sys = dir_.path() / "sys" / "class" / "block";
  const fs::path dev = dir_.path() / "dev";
  fs::create_directories(dev);
  for (const char* name : {"vdb", "vdc", "loop0"}) fs::create_directories(sys / name);
  std::ofstream(sys / "vdb" / "size") << "32768\n";
  std::ofstream(sys / "vdc" / "size") << "2048\n";
  std::ofstream(sys / "loop0" / "size") << "0\n";
  fs::rename(volume.device, dev / "vdb");
  std::ofstream(dev / "vdc", std::ios::binary) << std::string(1 << 20, '\0');
  DiscoveryOptions discovery_options;
  discovery_options.sys_root = dir_.path() / "sys";
  discovery_options.dev_root = dev;
  auto found = discover_volumes(discovery_options);
  ASSERT_EQ(found.volumes.size(), 1u);
  EXPECT_EQ(found.volumes[0].device, dev / "vdb");
  EXPECT_EQ(found.volumes[0].mapping_name, "luks-" + volume.uuid);
  EXPECT_TRUE(found.problems.empty());
}

TEST(CrypttabFlags, MapsActivationOptions) {
  CrypttabEntry entry;
  entry.options = {"discard", "no-read-workqueue", "tries=3", "readonly"};
  EXPECT_EQ(crypttab_activation_flags(entry, true), CRYPT_ACTIVATE_ALLOW_DISCARDS |
                                                        CRYPT_ACTIVATE_NO_READ_WORKQUEUE |
                                                        CRYPT_ACTIVATE_READONLY);
  CrypttabEntry none;
  none.options = {"luks", "tries=3"};
  EXPECT_EQ(crypttab_activation_flags(none, true), 0u);
  // Discards tell the host which blocks are free: only when the configuration allows them.
  EXPECT_EQ(crypttab_activation_flags(entry, false) & CRYPT_ACTIVATE_ALLOW_DISCARDS, 0u);
}

}  // namespace
}  // namespace ccfde::agent

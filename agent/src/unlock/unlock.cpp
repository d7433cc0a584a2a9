// SPDX-License-Identifier: Apache-2.0
// The unlock run: filter, group by profile, fetch with one attestation per profile (profiles in
// parallel), then verify or activate each volume.
#include "ccfde/agent/unlock.h"

#include <fmt/format.h>
#include <libcryptsetup.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/common/encoding.h"

namespace ccfde::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Serialises observer calls from the profile threads.
class SerialObserver : public UnlockObserver {
 public:
  explicit SerialObserver(UnlockObserver& inner) : inner_(inner) {}
  void progress(const std::string& text) override {
    std::lock_guard lock(mutex_);
    inner_.progress(text);
  }
  void attesting(const BrokerProfile& profile, measure::TeeKind tee) override {
    std::lock_guard lock(mutex_);
    inner_.attesting(profile, tee);
  }
  void attested(const BrokerProfile& profile, measure::TeeKind tee, const Status& status,
                milliseconds elapsed) override {
    std::lock_guard lock(mutex_);
    inner_.attested(profile, tee, status, elapsed);
  }
  void keys_fetched(const BrokerProfile& profile, measure::TeeKind tee, unsigned attestations,
                    std::size_t fetched, std::size_t requested, milliseconds elapsed,
                    const Status& first_error) override {
    std::lock_guard lock(mutex_);
    inner_.keys_fetched(profile, tee, attestations, fetched, requested, elapsed, first_error);
  }
  void volume_done(const UnlockOutcome& outcome) override {
    std::lock_guard lock(mutex_);
    inner_.volume_done(outcome);
  }
  void broker_note(const BrokerProfile& profile, const std::string& text) override {
    std::lock_guard lock(mutex_);
    inner_.broker_note(profile, text);
  }

 private:
  UnlockObserver& inner_;
  std::mutex mutex_;
};

// Why the header of `volume` may not have what it asks for, judged only by the configuration
// (nothing is sent to any broker before this passes), or nullopt.
std::optional<Status> header_refusal(const VolumeCandidate& volume, const AgentConfig& config,
                                     const std::vector<RequiredVolumeRef>& required_list) {
  const auto& unlock = config.unlock;
  if (std::find(unlock.allowed_ciphers.begin(), unlock.allowed_ciphers.end(), volume.cipher) ==
      unlock.allowed_ciphers.end()) {
    return Status(ErrorCode::kPolicyViolation,
                  fmt::format("{}: the data segment's cipher \"{}\" is not in "
                              "unlock.allowed_ciphers [{}]",
                              volume.device.string(), escape_nonprintable(volume.cipher),
                              fmt::join(unlock.allowed_ciphers, ", ")));
  }
  if (std::find(unlock.allowed_sector_sizes.begin(), unlock.allowed_sector_sizes.end(),
                volume.sector_size) == unlock.allowed_sector_sizes.end()) {
    return Status(ErrorCode::kPolicyViolation,
                  fmt::format("{}: the data segment's sector size {} is not in "
                              "unlock.allowed_sector_sizes [{}]",
                              volume.device.string(), volume.sector_size,
                              fmt::join(unlock.allowed_sector_sizes, ", ")));
  }
  // The header says whether sectors carry tags; the configuration decides what is acceptable,
  // so the host can neither strip the integrity of a volume nor add one the configuration lacks.
  const std::string integrity = volume.integrity.empty() ? "none" : volume.integrity;
  if (std::find(unlock.allowed_integrity.begin(), unlock.allowed_integrity.end(), integrity) ==
      unlock.allowed_integrity.end()) {
    if (volume.integrity.empty()) {
      return Status(ErrorCode::kPolicyViolation,
                    fmt::format("{}: the data segment has no integrity protection, but "
                                "unlock.allowed_integrity [{}] requires it (a header stripped of "
                                "its integrity?)",
                                volume.device.string(), fmt::join(unlock.allowed_integrity, ", ")));
    }
    return Status(ErrorCode::kPolicyViolation,
                  fmt::format("{}: the data segment's integrity \"{}\" is not in "
                              "unlock.allowed_integrity [{}]",
                              volume.device.string(), escape_nonprintable(volume.integrity),
                              fmt::join(unlock.allowed_integrity, ", ")));
  }
  for (const auto& required : required_list) {
    if (!matches_required(required, volume.device, volume.uuid)) continue;
    if (!required.profile.empty() && required.profile != volume.token.profile) {
      return Status(ErrorCode::kPolicyViolation,
                    fmt::format("{}: the token names profile {}, but {} binds this volume to "
                                "profile {}",
                                volume.device.string(), volume.token.profile, required.origin,
                                required.profile));
    }
    if (!required.resource.empty() && required.resource != volume.token.resource) {
      return Status(ErrorCode::kPolicyViolation,
                    fmt::format("{}: the token asks for resource {}, but {} binds this volume "
                                "to resource {}",
                                volume.device.string(), volume.token.resource, required.origin,
                                required.resource));
    }
  }
  const auto profile = config.profile(volume.token.profile);
  if (!profile.ok()) return profile.status();
  if (!(*profile)->allows_resource(volume.token.resource)) {
    return Status(ErrorCode::kPolicyViolation,
                  fmt::format("{}: the token asks profile {} for resource {}, which is not in "
                              "the profile's resources [{}]; nothing was sent to the broker",
                              volume.device.string(), volume.token.profile, volume.token.resource,
                              fmt::join((*profile)->resources, ", ")));
  }
  return std::nullopt;
}

// Whether keys may be fetched at all: with unlock.require_phase_event the end of the unlock
// phase must be recordable. OK, or the status that fails every volume.
Status window_status(const AgentConfig& config,
                     const std::function<Status()>& phase_event_available) {
  if (!config.unlock.require_phase_event) return Status::ok_status();
  Status available = phase_event_available
                         ? phase_event_available()
                         : Status(ErrorCode::kUnsupported, "no RTMR3 extension on this platform");
  if (available.ok()) return available;
  return Status(ErrorCode::kUnsupported,
                fmt::format("refusing to fetch keys: the end of the initramfs unlock phase cannot "
                            "be recorded, so the broker could not refuse the key to whatever runs "
                            "after it ({}); unlock.require_phase_event false accepts that "
                            "(docs/ARCHITECTURE.md)",
                            available.message()));
}

// Why a candidate is not attempted at all, or nullopt.
std::optional<std::pair<VolumeResult, Status>> exclusion(const VolumeCandidate& volume,
                                                         const AgentConfig& config,
                                                         const UnlockOptions& options) {
  const auto& allowed = config.unlock.allowed_uuids;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), volume.uuid) == allowed.end()) {
    return std::pair{VolumeResult::kSkipped,
                     Status(ErrorCode::kPolicyViolation,
                            fmt::format("LUKS UUID {} is not in the configuration's "
                                        "unlock.allowed_uuids (a substituted disk?)",
                                        volume.uuid))};
  }
  if (volume.token.state != TokenState::kComplete || volume.token.keyslots.empty()) {
    return std::pair{VolumeResult::kSkipped,
                     Status(ErrorCode::kUnfinishedOperation,
                            fmt::format("token {} is in state '{}' with keyslots [{}]: re-run the "
                                        "interrupted fdectl command first",
                                        volume.token_id, token_state_name(volume.token.state),
                                        fmt::join(volume.token.keyslots, ",")))};
  }
  if (auto refused = header_refusal(volume, config, options.required)) {
    return std::pair{VolumeResult::kFailed, std::move(*refused)};
  }
  if (options.scan_mode && volume.crypttab && volume.crypttab->has_option("noauto")) {
    return std::pair{VolumeResult::kSkipped,
                     Status(ErrorCode::kInvalidArgument,
                            fmt::format("crypttab line {} has 'noauto'; name the device to unlock "
                                        "it",
                                        volume.crypttab->line))};
  }
  if (LuksVolume::is_active(volume.mapping_name)) {
    return std::pair{VolumeResult::kAlreadyActive, Status()};
  }
  return std::nullopt;
}

// The factory to use: the caller's, or the real broker.
KeyBrokerFactory broker_factory(const KeyBrokerFactory& given) {
  return given ? given : KeyBrokerFactory(&make_key_broker);
}

// When a volume's fetch and activation must be over, for a run started at `start`.
SteadyClock::time_point volume_deadline(const AgentConfig& config, SteadyClock::time_point start) {
  return start + std::min(config.unlock.volume_timeout, config.unlock.overall_timeout);
}

// Verifies (dry run) or activates `volume` with `key`, trying the token's keyslots in order.
void open_volume(const VolumeCandidate& volume, const SecretBytes& key, bool dry_run,
                 const AgentConfig& config, const UnlockOptions& options,
                 SteadyClock::time_point deadline,
                 const std::function<SteadyClock::time_point()>& now, UnlockOutcome& outcome) {
  const auto started = now();
  auto finish = [&](VolumeResult result, Status status, int keyslot) {
    outcome.result = result;
    outcome.status = std::move(status);
    outcome.keyslot = keyslot;
    outcome.activation_time = duration_cast<milliseconds>(now() - started);
  };
  if (started >= deadline) {
    finish(VolumeResult::kFailed,
           Status(ErrorCode::kDeadlineExceeded,
                  fmt::format("{}: the volume's deadline passed before activation",
                              volume.device.string())),
           -1);
    return;
  }
  auto luks = LuksVolume::open(volume.device);
  if (!luks.ok()) {
    finish(VolumeResult::kFailed, luks.status(), -1);
    return;
  }
  if (luks->uuid() != volume.uuid) {
    finish(VolumeResult::kFailed,
           Status(ErrorCode::kBusy, fmt::format("{}: the LUKS UUID changed from {} to {} during "
                                                "the run",
                                                volume.device.string(), volume.uuid, luks->uuid())),
           -1);
    return;
  }
  if (luks->segment_cipher() != volume.cipher || luks->sector_size() != volume.sector_size ||
      luks->integrity() != volume.integrity) {
    finish(VolumeResult::kFailed,
           Status(ErrorCode::kBusy, fmt::format("{}: the data segment changed during the run",
                                                volume.device.string())),
           -1);
    return;
  }
  const std::uint32_t flags =
      volume.crypttab ? crypttab_activation_flags(*volume.crypttab, config.unlock.allow_discards)
                      : 0;
  Status last(ErrorCode::kKeyRejected,
              fmt::format("{}: the broker's key opens none of the token's keyslots [{}]",
                          volume.device.string(), fmt::join(volume.token.keyslots, ",")));
  for (int keyslot : volume.token.keyslots) {
    auto opened = dry_run ? luks->verify_passphrase(key.span(), keyslot)
                          : luks->activate(volume.mapping_name, key.span(), keyslot, flags);
    if (opened.ok() && !dry_run) {
      Status checked = luks->check_active_mapping(volume.mapping_name);
      if (checked.ok() && options.after_activation) {
        checked = options.after_activation(volume, *luks, key, *opened);
      }
      if (!checked.ok()) {
        if (Status closed = LuksVolume::deactivate(volume.mapping_name); !closed.ok()) {
          checked = checked.with_context(
              fmt::format("and closing the mapping failed too: {}", closed.message()));
        }
        finish(VolumeResult::kFailed, std::move(checked), *opened);
        return;
      }
    }
    if (opened.ok()) {
      finish(dry_run ? VolumeResult::kVerified : VolumeResult::kUnlocked, Status(), *opened);
      return;
    }
    if (opened.status().code() != ErrorCode::kKeyRejected &&
        opened.status().code() != ErrorCode::kInvalidArgument) {
      finish(VolumeResult::kFailed, opened.status(), keyslot);
      return;
    }
    if (opened.status().code() == ErrorCode::kInvalidArgument) last = opened.status();
  }
  if (last.code() == ErrorCode::kInvalidArgument) {
    last = Status(
        ErrorCode::kKeyRejected,
        fmt::format("{}: the broker's key opens none of the token's keyslots [{}] ({})",
                    volume.device.string(), fmt::join(volume.token.keyslots, ","), last.message()));
  }
  finish(VolumeResult::kFailed, std::move(last), -1);
}

}  // namespace

std::optional<Status> refuse_header(const VolumeCandidate& volume, const AgentConfig& config,
                                    const std::vector<RequiredVolumeRef>& required) {
  return header_refusal(volume, config, required);
}

Status release_window_status(const AgentConfig& config,
                             const std::function<Status()>& phase_event_available) {
  return window_status(config, phase_event_available);
}

std::string_view volume_result_name(VolumeResult result) noexcept {
  switch (result) {
    case VolumeResult::kUnlocked: return "unlocked";
    case VolumeResult::kVerified: return "verified";
    case VolumeResult::kAlreadyActive: return "already_active";
    case VolumeResult::kSkipped: return "skipped";
    case VolumeResult::kFailed: return "failed";
  }
  return "unknown";
}

std::uint32_t crypttab_activation_flags(const CrypttabEntry& entry, bool allow_discards) {
  std::uint32_t flags = 0;
  if (allow_discards && entry.has_option("discard")) flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
  if (entry.has_option("same-cpu-crypt")) flags |= CRYPT_ACTIVATE_SAME_CPU_CRYPT;
  if (entry.has_option("submit-from-crypt-cpus")) flags |= CRYPT_ACTIVATE_SUBMIT_FROM_CRYPT_CPUS;
  if (entry.has_option("no-read-workqueue")) flags |= CRYPT_ACTIVATE_NO_READ_WORKQUEUE;
  if (entry.has_option("no-write-workqueue")) flags |= CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
  if (entry.has_option("readonly") || entry.has_option("read-only")) {
    flags |= CRYPT_ACTIVATE_READONLY;
  }
  return flags;
}

std::vector<UnlockOutcome> unlock_volumes(const std::vector<VolumeCandidate>& volumes,
                                          const AgentConfig& config, const UnlockOptions& options,
                                          UnlockObserver& observer_in) {
  SerialObserver observer(observer_in);
  const auto now = options.now ? options.now : [] { return SteadyClock::now(); };
  const KeyBrokerFactory make_broker = broker_factory(options.make_broker);
  const auto deadline = volume_deadline(config, now());

  std::vector<UnlockOutcome> outcomes(volumes.size());
  // Volumes still to attempt, grouped by profile name.
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_profile;
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    outcomes[i].volume = volumes[i];
    if (auto excluded = exclusion(volumes[i], config, options)) {
      outcomes[i].result = excluded->first;
      outcomes[i].status = std::move(excluded->second);
      observer.volume_done(outcomes[i]);
      continue;
    }
    by_profile[volumes[i].token.profile].push_back(i);
  }
  if (!by_profile.empty()) {
    if (Status window = window_status(config, options.phase_event_available); !window.ok()) {
      for (const auto& [name, members] : by_profile) {
        for (std::size_t i : members) {
          outcomes[i].result = VolumeResult::kFailed;
          outcomes[i].status = window;
          observer.volume_done(outcomes[i]);
        }
      }
      return outcomes;
    }
  }

  auto run_profile = [&](const std::string& profile_name, const std::vector<std::size_t>& members) {
    auto fail_all = [&](const Status& status) {
      for (std::size_t i : members) {
        outcomes[i].result = VolumeResult::kFailed;
        outcomes[i].status = status;
        observer.volume_done(outcomes[i]);
      }
    };
    auto profile = config.profile(profile_name);
    if (!profile.ok()) {
      fail_all(profile.status());
      return;
    }
    const BrokerProfile& broker_profile = **profile;
    const auto attest_started = now();
    observer.progress(fmt::format("attesting to profile {} ({} volume{})", profile_name,
                                  members.size(), members.size() == 1 ? "" : "s"));
    auto broker = make_broker(broker_profile, config.evidence, config.unlock.max_parallel_fetches);
    if (!broker.ok()) {
      fail_all(broker.status().with_context(fmt::format("profile {}", profile_name)));
      return;
    }
    observer.attesting(broker_profile, (*broker)->tee());
    Status attested = (*broker)->attest(deadline);
    const auto attest_time = duration_cast<milliseconds>(now() - attest_started);
    for (const std::string& note : (*broker)->take_notes())
      observer.broker_note(broker_profile, note);
    observer.attested(broker_profile, (*broker)->tee(), attested, attest_time);
    if (!attested.ok()) {
      for (std::size_t i : members) outcomes[i].fetch_time = attest_time;
      fail_all(attested.with_context(fmt::format("profile {}", profile_name)));
      return;
    }
    observer.progress(fmt::format("fetching {} key{} from profile {}", members.size(),
                                  members.size() == 1 ? "" : "s", profile_name));
    const auto fetch_started = now();
    // One request per distinct resource.
    std::vector<std::string> resources;
    std::vector<std::size_t> resource_of(members.size());
    for (std::size_t m = 0; m < members.size(); ++m) {
      const auto& resource = volumes[members[m]].token.resource;
      auto it = std::find(resources.begin(), resources.end(), resource);
      resource_of[m] = static_cast<std::size_t>(it - resources.begin());
      if (it == resources.end()) resources.push_back(resource);
    }
    auto keys = (*broker)->fetch(resources, deadline);
    const auto fetch_time = duration_cast<milliseconds>(now() - fetch_started);
    for (const std::string& note : (*broker)->take_notes())
      observer.broker_note(broker_profile, note);
    const auto fetched = static_cast<std::size_t>(
        std::count_if(keys.begin(), keys.end(), [](const auto& key) { return key.ok(); }));
    const auto first_failed =
        std::find_if(keys.begin(), keys.end(), [](const auto& key) { return !key.ok(); });
    observer.keys_fetched(
        broker_profile, (*broker)->tee(), (*broker)->attestations(), fetched, resources.size(),
        fetch_time, first_failed == keys.end() ? Status::ok_status() : first_failed->status());

    for (std::size_t m = 0; m < members.size(); ++m) {
      auto& outcome = outcomes[members[m]];
      outcome.fetch_time = attest_time + fetch_time;
      const auto& key = keys[resource_of[m]];
      if (!key.ok()) {
        outcome.result = VolumeResult::kFailed;
        outcome.status = key.status().with_context(fmt::format(
            "resource {} of profile {}", volumes[members[m]].token.resource, profile_name));
      } else {
        observer.progress(fmt::format("{} {} ({} of {})",
                                      options.dry_run ? "verifying" : "unlocking",
                                      outcome.volume.mapping_name, m + 1, members.size()));
        open_volume(outcome.volume, *key, options.dry_run, config, options, deadline, now, outcome);
      }
      observer.volume_done(outcome);
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(by_profile.size());
  for (const auto& [name, members] : by_profile) {
    threads.emplace_back(run_profile, std::cref(name), std::cref(members));
  }
  for (auto& thread : threads) thread.join();
  return outcomes;
}

}  // namespace ccfde::agent

namespace ccfde::agent {

Result<SecretBytes> fetch_verified_key(const VolumeCandidate& volume, const AgentConfig& config,
                                       const KeyBrokerFactory& make_broker_in,
                                       const std::function<Status()>& phase_event_available) {
  UnlockOptions options;
  if (auto excluded = exclusion(volume, config, options);
      excluded && excluded->first != VolumeResult::kAlreadyActive) {
    return excluded->second;
  }
  CCFDE_RETURN_IF_ERROR(window_status(config, phase_event_available));
  const KeyBrokerFactory make_broker = broker_factory(make_broker_in);
  const auto deadline = volume_deadline(config, SteadyClock::now());
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile, config.profile(volume.token.profile));
  CCFDE_ASSIGN_OR_RETURN(
      auto broker, make_broker(*profile, config.evidence, config.unlock.max_parallel_fetches));
  const std::string resources[] = {volume.token.resource};
  auto keys = broker->fetch(resources, deadline);
  if (keys.size() != 1) {
    return make_error(ErrorCode::kInternal, "the broker returned {} keys for 1 resource",
                      keys.size());
  }
  if (!keys[0].ok()) return keys[0].status();
  SecretBytes key = std::move(keys[0]).value();
  UnlockOutcome outcome;
  open_volume(
      volume, key, /*dry_run=*/true, config, options, deadline, [] { return SteadyClock::now(); },
      outcome);
  if (outcome.result != VolumeResult::kVerified) return outcome.status;
  return key;
}

}  // namespace ccfde::agent

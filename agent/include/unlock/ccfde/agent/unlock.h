// SPDX-License-Identifier: Apache-2.0
// The unlock run of fde-agent: find the LUKS2 volumes that carry a cc-fde token, fetch the keys of
// all of them with one attestation per broker profile, and activate (or, in a dry run, only
// verify) each one. One volume's failure never blocks the others; nothing runs past the deadlines.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/crypttab.h"
#include "ccfde/agent/key_broker.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

// A LUKS2 volume with a cc-fde token, as found on this machine.
struct VolumeCandidate {
  std::filesystem::path device;
  std::string uuid;
  std::string mapping_name;  // the crypttab name, else "luks-<uuid>"
  int token_id = 0;
  CcFdeToken token;
  std::optional<CrypttabEntry> crypttab;  // the matching crypttab line, if any
  std::string cipher;                     // the data segment's "cipher-mode"
  unsigned sector_size = 0;               // its encryption sector size
  std::string integrity;                  // its integrity ("hmac(sha256)", "aead"), "" for none
};

// A LUKS2 volume without a cc-fde token (not a candidate; it matters when it is required).
struct UntokenedVolume {
  std::filesystem::path device;
  std::string uuid;
};

struct DiscoveryOptions {
  // Explicit devices (paths, or crypttab sources such as UUID=...); empty: scan.
  std::vector<std::string> devices;
  std::filesystem::path sys_root = "/sys";  // block devices from <sys_root>/class/block
  std::filesystem::path dev_root = "/dev";  // and their nodes under <dev_root>
  std::vector<CrypttabEntry> crypttab;
};

struct DiscoveryProblem {
  std::string device;
  Status status;
};

struct Discovery {
  std::vector<VolumeCandidate> volumes;    // by device path, without duplicates
  std::vector<DiscoveryProblem> problems;  // explicit devices that could not be used, bad tokens
  std::vector<UntokenedVolume> without_token;  // LUKS2 volumes found with no cc-fde token
};

// A volume the run must unlock (unlock.volumes, rd.luks.uuid=, crypttab), and why.
struct RequiredVolumeRef {
  std::string uuid;              // lowercase, or "" when only the device is known
  std::filesystem::path device;  // a crypttab source resolved to a path, or ""
  std::string profile;           // the configuration's binding, or ""
  std::string resource;          // likewise
  std::string origin;            // "unlock.volumes", "crypttab line 3", ...
};

// The required volumes of `config` (unlock.volumes, which include rd.luks.uuid= after
// apply_kernel_command_line) plus, with unlock.require_crypttab, every crypttab entry that
// systemd-cryptsetup or cryptroot would open as LUKS with a passphrase: not noauto, nofail, swap,
// tmp, plain, tcrypt or bitlk, and with no key file ("none", "-" or empty).
std::vector<RequiredVolumeRef> required_volumes(const AgentConfig& config,
                                                const std::vector<CrypttabEntry>& crypttab,
                                                const std::filesystem::path& dev_root = "/dev");

// Whether `volume` (found at `device` with LUKS UUID `uuid`) is `required`.
bool matches_required(const RequiredVolumeRef& required, const std::filesystem::path& device,
                      std::string_view uuid);

// Finds cc-fde volumes: the explicit devices, or every block device of non-zero size that libblkid
// identifies as LUKS2 plus every crypttab source that resolves. A device with no cc-fde token is
// listed in without_token in a scan and reported (kNoToken) when named explicitly; a header UUID
// that is not a canonical UUID is a problem (kMalformed), never a candidate; a volume with several
// cc-fde tokens gives one candidate per token. A token that breaks the schema is a problem
// (kInvalidToken), not a candidate. Never fails as a whole.
Discovery discover_volumes(const DiscoveryOptions& options);

enum class VolumeResult {
  kUnlocked,       // activated as /dev/mapper/<mapping_name>
  kVerified,       // dry run: the key opens one of the token's keyslots
  kAlreadyActive,  // the mapping exists: nothing done
  kSkipped,        // excluded (noauto, not in allowed_uuids, unfinished operation)
  kFailed,         // includes refusals before any evidence was sent (resource, cipher, binding)
};

// "unlocked", "verified", "already_active", "skipped", "failed".
std::string_view volume_result_name(VolumeResult result) noexcept;

struct UnlockOutcome {
  VolumeCandidate volume;
  VolumeResult result = VolumeResult::kFailed;
  Status status;                                 // why it failed or was skipped
  int keyslot = -1;                              // the keyslot the key opened
  std::chrono::milliseconds fetch_time{0};       // attestation + key fetch of its profile
  std::chrono::milliseconds activation_time{0};  // verification or activation
};

// What the run tells its caller as it goes (fde-agent turns these into journal entries, sd_notify
// STATUS lines and console timeline lines). Called from the unlock run's threads, one call at a
// time.
class UnlockObserver {
 public:
  virtual ~UnlockObserver() = default;
  // "attesting to <profile> (<n> volumes)" etc.: short progress for sd_notify STATUS.
  virtual void progress(const std::string& text) = 0;
  // An attestation to `profile` starts, and how it ended (time spent).
  virtual void attesting(const BrokerProfile& profile, measure::TeeKind tee) = 0;
  virtual void attested(const BrokerProfile& profile, measure::TeeKind tee, const Status& status,
                        std::chrono::milliseconds elapsed) = 0;
  // A profile's keys arrived (or failed): attestations done, resources fetched, time spent in the
  // key requests after the attestation, and the error of the first resource that failed (ok when
  // every one arrived).
  virtual void keys_fetched(const BrokerProfile& profile, measure::TeeKind tee,
                            unsigned attestations, std::size_t fetched, std::size_t requested,
                            std::chrono::milliseconds elapsed, const Status& first_error) = 0;
  // A volume's final outcome.
  virtual void volume_done(const UnlockOutcome& outcome) = 0;
  // A line about the profile's broker addresses (KeyBroker::take_notes): one was unreachable,
  // another answered. Ignored by default.
  virtual void broker_note(const BrokerProfile& profile, const std::string& text) {
    (void)profile;
    (void)text;
  }
};

using KeyBrokerFactory = std::function<Result<std::unique_ptr<KeyBroker>>(
    const BrokerProfile& profile, const EvidenceConfig& evidence, unsigned max_parallel)>;

class LuksVolume;

struct UnlockOptions {
  bool dry_run = false;          // verify keys with a NULL activation name; activate nothing
  bool scan_mode = false;        // --all: volumes with crypttab option noauto are skipped
  KeyBrokerFactory make_broker;  // empty: make_key_broker
  std::function<SteadyClock::time_point()> now;  // empty: SteadyClock::now
  // With unlock.require_phase_event: whether the end of the unlock phase can be recorded (RTMR3
  // extension); an error fails every volume before any evidence is sent. Empty: nothing can be
  // recorded (kUnsupported).
  std::function<Status()> phase_event_available;
  // Called after a volume was activated and its mapping checked, with the key still alive (the
  // unlock record bound to the volume key). An error deactivates the volume and fails it.
  std::function<Status(const VolumeCandidate&, const LuksVolume&, const SecretBytes& key,
                       int keyslot)>
      after_activation;
  // The required volumes (required_volumes()); a failure or refusal of one of them is a failure of
  // the run even when the volume was merely skipped.
  std::vector<RequiredVolumeRef> required;
};

// Unlocks `volumes` with `config`: candidates are filtered (allowed_uuids, token state, noauto in
// scan mode, already active) and refused before any evidence is sent when the token asks its
// profile for a resource outside the profile's "resources", contradicts a required volume's
// binding, or the segment's cipher or sector size is not allowed; grouped by profile (an unknown
// profile fails its volumes with kUnknownProfile), each profile's resources fetched concurrently
// with one attestation, each key verified against the token's keyslots and the volume activated
// with the crypttab flags (discard only with unlock.allow_discards; same-cpu-crypt,
// submit-from-crypt-cpus, no-read-workqueue, no-write-workqueue, readonly), never the header's
// persistent flags; the active mapping is read back (LuksVolume::check_active_mapping) and closed
// again on a mismatch. Deadlines: each volume's fetch and activation stop at min(start +
// volume_timeout, start + overall_timeout). Returns one outcome per candidate, in input order. Keys
// live only in SecretBytes and are wiped before this returns.
std::vector<UnlockOutcome> unlock_volumes(const std::vector<VolumeCandidate>& volumes,
                                          const AgentConfig& config, const UnlockOptions& options,
                                          UnlockObserver& observer);

// Why the header of `volume` may not have what it asks for, judged by the configuration alone (so
// before any evidence is sent): a resource outside its profile's "resources" (or an unknown
// profile), a profile or resource other than a matching required volume's binding, a segment
// cipher or sector size not allowed. nullopt when it may proceed. Errors in the status:
// kPolicyViolation, kUnknownProfile.
std::optional<Status> refuse_header(const VolumeCandidate& volume, const AgentConfig& config,
                                    const std::vector<RequiredVolumeRef>& required);

// OK when keys may be fetched: unlock.require_phase_event is off, or `phase_event_available`
// says the end of the unlock phase can be recorded. Errors: kUnsupported naming the reason and
// the opt-out.
Status release_window_status(const AgentConfig& config,
                             const std::function<Status()>& phase_event_available);

// The key of one volume for callers that hand it on instead of activating (the crypttab keyscript
// route): fetches the token's resource from its profile (one attestation) before
// min(volume_timeout, overall_timeout) and checks that it opens one of the token's keyslots, so a
// wrong key is never handed out. Errors: kUnknownProfile, kUnfinishedOperation (token not
// complete), the broker's errors, kKeyRejected, kDeadlineExceeded.
Result<SecretBytes> fetch_verified_key(const VolumeCandidate& volume, const AgentConfig& config,
                                       const KeyBrokerFactory& make_broker = {},
                                       const std::function<Status()>& phase_event_available = {});

// The activation flags (CRYPT_ACTIVATE_*) the crypttab options of `entry` ask for ("discard" only
// when `allow_discards`). Options that do not concern activation are ignored, as
// systemd-cryptsetup does.
std::uint32_t crypttab_activation_flags(const CrypttabEntry& entry, bool allow_discards);

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// Binding a LUKS2 volume to a key broker: enroll, rotate, unbind, test and list, the operations
// behind fdectl. Every operation that changes a header first writes a header backup, then changes
// the header in an order in which a crash (SIGKILL, power loss) at any point leaves the volume
// openable with the old or the new credential, and never writes a byte of the data area.
//
// Interrupted operations are recorded in the cc-fde token itself (token.h "state" and
// "pending-keyslot"): running the same operation again completes it, and any other operation on
// that token is refused with kUnfinishedOperation naming the command to run.
//
//   enroll:  [generate a key and upload it | fetch it] -> backup -> token {pending, keyslots [],
//            pending-keyslot N} -> add keyslot N (minimal PBKDF2) authorised by the unlock secret
//            -> verify the key opens N -> token {keyslots [N]} -> optionally destroy the slot the
//            unlock secret opens (only now, and only if another keyslot remains).
//            Re-run on a pending token: destroy N (unverified) if it exists, then redo.
//   rotate:  fetch the current key -> new random key -> backup -> token {rotating, keyslots [O],
//            pending-keyslot M} -> add keyslot M (new key) authorised by the current key -> token
//            {rotating, keyslots [O, M]} -> upload the new key -> fetch it back and verify it opens
//            M -> destroy O -> token {keyslots [M]}.
//            Re-run on a rotating token: fetch the broker's current key, keep the slot it opens,
//            destroy the other; if that kept the old slot, rotate again from the start.
//   unbind:  refuse if no other keyslot would remain -> backup -> token {unbinding} -> destroy its
//            keyslots -> remove the token. Re-run on an unbinding token finishes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

inline constexpr std::string_view kDefaultHeaderBackupDir = "/var/lib/cc-fde/header-backups";
// Size of a generated broker key (`--key-source generate`, rotate).
inline constexpr std::size_t kGeneratedKeyBytes = 32;
// The least a key fetched for a new keyslot (`--key-source broker`) must hold: kMinBrokerKeyBytes
// bytes and kMinBrokerKeyBits of the estimate check_broker_key gives. Such a keyslot uses the
// minimal PBKDF2 (luks_volume.h), so a short or patterned key could be guessed offline from a
// copied header.
inline constexpr std::size_t kMinBrokerKeyBytes = 32;
inline constexpr double kMinBrokerKeyBits = 128;

// Where binding operations get and put broker keys. The real implementation
// (make_broker_key_service) attests through KeyBroker and uploads through upload_resource; unit
// tests use fakes.
class KeyService {
 public:
  virtual ~KeyService() = default;

  // Fetches `resource` of `profile` through attestation. Errors: those of KeyBroker::fetch
  // (kAttestationRefused, kPolicyDenied, kResourceNotFound, kUnreachable, kDeadlineExceeded...).
  virtual Result<SecretBytes> fetch(const BrokerProfile& profile, const std::string& resource) = 0;

  // Stores `key` as `resource` of `profile` through the broker's admin API, replacing any
  // previous value. Errors: those of upload_resource (kConfigInvalid, kPolicyDenied,
  // kUnsupported for ITA...).
  virtual Status upload(const BrokerProfile& profile, const std::string& resource,
                        std::span<const std::uint8_t> key) = 0;
};

// The real KeyService: one KeyBroker per profile (created on first use, so all fetches of one
// profile share a single attestation), evidence as `config.evidence` says; uploads read the admin
// token from `admin_token_file`, or when it is empty from the profile's admin_token_file. Every
// call gets `timeout` as its deadline. `config` must outlive the service. Never fails to
// construct: KeyBroker creation errors are returned by the first fetch. `notice`, when set, gets
// the brokers' address notes (KeyBroker::take_notes: an address unreachable, another used).
std::unique_ptr<KeyService> make_broker_key_service(
    const AgentConfig& config, std::filesystem::path admin_token_file, std::chrono::seconds timeout,
    std::function<void(std::string_view)> notice = {});

// What every operation needs besides the device.
struct BindingContext {
  const AgentConfig& config;
  KeyService& keys;
  // Header backups go here as <uuid>-<UTC YYYYMMDDTHHMMSSZ>-<operation>.img (mode 0600; the
  // directory is created with mode 0700 if missing). <uuid> is the header's UUID in lowercase
  // 8-4-4-4-12 form: operations on a header whose UUID is anything else are refused (kMalformed)
  // before they change anything, since the header is untrusted and the name must stay a plain
  // file name inside this directory.
  std::filesystem::path backup_dir = std::filesystem::path(std::string(kDefaultHeaderBackupDir));
  // Optional: one line per noteworthy step for the operator ("completing an interrupted enroll:
  // destroyed unverified keyslot 2"). Never receives secrets.
  std::function<void(std::string_view)> notice;
};

enum class KeySource {
  kGenerate,  // a random kGeneratedKeyBytes key, uploaded through the admin API
  kBroker,    // the existing resource, fetched through attestation
};

enum class EnrollMode {
  kBind,     // add a keyslot to an existing LUKS2 volume (needs unlock_secret)
  kFormat,   // write a fresh LUKS2 header over the device (destructive; the caller confirmed)
  kEncrypt,  // encrypt the plaintext filesystem on the device in place (resumable)
};

struct EnrollOptions {
  std::string profile = std::string(kDefaultProfileName);
  std::string resource;
  KeySource key_source = KeySource::kGenerate;
  EnrollMode mode = EnrollMode::kBind;
  // kBind: an existing passphrase or key file content (exact bytes) that opens a keyslot.
  // kFormat/kEncrypt: optional; becomes an additional recovery keyslot (libcryptsetup's default
  // KDF). Not owned; must outlive the call.
  const SecretBytes* unlock_secret = nullptr;
  // kBind: after the new keyslot is verified, destroy the keyslot unlock_secret opens (only if
  // another keyslot remains).
  bool remove_passphrase = false;
  // kFormat: also overwrite a device that already carries a LUKS header (any version).
  bool force = false;
  // kFormat only: format.integrity chooses authenticated encryption (needs device-mapper: the
  // integrity tags are initialised through a temporary mapping). With another mode a non-empty
  // integrity is refused (kInvalidArgument): libcryptsetup cannot encrypt in place with integrity.
  FormatOptions format;
  EncryptOptions encrypt;
};

// Refuses a broker key that is too weak to be the only secret of a minimal-PBKDF2 keyslot: fewer
// than kMinBrokerKeyBytes bytes, or an estimate below kMinBrokerKeyBits, the estimate being
// length * log2(number of distinct byte values) (a 64-character hex string gives 256, 32 random
// bytes about 157; "aaaa..." gives 0 and a repeated word little more). It only catches keys that do
// not look random: a key that passes is not thereby proved random. Errors: kKeyRejected naming the
// length, the number of distinct byte values and the estimate (never the key's bytes).
Status check_broker_key(std::span<const std::uint8_t> key);

struct EnrollResult {
  std::string uuid;
  int token_id = -1;
  int keyslot = -1;
  std::optional<int> removed_keyslot;   // the passphrase keyslot removed (remove_passphrase)
  std::optional<int> recovery_keyslot;  // kFormat/kEncrypt with an unlock_secret
  std::filesystem::path backup;         // empty when there was no header to back up
  bool completed_interrupted = false;   // an interrupted enroll was found and completed
  bool already_enrolled = false;        // a complete token for profile+resource already existed
};

// Binds `device` to `options.resource` of `options.profile` (see the top of this file for the
// order of steps). Validates everything it can before changing anything: the profile exists, the
// header's UUID is a UUID (it names the header backup), the unlock secret opens a keyslot, no other
// operation is unfinished, a keyslot is free, a key fetched with KeySource::kBroker passes
// check_broker_key.
// Idempotent: a complete token for the same profile and resource is verified (fetch + keyslot)
// and reported as already_enrolled, finishing a pending remove_passphrase; a pending token for
// them is completed.
// Errors: kUnknownProfile; kInvalidArgument (no unlock secret for kBind, empty resource, all
// keyslots used, kFormat over a LUKS header without force, kEncrypt on a LUKS2 volume the key
// does not open); kNotFound, kIoError, kNotLuks2, kMalformed (LuksVolume::open; the header's UUID
// is not 8-4-4-4-12 hex); kKeyRejected (the unlock secret or the broker key opens nothing / not
// the new keyslot; a kBroker key check_broker_key refuses, before any change); kInvalidToken (a
// cc-fde token in the header cannot be parsed: nothing is changed while its state is unknown);
// kUnfinishedOperation (another token has an unfinished operation); the KeyService's errors.
Result<EnrollResult> enroll(const std::filesystem::path& device, const EnrollOptions& options,
                            const BindingContext& context);

struct RotateResult {
  std::string uuid;
  int token_id = -1;
  int old_keyslot = -1;
  int new_keyslot = -1;
  std::filesystem::path backup;
  bool completed_interrupted = false;  // a rotating token was found and resolved first
};

// Replaces the broker key of token `token_id` (nullopt: the volume's only cc-fde token) with a new
// random key: new keyslot first, upload, verification, old keyslot removed last. A rotating token
// is resolved first (the slot the broker's current key opens is kept); if that completed the
// interrupted rotation (the broker already held the new key) no further rotation is done.
// Errors: kNoToken (no cc-fde token / no such token), kInvalidArgument (several cc-fde tokens and
// no token_id; no free keyslot), kMalformed (the header's UUID is not a UUID: nothing changed),
// kInvalidToken, kUnknownProfile, kUnfinishedOperation (token
// pending or unbinding), kKeyRejected (the broker's key opens none of the token's keyslots: nothing
// is changed), the KeyService's errors (an upload failure rolls the new keyslot back), LuksVolume
// errors.
Result<RotateResult> rotate(const std::filesystem::path& device, std::optional<int> token_id,
                            const BindingContext& context);

struct ReencryptOptions {
  std::optional<int> token_id;  // nullopt: the volume's only cc-fde token
  // Keyslots other than the token's only open the old volume key and are destroyed with it: the
  // operator must say so (nothing else is refused more quietly than a lost credential).
  bool drop_other_keyslots = false;
  // Optional: a passphrase (exact bytes) for a recovery keyslot of the new volume key
  // (libcryptsetup's default KDF). Not owned; must outlive the call.
  const SecretBytes* recovery_passphrase = nullptr;
  // Progress of the data pass (bytes done of total); return false to interrupt (resumable).
  ProgressCallback progress;
};

struct ReencryptResult {
  std::string uuid;
  int token_id = -1;
  std::vector<int> old_keyslots;  // the keyslots of the old volume key (all destroyed)
  int new_keyslot = -1;
  std::optional<int> recovery_keyslot;
  std::filesystem::path backup;
  bool completed_interrupted = false;  // a reencrypting token was found and finished
};

// Changes the volume key of `device`: every sector is re-encrypted (offline, or online under the
// volume's one active mapping: LuksVolume::reencryption_mapping) with a new random volume key
// (LuksVolume::reencrypt), which the broker key of token `options.token_id` opens, and every
// keyslot of the old key is destroyed, so an old copy of the header (with any passphrase
// it held) no longer opens the data written since. The broker key itself is unchanged (`fdectl
// rotate` changes it). Steps: the broker's key is fetched and checked against the token's
// keyslot; the header is backed up; the token becomes "reencrypting" with the new key's keyslot
// as pending-keyslot; the unbound keyslot is added; the data is re-encrypted; the recovery
// keyslot is added; the token becomes complete with the new keyslot. Killed at any point, the
// same call finishes it (the volume opens with the broker key throughout; it does not boot
// while the token is reencrypting).
// Errors: kNoToken; kInvalidArgument (several cc-fde tokens: the change would drop the others'
// keyslots; other keyslots without drop_other_keyslots; an integrity-protected volume; no free
// keyslot); kBusy (the device is held or mounted other than through the volume's one mapping);
// kUnfinishedOperation (another operation is unfinished); kMalformed (UUID); kInvalidToken;
// kUnknownProfile; kKeyRejected (the broker's key opens none of the token's keyslots: nothing
// changed); kDeadlineExceeded (interrupted by `progress`); the KeyService's and LuksVolume's
// errors.
Result<ReencryptResult> reencrypt(const std::filesystem::path& device,
                                  const ReencryptOptions& options, const BindingContext& context);

struct UnbindResult {
  std::string uuid;
  int token_id = -1;
  std::vector<int> removed_keyslots;
  std::filesystem::path backup;
  bool completed_interrupted = false;
};

// Removes token `token_id` (nullopt: the only cc-fde token) and destroys its keyslots (for a
// pending token: its pending keyslot). Refuses when no other active keyslot would remain.
// Errors: kNoToken, kInvalidArgument (several tokens, no token_id), kMalformed (the header's UUID
// is not a UUID: nothing changed), kInvalidToken, kUnknownProfile, kUnfinishedOperation (token
// rotating), kLastCredential (nothing changed), LuksVolume errors.
Result<UnbindResult> unbind(const std::filesystem::path& device, std::optional<int> token_id,
                            const BindingContext& context);

struct TestResult {
  std::string uuid;
  int token_id = -1;
  int keyslot = -1;  // the keyslot the fetched key opens
  std::string profile;
  std::string resource;
};

// Attests, fetches the key of token `token_id` (nullopt: the only cc-fde token) and verifies it
// opens one of the token's keyslots (activation with a NULL name). Changes nothing.
// Errors: kNoToken, kInvalidArgument, kInvalidToken, kUnknownProfile, kUnfinishedOperation (the
// token is not complete), kKeyRejected (the key opens none of its keyslots), the KeyService's
// errors, LuksVolume errors.
Result<TestResult> test_binding(const std::filesystem::path& device, std::optional<int> token_id,
                                const BindingContext& context);

// What a "systemd-recovery" token says (recovery_key.h, parse_recovery_token; untrusted).
struct RecoveryToken {
  std::vector<int> keyslots;
  std::string created;  // "cc-fde-created" as stored, "" when absent (e.g. systemd's own)
  std::optional<int> pending_keyslot;
};

struct ListedToken {
  int id = 0;
  std::string type;
  std::vector<int> keyslots;         // the generic "keyslots" member, as far as it parses
  std::optional<CcFdeToken> cc_fde;  // a valid cc-fde token
  std::optional<Status> error;       // a cc-fde token that breaks the schema
  // A "systemd-recovery" token (recovery_key.h): the operator's recovery key.
  std::optional<RecoveryToken> recovery;
};

struct VolumeListing {
  std::string uuid;
  std::uint64_t data_offset_bytes = 0;
  bool reencryption_in_progress = false;
  std::vector<int> keyslots;  // active keyslots
  // The key derivation of each active keyslot as the header names it (LuksVolume::keyslot_pbkdf).
  std::map<int, std::string> keyslot_pbkdfs;
  std::vector<ListedToken> tokens;
};

// Reads `device`'s keyslots and tokens (cc-fde tokens parsed; invalid ones listed with their
// error). Needs no configuration and changes nothing. Every string in the result comes from the
// untrusted header as stored (the UUID too need not be a UUID, nor valid UTF-8): escape before
// printing. Errors: LuksVolume::open's.
Result<VolumeListing> list(const std::filesystem::path& device);

// `text` as one line of printable ASCII: escape_nonprintable's "\xNN" form (encoding.h), applied
// to tab, CR and LF as well. Strings from a header (UUID, token fields) are untrusted; this is the
// form in which they enter messages and a terminal, so they can neither carry terminal escapes
// nor start a line of their own.
std::string one_line_printable(std::string_view text);

// Protection of a process that holds keys (fdectl, fde-agent), for the start of main before any
// key exists: the process becomes non-dumpable (PR_SET_DUMPABLE 0: no core file, and users other
// than root can neither ptrace it nor read its /proc/<pid>/mem), its core size limit becomes 0,
// and its memory is locked (mlockall MCL_CURRENT | MCL_FUTURE: no page of it is swapped out).
// Memory is locked only where the lock can hold for the whole run: with CAP_IPC_LOCK or an
// unlimited RLIMIT_MEMLOCK (with a finite limit, MCL_FUTURE would make every allocation past it
// fail later).
struct KeyProcessProtection {
  // OK when all memory is locked; otherwise why not (the other protections hold): kUnsupported (no
  // CAP_IPC_LOCK and a finite RLIMIT_MEMLOCK, named in the message), kDeviceError (mlockall
  // failed).
  Status memory_lock;
};
// Errors: kDeviceError naming prctl or setrlimit (the process is not protected: do not go on).
Result<KeyProcessProtection> protect_key_process();

// Test-only crash injection. With CCFDE_FAULT_INJECTION compiled in, each step boundary of
// enroll (also inside --encrypt: "encrypt.*"), rotate, unbind, reencrypt and add_recovery_key
// ("recovery.*") calls a named fault point, and
// the process raises SIGKILL there when the environment variable CCFDE_FAULT_POINT equals that
// name. Otherwise the points are no-ops.

// Whether this build contains the fault points.
bool fault_injection_compiled() noexcept;

// Every fault point name ("enroll.after-token-pending", ...), in the order a full run of each
// operation reaches them; empty when fault injection is not compiled in.
std::span<const std::string_view> fault_point_names() noexcept;

}  // namespace ccfde::agent

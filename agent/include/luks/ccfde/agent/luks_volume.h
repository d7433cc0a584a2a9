// SPDX-License-Identifier: Apache-2.0
// A LUKS2 volume through libcryptsetup: one RAII handle per device (block device or image file),
// and the few operations cc-fde needs, each returning a Status instead of an errno. libcryptsetup
// is not thread-safe, so every call that touches a handle takes one process-wide lock; handles may
// be used from several threads.
//
// Secrets (passphrases, volume keys) go in and out only as spans over SecretBytes; nothing here
// copies them anywhere else (libcryptsetup keeps its own copies in crypt_safe_alloc memory).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

struct crypt_device;

namespace ccfde::agent {

inline constexpr int kAnyKeyslot = -1;  // CRYPT_ANY_SLOT
inline constexpr int kAnyToken = -1;    // CRYPT_ANY_TOKEN

// Keyslot key derivation. Broker keys are 32 random bytes, so the cc-fde keyslot uses the minimal
// PBKDF2 (what systemd-cryptenroll and clevis use for machine secrets): Argon2's memory cost would
// hurt a small VM's initramfs for no gain. Human passphrases keep libcryptsetup's default. The
// operator's recovery key (recovery_key.h) is typed by hand at a rescue console and never used at
// boot: it gets argon2id whatever this libcryptsetup was built to default to.
enum class KeyslotKdf {
  kMinimalPbkdf2,   // pbkdf2, sha512, 1000 iterations, no benchmark
  kLibraryDefault,  // libcryptsetup's default (argon2id, benchmarked, unless built otherwise)
  // argon2id with cryptsetup's LUKS2 defaults: benchmarked for 2000 ms, up to 1 GiB of memory
  // (libcryptsetup lowers it to what the machine has), 4 threads.
  kArgon2id,
};

struct TokenEntry {
  int id = 0;
  std::string type;  // the token's "type" member ("" if the header has none)
  std::string json;  // the token's JSON text as stored (untrusted)
};

struct FormatOptions {
  std::string cipher = "aes";
  std::string cipher_mode = "xts-plain64";
  // The whole volume key: the cipher's key plus, with an HMAC integrity, the HMAC key after it.
  std::size_t volume_key_bytes = 64;  // AES-256-XTS
  // Authenticated encryption: the LUKS2 segment's integrity (dm-integrity under dm-crypt), as
  // libcryptsetup names it ("hmac(sha256)", "aead"), or "" for none. See integrity_format_options.
  std::string integrity;
  // Encryption sector size in bytes; 0: libcryptsetup's default.
  std::uint32_t sector_size = 0;
  std::optional<std::string> label;
  std::optional<std::string> subsystem;  // the LUKS2 header's subsystem field
};

// The authenticated-encryption layouts `fdectl enroll --format --integrity` offers.
enum class IntegrityLayout {
  kNone,          // aes-xts-plain64, no integrity (the default)
  kHmacSha256,    // aes-xts-plain64 + hmac(sha256) tags (cryptsetup --integrity hmac-sha256)
  kAesGcmRandom,  // aes-gcm-random, integrity "aead" (AES-256-GCM with random 96-bit IVs)
};

// "none", "hmac-sha256", "aes-gcm-random" (the fdectl names). Errors: kInvalidArgument naming the
// value and the accepted names.
Result<IntegrityLayout> parse_integrity_layout(std::string_view name);

// The format options of `layout`: cipher, mode, volume key size (AES-256 in both: 64 + 32 bytes
// for XTS + HMAC-SHA256, 32 bytes for GCM), integrity, and 4096-byte sectors with integrity (one
// tag per 4 KiB instead of per 512 bytes).
FormatOptions integrity_format_options(IntegrityLayout layout);

// Whether this kernel has device-mapper (DM_VERSION on /dev/mapper/control answers), which
// formatting with integrity needs. Errors: kUnsupported naming what is missing.
Status device_mapper_available();

// Whether `device` can be formatted with `integrity` here: OK for "" or "none" (no integrity) or
// when device-mapper is available. Errors: kUnsupported naming the device, the integrity and why.
Status check_integrity_format_possible(const std::filesystem::path& device,
                                       std::string_view integrity);

struct EncryptOptions {
  // Room taken from the end of the device for the header (cryptsetup --reduce-device-size): the
  // filesystem must already be at least this much smaller than the device, or be shrunk first.
  std::uint64_t reduce_device_size_bytes = 32ull << 20;
  std::string cipher = "aes";
  std::string cipher_mode = "xts-plain64";
  std::size_t volume_key_bytes = 64;
};

// What a device-mapper mapping reads, as LuksVolume::check_active_mapping compares it with the
// verified header: the block device (its device number, 0 when unknown, and its path for
// messages), where the data starts on it in 512-byte sectors, and the LUKS UUID.
struct MappingView {
  dev_t device = 0;
  std::string device_path;
  std::uint64_t offset_sectors = 0;
  std::string luks_uuid;
};

// check_active_mapping's decision for mapping `name`: OK when `actual` reads `expected`'s device
// (same known device number) at its offset, with its LUKS UUID. Errors: kActivationFailed naming
// the first difference (device, then offset, then UUID; strings escaped).
Status compare_mapping(const std::string& name, const MappingView& expected,
                       const MappingView& actual);

// Progress of a long operation: bytes done of total; return false to interrupt (resumable).
using ProgressCallback = std::function<bool(std::uint64_t done, std::uint64_t total)>;

class LuksVolume {
 public:
  // Opens `device` and loads its header, requiring LUKS2.
  // Errors: kNotFound (no such path), kIoError (cannot open or read: permissions, I/O, neither a
  // block device nor a regular file), kNotLuks2 (no LUKS header, or LUKS1), kMalformed
  // (libcryptsetup refuses the header: bad checksum, bad JSON), kUnsupported (the header requires
  // a feature this libcryptsetup lacks).
  static Result<LuksVolume> open(const std::filesystem::path& device);

  // Writes a fresh LUKS2 header with a random volume key over `device` (destructive: the caller
  // has confirmed) and adds keyslot 0 opened by `passphrase` with `kdf`. Without integrity it
  // never touches data beyond the header area. With `options.integrity`, dm-integrity's tags must
  // be initialised over the whole data area (a sector never written fails every read with
  // EILSEQ): like `cryptsetup luksFormat --integrity`, it activates a private temporary mapping
  // and zeroes the whole device through it (slow: every sector is written with its tag), then
  // removes the mapping. That needs device-mapper: without it, nothing is written.
  // Errors: kNotFound, kIoError, kInvalidArgument (bad cipher: checked through the kernel crypto
  // API where AF_ALG is available, else left to libcryptsetup, which may then report a
  // device-mapper failure as kIoError; an integrity libcryptsetup does not know), kUnsupported
  // (integrity without device-mapper: the device is unchanged), kActivationFailed (the temporary
  // mapping for the wipe cannot be made: the header is written, the volume is not usable),
  // kCryptoError.
  static Result<LuksVolume> format(const std::filesystem::path& device,
                                   std::span<const std::uint8_t> passphrase, KeyslotKdf kdf,
                                   const FormatOptions& options = {});

  // Encrypts the plaintext `device` in place with LUKS2 reencryption (mode encrypt, datashift
  // resilience, offline), with a new random volume key and keyslot opened by `passphrase`. If a
  // previous run was interrupted (the header says reencryption is in progress), resumes it
  // instead, after checking `passphrase` opens it (a crashed hotzone is recovered first). If the
  // device is already a finished LUKS2 volume that `passphrase` opens, returns it unchanged (a
  // crash after the last write). Safe against crash or power loss at any point but one, the same
  // as `cryptsetup reencrypt --encrypt`: while libcryptsetup writes the prepared header onto the
  // head of the device (crypt_header_restore, the first few hundred KiB; the data it overwrites
  // is already copied to the reserved tail), a crash leaves no usable header. Otherwise
  // re-running with the same passphrase completes it. Errors: kNotFound, kIoError,
  // kInvalidArgument (device too small for reduce_device_size, reduce_device_size not a multiple
  // of 4096 or below 2 MiB, unknown cipher, a LUKS1 header, or a LUKS2 volume this passphrase
  // does not open), kKeyRejected (resume with a passphrase that does not open the header),
  // kCryptoError, kMalformed (invalid reencryption state), kDeadlineExceeded (interrupted by
  // `progress`).
  static Result<LuksVolume> encrypt_in_place(const std::filesystem::path& device,
                                             std::span<const std::uint8_t> passphrase,
                                             KeyslotKdf kdf, const EncryptOptions& options = {},
                                             const ProgressCallback& progress = {});

  // Adds keyslot `keyslot` (or the first free one) opened by `passphrase` for a new random volume
  // key of the current key's size, bound to no data segment (an "unbound" keyslot): the key a
  // volume-key change moves the data to (reencrypt). Returns the keyslot. Errors:
  // kInvalidArgument (keyslot taken or out of range), kIoError (no free keyslot, write failure),
  // kCryptoError.
  Result<int> add_unbound_keyslot(std::span<const std::uint8_t> passphrase, KeyslotKdf kdf,
                                  int keyslot = kAnyKeyslot);

  // Whether `keyslot` holds a key that is bound to no data segment (add_unbound_keyslot).
  bool keyslot_unbound(int keyslot) const;

  // Where a volume-key change of this volume runs: "" offline (no mapping of it is active and,
  // for a block device, the kernel lets it be opened exclusively), or the name of its one active
  // device-mapper mapping (online: libcryptsetup re-encrypts under the live mapping, which may be
  // mounted). Errors: kBusy (the device is held or mounted otherwise, e.g. a raw filesystem on
  // it; several mappings of this volume are active).
  Result<std::string> reencryption_mapping() const;

  // Changes the volume key: re-encrypts the whole data segment (LUKS2 reencryption, mode
  // reencrypt, checksum resilience, same cipher, key size and sector size; online under the
  // volume's active mapping when there is one, see reencryption_mapping) to the key of the
  // unbound keyslot `new_keyslot`. `passphrase` must open `new_keyslot` and a keyslot of the
  // current key. When the header already records an unfinished reencryption, resumes it instead
  // (after recovering a crashed hotzone; `new_keyslot` is then not used). When it finishes,
  // libcryptsetup destroys every keyslot of the old key, whatever opens it. Safe against a crash
  // or power loss at any point: running it again completes it. The handle is reloaded.
  // Errors: kBusy (reencryption_mapping's), kInvalidArgument (an integrity-protected segment:
  // libcryptsetup cannot re-encrypt it; `new_keyslot` is not an unbound keyslot), kKeyRejected (the
  // passphrase does not open the keyslots), kMalformed (invalid reencryption state), kCryptoError,
  // kIoError, kDeadlineExceeded (interrupted by `progress`; resumable).
  Status reencrypt(std::span<const std::uint8_t> passphrase, int new_keyslot,
                   const ProgressCallback& progress = {});

  LuksVolume(LuksVolume&& other) noexcept;
  LuksVolume& operator=(LuksVolume&& other) noexcept;
  LuksVolume(const LuksVolume&) = delete;
  LuksVolume& operator=(const LuksVolume&) = delete;
  ~LuksVolume();

  const std::filesystem::path& device() const noexcept { return device_; }
  // The LUKS2 header's label and subsystem fields ("" when unset). Untrusted, like the header.
  std::string label() const;
  std::string subsystem() const;
  // Rewrites the label and subsystem fields (both; "" clears one). Errors: kInvalidArgument (too
  // long: 47 bytes at most), kIoError.
  Status set_label(const std::string& label, const std::string& subsystem);
  // The header's UUID (lowercase, with dashes).
  std::string uuid() const;
  // Start of the data segment, in bytes from the start of the device.
  std::uint64_t data_offset_bytes() const;
  // Whether an unfinished LUKS2 reencryption (encrypt_in_place) is recorded in the header.
  bool reencryption_in_progress() const;

  // Keyslots that hold a key (active or unbound), ascending.
  std::vector<int> active_keyslots() const;

  // The key derivation of `keyslot` as the header names it ("argon2id", "pbkdf2", ...; untrusted),
  // or "" when the keyslot is not in use or names none.
  std::string keyslot_pbkdf(int keyslot) const;

  // Tries `passphrase` against `keyslot` (or every keyslot with kAnyKeyslot) without activating
  // anything (crypt_activate_by_passphrase with a NULL name: works without device-mapper) and
  // returns the keyslot it opens. Errors: kKeyRejected (opens no such keyslot), kInvalidArgument
  // (keyslot out of range or inactive), kIoError.
  Result<int> verify_passphrase(std::span<const std::uint8_t> passphrase,
                                int keyslot = kAnyKeyslot) const;

  // Adds a keyslot opened by `new_passphrase`, authorised by `existing_passphrase` (which must
  // open some keyslot), at `keyslot` or the first free one. Returns the new keyslot.
  // Errors: kKeyRejected (existing passphrase opens nothing), kInvalidArgument (keyslot taken or
  // out of range), kIoError (all keyslots used or the header cannot be written).
  Result<int> add_keyslot(std::span<const std::uint8_t> existing_passphrase,
                          std::span<const std::uint8_t> new_passphrase, KeyslotKdf kdf,
                          int keyslot = kAnyKeyslot);

  // Erases `keyslot` (its key material is wiped from the header). No verification: callers check
  // that another way in remains. Errors: kInvalidArgument (not an active keyslot), kIoError.
  Status destroy_keyslot(int keyslot);

  // Every token in the header, in id order.
  Result<std::vector<TokenEntry>> tokens() const;
  // Writes `json` as token `id` (kAnyToken: the first free id; an existing token `id` is
  // replaced) and returns the id. The JSON must carry its own "keyslots" (libcryptsetup checks
  // them against the keyslots present).
  // Errors: kInvalidArgument (libcryptsetup refuses the JSON or the keyslot references), kIoError.
  Result<int> set_token(int id, const std::string& json);
  // Removes token `id`. Errors: kNotFound (no such token), kIoError.
  Status remove_token(int id);

  // Writes a byte-exact copy of the header area (crypt_header_backup) to `file`, created with mode
  // 0600 (it must not exist). Errors: kIoError, kInvalidArgument (file exists).
  Status backup_header(const std::filesystem::path& file) const;

  // Whether a device-mapper device `name` is active (false also when device-mapper is absent).
  static bool is_active(const std::string& name);

  // The data segment's cipher as "cipher-mode" ("aes-xts-plain64"), and its encryption sector
  // size in bytes, as the loaded header says.
  std::string segment_cipher() const;
  unsigned sector_size() const;
  // The data segment's integrity as libcryptsetup names it ("hmac(sha256)", "aead", ...), or ""
  // when the segment has none. libcryptsetup can neither encrypt nor re-encrypt in place a
  // volume with integrity: commands that would (a volume-key change) refuse when this is not "".
  std::string integrity() const;

  // Checks that the active mapping `name` is what this volume was verified as: device-mapper's
  // table maps this volume's device (same device number), at this header's data offset, with a
  // LUKS2 dm UUID naming this header's UUID. The host owns the disk between check and use. With
  // integrity, dm-crypt maps `<name>_dif`, the dm-integrity device that starts at the data offset
  // (libcryptsetup's layout), and the integrity of the mapping must match the header's.
  // Errors: kActivationFailed naming what differs, kNotFound (no such mapping).
  Status check_active_mapping(const std::string& name) const;

  // Deactivates mapping `name` (deferred removal if it is busy). Errors: kNotFound (no such
  // mapping), kActivationFailed.
  static Status deactivate(const std::string& name);

  // Activates the volume as /dev/mapper/`name` with `passphrase` against `keyslot` (or any),
  // with exactly the activation flags `extra_flags` (CRYPT_ACTIVATE_*): the persistent flags
  // stored in the (untrusted) header are ignored. Returns the keyslot used. Errors: kKeyRejected,
  // kActivationFailed (device-mapper refused: missing dm-crypt, name in use), kIoError.
  Result<int> activate(const std::string& name, std::span<const std::uint8_t> passphrase,
                       int keyslot = kAnyKeyslot, std::uint32_t extra_flags = 0);

  // The underlying handle, for code in this component that needs a call not wrapped here. Callers
  // must hold libcryptsetup_lock() while using it.
  crypt_device* handle() const noexcept { return cd_; }

  // The volume key, unwrapped from `keyslot` (or the first keyslot it opens, with kAnyKeyslot) by
  // `passphrase` (crypt_volume_key_get), without activating anything: works without
  // device-mapper. The key goes straight into the returned SecretBytes (the header's volume key
  // size). Errors: kKeyRejected (the passphrase does not open that keyslot, or opens none),
  // kInvalidArgument (keyslot out of range or inactive), kIoError.
  Result<SecretBytes> volume_key(std::span<const std::uint8_t> passphrase, int keyslot) const;

 private:
  LuksVolume(std::filesystem::path device, crypt_device* cd) noexcept;
  std::filesystem::path device_;
  crypt_device* cd_ = nullptr;
};

// The process-wide libcryptsetup lock (recursive: wrappers may call each other).
std::unique_lock<std::recursive_mutex> libcryptsetup_lock();

}  // namespace ccfde::agent

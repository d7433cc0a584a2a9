// SPDX-License-Identifier: Apache-2.0
// The libcryptsetup plumbing of the luks part that luks_volume.cpp and luks_encrypt_in_place.cpp
// share: log routing, handle setup, header loading, the keyslot KDF and the reencryption loop.
// Private to agent/src/luks; every call that can log runs under libcryptsetup_lock().
#pragma once

#include <libcryptsetup.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/common/status.h"

namespace ccfde::agent::luks {

inline constexpr std::uint64_t kSectorSize = 512;

struct CryptDeviceDeleter {
  void operator()(crypt_device* cd) const noexcept { crypt_free(cd); }
};
using CryptDevicePtr = std::unique_ptr<crypt_device, CryptDeviceDeleter>;

// libcryptsetup log callback: keeps the last error lines (never key material) for lib_error's
// message and drops everything else.
void collect_log(int level, const char* message, void* usrptr);

// Forgets the collected log lines; called at the start of every operation.
void clear_log();

// An error from a negative libcryptsetup return value `r`: `code` chosen by the caller, the
// message naming what failed followed by the collected libcryptsetup error lines.
Status lib_error(ErrorCode code, int r, std::string_view what);

// `bytes` as the char pointer libcryptsetup wants (never null, also for an empty span).
const char* as_chars(std::span<const std::uint8_t> bytes);

// Opens `path` with `flags` to tell a missing path (kNotFound) or a permission problem
// (kIoError) apart before libcryptsetup turns both into a terse message.
Status probe_path(const std::filesystem::path& path, int flags);

// Whether the kernel crypto API (AF_ALG) has the data cipher `cipher`-`mode`. kInvalidArgument
// for a malformed specification or a cipher the kernel lacks; OK when it exists or cannot be asked
// ("capi:..." specifications, no AF_ALG: left to libcryptsetup).
Status check_cipher_available(const std::string& cipher, const std::string& mode);

// The size of the regular file or block device `path` in bytes. kIoError naming it when it cannot
// be opened or measured; kInvalidArgument for any other file type.
Result<std::uint64_t> device_size_bytes(const std::filesystem::path& path);

// crypt_init on `device` plus the log routing. kIoError (or kNotFound) naming the device.
Result<CryptDevicePtr> init_handle(const std::filesystem::path& device);

// crypt_init_by_name on the active mapping `name` plus the log routing. kNotFound when no such
// mapping exists, else `code`; the message is "<name>: <what>".
Result<CryptDevicePtr> init_handle_by_name(const std::string& name, ErrorCode code,
                                           std::string_view what);

// Loads a LUKS2 header into `cd`. kNotLuks2 without one (or with LUKS1), kMalformed for a LUKS2
// header libcryptsetup refuses, kUnsupported for a feature it lacks, kIoError when unreadable.
Status load_luks2(crypt_device* cd, const std::filesystem::path& device);

// PBKDF2-SHA512 with the minimum iteration count (KeyslotKdf::kMinimalPbkdf2).
crypt_pbkdf_type minimal_pbkdf2();
// argon2id with cryptsetup's LUKS2 defaults (KeyslotKdf::kArgon2id).
crypt_pbkdf_type strong_argon2id();
// The KDF parameters of `kdf`; nullopt: libcryptsetup's default.
std::optional<crypt_pbkdf_type> pbkdf_of(KeyslotKdf kdf);

// Sets the KDF of the next keyslot `cd` adds. kCryptoError naming `device`.
Status apply_kdf(crypt_device* cd, KeyslotKdf kdf, const std::filesystem::path& device);

// A private 0700 directory next to `target` (same file system, so rename is atomic), removed
// with its content on destruction.
class PrivateTempDir {
 public:
  static Result<PrivateTempDir> create(const std::filesystem::path& near) {
    std::string pattern = (near / ".cc-fde-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return make_errno_error(ErrorCode::kIoError, errno,
                              "cannot create a temporary directory in {}", near.string());
    }
    return PrivateTempDir(pattern);
  }
  PrivateTempDir(PrivateTempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  PrivateTempDir& operator=(PrivateTempDir&&) = delete;
  PrivateTempDir(const PrivateTempDir&) = delete;
  PrivateTempDir& operator=(const PrivateTempDir&) = delete;
  ~PrivateTempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit PrivateTempDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// Resumes (or recovers, after a crash) the reencryption recorded in `cd` and runs it to the end.
// `operation` names it in messages ("encryption", "re-encryption"). `max_step_bytes` bounds each
// step (0: libcryptsetup's default, which offline may take the whole device in one step): the
// progress callback, and so an interruption, comes between steps. `active_name`: the volume's
// active mapping for an online reencryption (nullptr: offline). kKeyRejected if `passphrase` does
// not open it, kDeadlineExceeded if `progress` stopped it, kIoError or kCryptoError otherwise.
Status resume_reencryption(crypt_device* cd, const std::filesystem::path& device,
                           std::span<const std::uint8_t> passphrase,
                           const ProgressCallback& progress, std::string_view operation,
                           std::uint64_t max_step_bytes = 0, const char* active_name = nullptr);

}  // namespace ccfde::agent::luks

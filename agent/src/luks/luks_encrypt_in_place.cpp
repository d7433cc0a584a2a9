// SPDX-License-Identifier: Apache-2.0
// LuksVolume::encrypt_in_place: LUKS2 encryption of a device that holds data, in place
// (libcryptsetup's offline reencryption with a datashift, resumable after a crash or interruption).
#include <fcntl.h>
#include <libcryptsetup.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/common/unique_fd.h"
#include "luks_volume_internal.h"

namespace ccfde::agent {
namespace luks {
namespace {

// First phase of encrypt_in_place: writes a LUKS2 header describing the reencryption (with the
// first data segment moved to the reserved end of the device) into a private temporary file,
// then restores it onto the head of `device`. Up to the restore, the device's data is unchanged
// except in the reserved tail.
Status initialize_encryption(const std::filesystem::path& device,
                             std::span<const std::uint8_t> passphrase, KeyslotKdf kdf,
                             const EncryptOptions& options) {
  const std::string name = device.string();
  std::error_code ec;
  std::filesystem::path temp_root = std::filesystem::temp_directory_path(ec);
  if (ec) temp_root = "/tmp";
  CCFDE_ASSIGN_OR_RETURN(auto temp_dir, PrivateTempDir::create(temp_root));
  const std::filesystem::path header_file = temp_dir.path() / "header";
  {
    UniqueFd fd(::open(header_file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) {
      return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", header_file.string());
    }
    // libcryptsetup wants an existing header device; it grows the file as it writes.
    if (const int err = ::posix_fallocate(fd.get(), 0, 4096); err != 0) {
      return make_errno_error(ErrorCode::kIoError, err, "cannot allocate {}", header_file.string());
    }
  }

  const std::uint64_t header_bytes = options.reduce_device_size_bytes / 2;
  {
    crypt_device* raw = nullptr;
    int r = crypt_init_data_device(&raw, header_file.c_str(), device.c_str());
    CryptDevicePtr cd(raw);
    if (r < 0) return lib_error(ErrorCode::kIoError, r, fmt::format("{}: cannot open", name));
    crypt_set_log_callback(cd.get(), collect_log, nullptr);

    r = crypt_set_data_offset(cd.get(), header_bytes / kSectorSize);
    if (r < 0) {
      return lib_error(ErrorCode::kInvalidArgument, r,
                       fmt::format("{}: cannot set the data offset", name));
    }
    const std::optional<crypt_pbkdf_type> pbkdf = pbkdf_of(kdf);
    crypt_params_luks2 luks2{};
    luks2.pbkdf = pbkdf ? &*pbkdf : nullptr;
    // 512-byte sectors: the file system inside may use 1 KiB blocks.
    luks2.sector_size = kSectorSize;
    r = crypt_format(cd.get(), CRYPT_LUKS2, options.cipher.c_str(), options.cipher_mode.c_str(),
                     nullptr, nullptr, options.volume_key_bytes, &luks2);
    if (r < 0) {
      return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kIoError, r,
                       fmt::format("{}: cannot create the LUKS2 header", name));
    }
    CCFDE_RETURN_IF_ERROR(apply_kdf(cd.get(), kdf, device));
    const int keyslot = crypt_keyslot_add_by_volume_key(cd.get(), CRYPT_ANY_SLOT, nullptr, 0,
                                                        as_chars(passphrase), passphrase.size());
    if (keyslot < 0) {
      return lib_error(ErrorCode::kCryptoError, keyslot,
                       fmt::format("{}: cannot add the keyslot", name));
    }

    const crypt_params_luks2 final_luks2{.pbkdf = nullptr,
                                         .integrity = nullptr,
                                         .integrity_params = nullptr,
                                         .data_alignment = 0,
                                         .data_device = nullptr,
                                         .sector_size = static_cast<std::uint32_t>(kSectorSize),
                                         .label = nullptr,
                                         .subsystem = nullptr};
    crypt_params_reencrypt params{};
    params.mode = CRYPT_REENCRYPT_ENCRYPT;
    params.direction = CRYPT_REENCRYPT_BACKWARD;
    params.resilience = "datashift";
    params.hash = "sha256";
    params.data_shift = header_bytes / kSectorSize;
    params.luks2 = &final_luks2;
    params.flags = CRYPT_REENCRYPT_INITIALIZE_ONLY | CRYPT_REENCRYPT_MOVE_FIRST_SEGMENT;
    r = crypt_reencrypt_init_by_passphrase(
        cd.get(), nullptr, as_chars(passphrase), passphrase.size(), CRYPT_ANY_SLOT, keyslot,
        crypt_get_cipher(cd.get()), crypt_get_cipher_mode(cd.get()), &params);
    if (r < 0) {
      return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kCryptoError, r,
                       fmt::format("{}: cannot initialize the encryption", name));
    }
  }

  CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device));
  const int r = crypt_header_restore(cd.get(), CRYPT_LUKS2, header_file.c_str());
  if (r < 0) {
    return lib_error(ErrorCode::kIoError, r,
                     fmt::format("{}: cannot write the LUKS2 header onto the device", name));
  }
  return Status();
}

}  // namespace
}  // namespace luks

using namespace luks;

Result<LuksVolume> LuksVolume::encrypt_in_place(const std::filesystem::path& device,
                                                std::span<const std::uint8_t> passphrase,
                                                KeyslotKdf kdf, const EncryptOptions& options,
                                                const ProgressCallback& progress) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device.string();
  CCFDE_RETURN_IF_ERROR(probe_path(device, O_RDWR));

  bool resume = false;
  {
    CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device));
    if (crypt_load(cd.get(), CRYPT_LUKS, nullptr) == 0) {
      if (std::string_view(crypt_get_type(cd.get())) != CRYPT_LUKS2) {
        return make_error(ErrorCode::kInvalidArgument, "{}: already holds a LUKS1 header", name);
      }
      LuksVolume volume(device, cd.release());
      if (!volume.reencryption_in_progress()) {
        // A finished run (crash after the last write): done if the passphrase opens it.
        if (volume.verify_passphrase(passphrase).ok()) return volume;
        return make_error(ErrorCode::kInvalidArgument,
                          "{}: already a LUKS2 volume that this passphrase does not open", name);
      }
      resume = true;
    }
  }
  clear_log();

  if (!resume) {
    const std::uint64_t reduce = options.reduce_device_size_bytes;
    if (reduce < (std::uint64_t{2} << 20) || reduce % 4096 != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: reduce_device_size {} must be a multiple of 4096 and at least 2 MiB",
                        name, reduce);
    }
    CCFDE_ASSIGN_OR_RETURN(const std::uint64_t size, device_size_bytes(device));
    if (size < reduce + (std::uint64_t{1} << 20)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: device of {} bytes is too small to give up {} bytes for the header",
                        name, size, reduce);
    }
    CCFDE_RETURN_IF_ERROR(
        check_cipher_available(options.cipher, options.cipher_mode).with_context(name));
    CCFDE_RETURN_IF_ERROR(initialize_encryption(device, passphrase, kdf, options));
  }

  CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device));
  CCFDE_RETURN_IF_ERROR(load_luks2(cd.get(), device));
  CCFDE_RETURN_IF_ERROR(resume_reencryption(cd.get(), device, passphrase, progress, "encryption"));
  // Reload: the handle's view of the segments predates the final metadata commit.
  cd.reset();
  return open(device);
}

}  // namespace ccfde::agent

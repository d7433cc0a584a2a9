// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/luks_volume.h"

#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <utility>

#include "ccfde/agent/token.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "luks_volume_internal.h"

namespace ccfde::agent {
namespace luks {

constexpr std::uint64_t kReencryptStepBytes = std::uint64_t{16} << 20;

// libcryptsetup's log lines of the current operation. Every call that can log runs under
// libcryptsetup_lock(), so one buffer serves all handles.
std::deque<std::string>& log_lines() {
  static std::deque<std::string> lines;
  return lines;
}

// Keeps error lines (never key material: libcryptsetup does not log keys) for the Status message
// and drops everything else, so nothing reaches stderr behind the caller's back.
void collect_log(int level, const char* message, void* /*usrptr*/) {
  if (level != CRYPT_LOG_ERROR || message == nullptr) return;
  std::string line(message);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return;
  if (line.size() > 300) line.resize(300);
  auto& lines = log_lines();
  lines.push_back(std::move(line));
  while (lines.size() > 3) lines.pop_front();
}

void clear_log() {
  log_lines().clear();
}

// " (libcryptsetup: last error lines)" or "".
std::string log_suffix() {
  const auto& lines = log_lines();
  if (lines.empty()) return {};
  std::string out = " (libcryptsetup: ";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "; ";
    out += lines[i];
  }
  out += ")";
  return out;
}

// An error from a negative libcryptsetup return value `r`: `code` chosen by the caller, the
// message naming what failed and the library's own explanation.
Status lib_error(ErrorCode code, int r, std::string_view what) {
  return Status(code, fmt::format("{}{}", what, log_suffix()), r < 0 ? -r : 0);
}

// The default mapping for calls without a more specific one.
ErrorCode code_for_errno(int r) {
  switch (-r) {
    case ENOENT:
    case ENODEV:
    case ENXIO: return ErrorCode::kNotFound;
    case EINVAL: return ErrorCode::kInvalidArgument;
    case EPERM: return ErrorCode::kKeyRejected;
    case ENOTSUP: return ErrorCode::kUnsupported;
    case ENOMEM: return ErrorCode::kInternal;
    default: return ErrorCode::kIoError;
  }
}

const char* as_chars(std::span<const std::uint8_t> bytes) {
  static const char kEmpty[1] = {0};
  return bytes.empty() ? kEmpty : reinterpret_cast<const char*>(bytes.data());
}

Status check_keyslot_range(int keyslot, bool allow_any) {
  if ((allow_any && keyslot == kAnyKeyslot) || (keyslot >= 0 && keyslot < kLuks2MaxKeyslots)) {
    return Status();
  }
  return make_error(ErrorCode::kInvalidArgument, "keyslot {} is out of range 0-{}", keyslot,
                    kLuks2MaxKeyslots - 1);
}

// Opens `path` read-only to tell a missing path or a permission problem apart before
// libcryptsetup turns both into a terse message.
Status probe_path(const std::filesystem::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return make_errno_error(ErrorCode::kNotFound, err, "{}: no such device or file",
                              path.string());
    }
    return make_errno_error(ErrorCode::kIoError, err, "{}: cannot open", path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot stat", path.string());
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return make_error(ErrorCode::kIoError, "{}: neither a block device nor a regular file",
                      path.string());
  }
  return Status();
}

// Asks the kernel crypto API (AF_ALG, which LUKS2 keyslots need anyway) whether the data cipher
// exists, because libcryptsetup falls back to a device-mapper probe that fails with an unrelated
// error where device-mapper is missing. Specifications this cannot translate ("capi:...") and
// kernels without AF_ALG are left to libcryptsetup.
Status check_cipher_available(const std::string& cipher, const std::string& mode) {
  const auto valid_name = [](const std::string& text) {
    return !text.empty() && text.size() < 64 && std::all_of(text.begin(), text.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':';
    });
  };
  if (!valid_name(cipher) || !valid_name(mode)) {
    return make_error(ErrorCode::kInvalidArgument, "invalid cipher specification {}-{}",
                      valid_name(cipher) ? cipher : "?", valid_name(mode) ? mode : "?");
  }
  if (cipher.find(':') != std::string::npos) return Status();
  const std::string chain = mode.substr(0, mode.find('-'));
  sockaddr_alg address{};
  address.salg_family = AF_ALG;
  static constexpr char kAlgType[] = "skcipher";
  static_assert(sizeof(kAlgType) <= sizeof(address.salg_type));
  std::memcpy(address.salg_type, kAlgType, sizeof(kAlgType));
  const std::string kernel_name = fmt::format("{}({})", chain, cipher);
  if (kernel_name.size() >= sizeof(address.salg_name)) {
    return make_error(ErrorCode::kInvalidArgument, "invalid cipher specification {}-{}", cipher,
                      mode);
  }
  std::memcpy(address.salg_name, kernel_name.c_str(), kernel_name.size() + 1);
  UniqueFd fd(::socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return Status();
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
      errno == ENOENT) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cipher {}-{} is not available (kernel crypto API has no {})", cipher, mode,
                      kernel_name);
  }
  return Status();
}

Result<std::uint64_t> device_size_bytes(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot open", path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot stat", path.string());
  }
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    std::uint64_t size = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
      return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot read the device size",
                              path.string());
    }
    return size;
  }
  return make_error(ErrorCode::kInvalidArgument, "{}: neither a block device nor a regular file",
                    path.string());
}

// Reads the first bytes of `path` to tell "no LUKS header" from "a LUKS header libcryptsetup
// refuses". Returns the LUKS version in the primary header (1, 2, ...) or 0 without LUKS magic.
int luks_magic_version(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  std::array<unsigned char, 8> head{};
  if (::pread(fd.get(), head.data(), head.size(), 0) != static_cast<ssize_t>(head.size())) {
    return 0;
  }
  static constexpr unsigned char kMagic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  if (std::memcmp(head.data(), kMagic, sizeof(kMagic)) != 0) return 0;
  return head[6] << 8 | head[7];
}

// crypt_init plus our log routing; the handle's log callback is set before any call that logs.
Result<CryptDevicePtr> init_handle(const std::filesystem::path& device) {
  crypt_device* raw = nullptr;
  const int r = crypt_init(&raw, device.c_str());
  CryptDevicePtr cd(raw);
  if (r < 0) {
    return lib_error(
        code_for_errno(r) == ErrorCode::kNotFound ? ErrorCode::kNotFound : ErrorCode::kIoError, r,
        fmt::format("{}: cannot open", device.string()));
  }
  crypt_set_log_callback(cd.get(), collect_log, nullptr);
  return cd;
}

// crypt_init_by_name plus our log routing: a handle on the active mapping `name`.
Result<CryptDevicePtr> init_handle_by_name(const std::string& name, ErrorCode code,
                                           std::string_view what) {
  crypt_device* raw = nullptr;
  const int r = crypt_init_by_name(&raw, name.c_str());
  CryptDevicePtr cd(raw);
  if (r < 0) {
    return lib_error(r == -ENODEV ? ErrorCode::kNotFound : code, r,
                     fmt::format("{}: {}", name, what));
  }
  crypt_set_log_callback(cd.get(), collect_log, nullptr);
  return cd;
}

// Loads a LUKS2 header into `cd`, mapping failures to the documented codes.
Status load_luks2(crypt_device* cd, const std::filesystem::path& device) {
  const int r = crypt_load(cd, CRYPT_LUKS2, nullptr);
  if (r == 0) return Status();
  const std::string name = device.string();
  switch (-r) {
    case ENOTSUP:
      return lib_error(ErrorCode::kUnsupported, r,
                       fmt::format("{}: the LUKS2 header requires a feature this libcryptsetup "
                                   "lacks",
                                   name));
    case EBUSY: return lib_error(ErrorCode::kIoError, r, fmt::format("{}: header is locked", name));
    case EIO:
    case EACCES:
    case EROFS:
      return lib_error(ErrorCode::kIoError, r, fmt::format("{}: cannot read the header", name));
    default: break;
  }
  const int version = luks_magic_version(device);
  if (version == 1) {
    return Status(ErrorCode::kNotLuks2, fmt::format("{} is LUKS1; cc-fde needs LUKS2", name));
  }
  if (version == 2) {
    return lib_error(ErrorCode::kMalformed, r,
                     fmt::format("{}: libcryptsetup refuses the LUKS2 header", name));
  }
  if (version != 0) {
    return make_error(ErrorCode::kNotLuks2, "{}: LUKS version {} header; cc-fde needs LUKS2", name,
                      version);
  }
  return make_error(ErrorCode::kNotLuks2, "{}: no LUKS2 header", name);
}

crypt_pbkdf_type minimal_pbkdf2() {
  crypt_pbkdf_type pbkdf{};
  pbkdf.type = CRYPT_KDF_PBKDF2;
  pbkdf.hash = "sha512";
  pbkdf.time_ms = 0;
  pbkdf.iterations = 1000;
  pbkdf.max_memory_kb = 0;
  pbkdf.parallel_threads = 0;
  pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
  return pbkdf;
}

crypt_pbkdf_type strong_argon2id() {
  crypt_pbkdf_type pbkdf{};
  pbkdf.type = CRYPT_KDF_ARGON2ID;
  pbkdf.hash = "sha256";
  pbkdf.time_ms = 2000;
  pbkdf.max_memory_kb = 1024 * 1024;
  pbkdf.parallel_threads = 4;
  return pbkdf;
}

std::optional<crypt_pbkdf_type> pbkdf_of(KeyslotKdf kdf) {
  switch (kdf) {
    case KeyslotKdf::kMinimalPbkdf2: return minimal_pbkdf2();
    case KeyslotKdf::kArgon2id: return strong_argon2id();
    case KeyslotKdf::kLibraryDefault: break;
  }
  return std::nullopt;
}

Status apply_kdf(crypt_device* cd, KeyslotKdf kdf, const std::filesystem::path& device) {
  const std::optional<crypt_pbkdf_type> pbkdf = pbkdf_of(kdf);
  const int r = crypt_set_pbkdf_type(cd, pbkdf ? &*pbkdf : nullptr);
  if (r < 0) {
    return lib_error(ErrorCode::kCryptoError, r,
                     fmt::format("{}: cannot set the keyslot KDF", device.string()));
  }
  return Status();
}

bool keyslot_in_use(crypt_device* cd, int keyslot) {
  const crypt_keyslot_info info = crypt_keyslot_status(cd, keyslot);
  return info == CRYPT_SLOT_ACTIVE || info == CRYPT_SLOT_ACTIVE_LAST || info == CRYPT_SLOT_UNBOUND;
}

// `keyslot` is kAnyKeyslot or an active keyslot of `cd` (the device called `name`).
// The size of the header's volume key in bytes. Errors: kIoError when the header declares none.
Result<std::size_t> volume_key_size(crypt_device* cd, const std::string& name) {
  const int size = crypt_get_volume_key_size(cd);
  if (size <= 0) {
    return make_error(ErrorCode::kIoError, "{}: the header declares no volume key size", name);
  }
  return static_cast<std::size_t>(size);
}

// OK for kAnyKeyslot or a keyslot number in range that holds no key. Errors: kInvalidArgument.
Status check_keyslot_free(crypt_device* cd, const std::string& name, int keyslot) {
  CCFDE_RETURN_IF_ERROR(check_keyslot_range(keyslot, true));
  if (keyslot != kAnyKeyslot && keyslot_in_use(cd, keyslot)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: keyslot {} is already in use", name,
                      keyslot);
  }
  return Status();
}

Status check_active_keyslot(crypt_device* cd, const std::string& name, int keyslot) {
  CCFDE_RETURN_IF_ERROR(check_keyslot_range(keyslot, true));
  if (keyslot != kAnyKeyslot && !keyslot_in_use(cd, keyslot)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: keyslot {} is not active", name, keyslot);
  }
  return Status();
}

struct ProgressContext {
  const ProgressCallback* callback = nullptr;
  bool interrupted = false;
};

int progress_trampoline(std::uint64_t size, std::uint64_t offset, void* usrptr) {
  auto* context = static_cast<ProgressContext*>(usrptr);
  if (context->callback == nullptr || !*context->callback) return 0;
  bool keep_going = true;
  try {
    keep_going = (*context->callback)(offset, size);
  } catch (...) {
    keep_going = false;
  }
  if (!keep_going) context->interrupted = true;
  return keep_going ? 0 : 1;
}

// Resumes (or recovers, after a crash) the reencryption recorded in `cd` and runs it to the end.
// `operation` names it in messages ("encryption", "re-encryption"). `max_step_bytes` bounds each
// step (0: libcryptsetup's default, which offline may take the whole device in one step): the
// progress callback, and so an interruption, comes between steps. `active_name`: the volume's
// active mapping for an online reencryption (nullptr: offline).
Status resume_reencryption(crypt_device* cd, const std::filesystem::path& device,
                           std::span<const std::uint8_t> passphrase,
                           const ProgressCallback& progress, std::string_view operation,
                           std::uint64_t max_step_bytes, const char* active_name) {
  const std::string name = device.string();
  crypt_params_reencrypt recorded{};
  const crypt_reencrypt_info info = crypt_reencrypt_status(cd, &recorded);
  if (info == CRYPT_REENCRYPT_INVALID) {
    return lib_error(ErrorCode::kMalformed, -EINVAL,
                     fmt::format("{}: the reencryption state in the header is invalid", name));
  }
  if (info == CRYPT_REENCRYPT_CRASH) {
    // An interrupted hotzone write: libcryptsetup repairs it from the resilience data.
    crypt_params_reencrypt recovery{};
    recovery.flags = CRYPT_REENCRYPT_RECOVERY;
    const int r = crypt_reencrypt_init_by_passphrase(cd, nullptr, as_chars(passphrase),
                                                     passphrase.size(), CRYPT_ANY_SLOT,
                                                     CRYPT_ANY_SLOT, nullptr, nullptr, &recovery);
    if (r < 0) {
      return lib_error(r == -EPERM ? ErrorCode::kKeyRejected : ErrorCode::kCryptoError, r,
                       fmt::format("{}: reencryption crash recovery failed", name));
    }
  }
  crypt_params_reencrypt params{};
  params.flags = CRYPT_REENCRYPT_RESUME_ONLY;
  params.max_hotzone_size = max_step_bytes / kSectorSize;
  int r =
      crypt_reencrypt_init_by_passphrase(cd, active_name, as_chars(passphrase), passphrase.size(),
                                         CRYPT_ANY_SLOT, CRYPT_ANY_SLOT, nullptr, nullptr, &params);
  if (r < 0) {
    if (r == -EPERM || r == -ENOENT) {
      return lib_error(
          ErrorCode::kKeyRejected, r,
          fmt::format("{}: the passphrase does not open the interrupted {}", name, operation));
    }
    return lib_error(
        code_for_errno(r) == ErrorCode::kIoError ? ErrorCode::kIoError : ErrorCode::kCryptoError, r,
        fmt::format("{}: cannot resume the {}", name, operation));
  }
  ProgressContext context{&progress, false};
  r = crypt_reencrypt_run(cd, progress_trampoline, &context);
  // libcryptsetup asks after each step whether to go on, but only commits the step's progress
  // afterwards: a stop after the last step still finishes. The header on disk says which.
  if (context.interrupted && r >= 0) {
    auto reloaded = init_handle(device);
    if (reloaded.ok() && crypt_load(reloaded->get(), CRYPT_LUKS2, nullptr) == 0 &&
        crypt_reencrypt_status(reloaded->get(), nullptr) == CRYPT_REENCRYPT_NONE) {
      return Status();
    }
  }
  if (context.interrupted) {
    return make_error(ErrorCode::kDeadlineExceeded,
                      "{}: {} interrupted by the caller (run again to resume)", name, operation);
  }
  if (r < 0) {
    return lib_error(-r == EIO ? ErrorCode::kIoError : ErrorCode::kCryptoError, r,
                     fmt::format("{}: {} failed (run again to resume)", name, operation));
  }
  return Status();
}

// The names of the active device-mapper mappings of LUKS2 volume `uuid` (dm UUID
// "CRYPT-LUKS2-<uuid without dashes>-<name>", as libcryptsetup activates them).
std::vector<std::string> active_mappings_of(const std::string& uuid) {
  std::string hex = uuid;
  hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
  const std::string dm_prefix = "CRYPT-LUKS2-" + hex + "-";
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    const auto dm_uuid = read_text_attribute(entry.path() / "dm" / "uuid");
    if (!dm_uuid.ok() || dm_uuid->rfind(dm_prefix, 0) != 0) continue;
    const auto name = read_text_attribute(entry.path() / "dm" / "name");
    names.push_back(name.ok() ? *name : entry.path().filename().string());
  }
  return names;
}

// Whether the kernel refuses to open block device `device` exclusively (held or mounted).
bool block_device_busy(const std::filesystem::path& device) {
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return false;
  UniqueFd fd(::open(device.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
  return !fd && errno == EBUSY;
}

// Initialises dm-integrity's tags after crypt_format (cryptsetup's luksFormat does the same): a
// private temporary mapping of the new volume, zeroed through dm-crypt, then removed. Every
// sector is written once, so the whole data area gets valid tags.
Status wipe_integrity_tags(crypt_device* cd, const std::string& name) {
  const char* uuid = crypt_get_uuid(cd);
  const std::string temporary = fmt::format("temporary-cc-fde-{}", uuid != nullptr ? uuid : "");
  int r = crypt_activate_by_volume_key(cd, temporary.c_str(), nullptr, 0,
                                       CRYPT_ACTIVATE_PRIVATE | CRYPT_ACTIVATE_NO_JOURNAL);
  if (r < 0) {
    return lib_error(ErrorCode::kActivationFailed, r,
                     fmt::format("{}: cannot activate the temporary mapping that initialises the "
                                 "integrity tags; the header is written but the volume is not "
                                 "usable: format it again",
                                 name));
  }
  const std::string path = fmt::format("{}/{}", crypt_get_dir(), temporary);
  r = crypt_wipe(cd, path.c_str(), CRYPT_WIPE_ZERO, 0, 0, std::size_t{1} << 20, 0, nullptr,
                 nullptr);
  const int closed = crypt_deactivate(cd, temporary.c_str());
  if (r < 0) {
    return lib_error(ErrorCode::kIoError, r,
                     fmt::format("{}: initialising the integrity tags failed; the volume is not "
                                 "usable: format it again",
                                 name));
  }
  if (closed < 0) {
    return lib_error(ErrorCode::kActivationFailed, closed,
                     fmt::format("{}: cannot remove the temporary mapping {}", name, temporary));
  }
  return Status();
}

}  // namespace luks

using namespace luks;

Result<IntegrityLayout> parse_integrity_layout(std::string_view name) {
  if (name == "none") return IntegrityLayout::kNone;
  if (name == "hmac-sha256") return IntegrityLayout::kHmacSha256;
  if (name == "aes-gcm-random") return IntegrityLayout::kAesGcmRandom;
  return make_error(ErrorCode::kInvalidArgument,
                    "integrity \"{}\" is not one of none, hmac-sha256 (aes-xts-plain64 with "
                    "hmac(sha256) tags), aes-gcm-random (AES-256-GCM, integrity aead)",
                    escape_nonprintable(name));
}

FormatOptions integrity_format_options(IntegrityLayout layout) {
  FormatOptions options;
  switch (layout) {
    case IntegrityLayout::kNone: break;
    case IntegrityLayout::kHmacSha256:
      options.integrity = "hmac(sha256)";
      options.volume_key_bytes = 64 + 32;
      options.sector_size = 4096;
      break;
    case IntegrityLayout::kAesGcmRandom:
      options.cipher_mode = "gcm-random";
      options.integrity = "aead";
      options.volume_key_bytes = 32;
      options.sector_size = 4096;
      break;
  }
  return options;
}

Status device_mapper_available() {
  UniqueFd fd(::open("/dev/mapper/control", O_RDWR | O_CLOEXEC));
  if (!fd) {
    return make_errno_error(ErrorCode::kUnsupported, errno,
                            "this kernel has no device-mapper (/dev/mapper/control)");
  }
  dm_ioctl request{};
  request.version[0] = DM_VERSION_MAJOR;
  request.data_size = sizeof(request);
  if (::ioctl(fd.get(), DM_VERSION, &request) != 0) {
    return make_errno_error(ErrorCode::kUnsupported, errno,
                            "this kernel has no device-mapper (DM_VERSION on /dev/mapper/control "
                            "failed)");
  }
  return Status();
}

Status check_integrity_format_possible(const std::filesystem::path& device,
                                       std::string_view integrity) {
  if (integrity.empty() || integrity == "none") return Status();
  Status dm = device_mapper_available();
  if (dm.ok()) return dm;
  return Status(ErrorCode::kUnsupported,
                fmt::format("{}: formatting with integrity {} needs device-mapper (dm-integrity, "
                            "dm-crypt) to initialise the integrity tags, and {}; run it inside "
                            "the VM that will use the volume (nothing was changed)",
                            device.string(), integrity, dm.message()),
                dm.sys_errno());
}

Status compare_mapping(const std::string& name, const MappingView& expected,
                       const MappingView& actual) {
  if (expected.device == 0 || actual.device != expected.device) {
    return make_error(ErrorCode::kActivationFailed,
                      "{}: the mapping reads from {}, not from the verified device {}", name,
                      escape_nonprintable(actual.device_path),
                      escape_nonprintable(expected.device_path));
  }
  if (actual.offset_sectors != expected.offset_sectors) {
    return make_error(ErrorCode::kActivationFailed,
                      "{}: the mapping starts at sector {}, the verified header's data segment at "
                      "sector {}",
                      name, actual.offset_sectors, expected.offset_sectors);
  }
  if (expected.luks_uuid.empty() || actual.luks_uuid != expected.luks_uuid) {
    const auto shown = [](const std::string& uuid) {
      return uuid.empty() ? std::string("(none)") : escape_nonprintable(uuid);
    };
    return make_error(ErrorCode::kActivationFailed,
                      "{}: the mapping belongs to LUKS UUID {}, the verified header is {}", name,
                      shown(actual.luks_uuid), shown(expected.luks_uuid));
  }
  return Status();
}

std::unique_lock<std::recursive_mutex> libcryptsetup_lock() {
  static std::recursive_mutex mutex;
  return std::unique_lock<std::recursive_mutex>(mutex);
}

LuksVolume::LuksVolume(std::filesystem::path device, crypt_device* cd) noexcept
    : device_(std::move(device)), cd_(cd) {}

LuksVolume::LuksVolume(LuksVolume&& other) noexcept
    : device_(std::move(other.device_)), cd_(std::exchange(other.cd_, nullptr)) {}

LuksVolume& LuksVolume::operator=(LuksVolume&& other) noexcept {
  if (this != &other) {
    if (cd_ != nullptr) {
      const auto lock = libcryptsetup_lock();
      crypt_free(cd_);
    }
    device_ = std::move(other.device_);
    cd_ = std::exchange(other.cd_, nullptr);
  }
  return *this;
}

LuksVolume::~LuksVolume() {
  if (cd_ != nullptr) {
    const auto lock = libcryptsetup_lock();
    crypt_free(cd_);
  }
}

Result<LuksVolume> LuksVolume::open(const std::filesystem::path& device) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  CCFDE_RETURN_IF_ERROR(probe_path(device, O_RDONLY));
  CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device));
  CCFDE_RETURN_IF_ERROR(load_luks2(cd.get(), device));
  return LuksVolume(device, cd.release());
}

Result<LuksVolume> LuksVolume::format(const std::filesystem::path& device,
                                      std::span<const std::uint8_t> passphrase, KeyslotKdf kdf,
                                      const FormatOptions& options) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device.string();
  CCFDE_RETURN_IF_ERROR(probe_path(device, O_RDWR));
  const bool integrity = !options.integrity.empty() && options.integrity != "none";
  // An AEAD mode (gcm-random) is no skcipher: libcryptsetup checks it through the kernel itself.
  if (!integrity || options.integrity != "aead") {
    CCFDE_RETURN_IF_ERROR(
        check_cipher_available(options.cipher, options.cipher_mode).with_context(name));
  }
  // crypt_format wipes the header area and formats dm-integrity through a temporary mapping, and
  // the tags need the wipe below: without device-mapper, stop before writing anything.
  if (integrity) CCFDE_RETURN_IF_ERROR(check_integrity_format_possible(device, options.integrity));
  CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device));

  const std::optional<crypt_pbkdf_type> pbkdf = pbkdf_of(kdf);
  crypt_params_luks2 params{};
  params.pbkdf = pbkdf ? &*pbkdf : nullptr;
  params.integrity = integrity ? options.integrity.c_str() : nullptr;
  params.sector_size = options.sector_size;
  params.label = options.label ? options.label->c_str() : nullptr;
  params.subsystem = options.subsystem ? options.subsystem->c_str() : nullptr;
  int r = crypt_format(cd.get(), CRYPT_LUKS2, options.cipher.c_str(), options.cipher_mode.c_str(),
                       nullptr, nullptr, options.volume_key_bytes, &params);
  if (r < 0) {
    return lib_error(
        r == -EINVAL || r == -ENOENT ? ErrorCode::kInvalidArgument : ErrorCode::kIoError, r,
        fmt::format("{}: cannot format as LUKS2", name));
  }
  CCFDE_RETURN_IF_ERROR(apply_kdf(cd.get(), kdf, device));
  r = crypt_keyslot_add_by_volume_key(cd.get(), CRYPT_ANY_SLOT, nullptr, 0, as_chars(passphrase),
                                      passphrase.size());
  if (r < 0) {
    return lib_error(ErrorCode::kCryptoError, r, fmt::format("{}: cannot add keyslot 0", name));
  }
  if (integrity) CCFDE_RETURN_IF_ERROR(wipe_integrity_tags(cd.get(), name));
  return LuksVolume(device, cd.release());
}

std::string LuksVolume::label() const {
  const auto lock = libcryptsetup_lock();
  const char* text = crypt_get_label(cd_);
  return text == nullptr ? std::string() : std::string(text);
}

std::string LuksVolume::subsystem() const {
  const auto lock = libcryptsetup_lock();
  const char* text = crypt_get_subsystem(cd_);
  return text == nullptr ? std::string() : std::string(text);
}

Status LuksVolume::set_label(const std::string& label, const std::string& subsystem) {
  // LUKS2_LABEL_L is 48 bytes with the terminating NUL.
  static constexpr std::size_t kMaxLabel = 47;
  if (label.size() > kMaxLabel || subsystem.size() > kMaxLabel) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: a LUKS2 label or subsystem has at most {} bytes", device_.string(),
                      kMaxLabel);
  }
  const auto lock = libcryptsetup_lock();
  clear_log();
  const int r = crypt_set_label(cd_, label.c_str(), subsystem.c_str());
  if (r < 0) {
    return lib_error(ErrorCode::kIoError, r,
                     fmt::format("{}: cannot write the header's label", device_.string()));
  }
  return Status::ok_status();
}

Result<int> LuksVolume::add_unbound_keyslot(std::span<const std::uint8_t> passphrase,
                                            KeyslotKdf kdf, int keyslot) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  CCFDE_RETURN_IF_ERROR(check_keyslot_free(cd_, name, keyslot));
  CCFDE_ASSIGN_OR_RETURN(const std::size_t key_size, volume_key_size(cd_, name));
  CCFDE_RETURN_IF_ERROR(apply_kdf(cd_, kdf, device_));
  // A NULL key: libcryptsetup generates a new random volume key for the keyslot.
  const int r = crypt_keyslot_add_by_key(cd_, keyslot, nullptr, key_size, as_chars(passphrase),
                                         passphrase.size(), CRYPT_VOLUME_KEY_NO_SEGMENT);
  if (r >= 0) return r;
  return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : code_for_errno(r), r,
                   fmt::format("{}: cannot add a keyslot for a new volume key", name));
}

bool LuksVolume::keyslot_unbound(int keyslot) const {
  const auto lock = libcryptsetup_lock();
  return keyslot >= 0 && keyslot < kLuks2MaxKeyslots &&
         crypt_keyslot_status(cd_, keyslot) == CRYPT_SLOT_UNBOUND;
}

std::string LuksVolume::keyslot_pbkdf(int keyslot) const {
  const auto lock = libcryptsetup_lock();
  if (keyslot < 0 || keyslot >= kLuks2MaxKeyslots || !keyslot_in_use(cd_, keyslot)) return "";
  crypt_pbkdf_type pbkdf{};
  if (crypt_keyslot_get_pbkdf(cd_, keyslot, &pbkdf) < 0 || pbkdf.type == nullptr) return "";
  return pbkdf.type;
}

Result<std::string> LuksVolume::reencryption_mapping() const {
  if (const std::string integrity_spec = integrity(); !integrity_spec.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: the data segment is integrity-protected ({}): libcryptsetup cannot "
                      "re-encrypt such a volume in place (copy its data to a newly formatted "
                      "volume instead)",
                      device_.string(), escape_nonprintable(integrity_spec));
  }
  const std::vector<std::string> mappings = active_mappings_of(uuid());
  if (mappings.size() == 1) return mappings.front();
  if (mappings.size() > 1) {
    return make_error(ErrorCode::kBusy,
                      "{}: several device-mapper mappings of this volume are active ({}): close "
                      "all but one",
                      device_.string(), fmt::join(mappings, ", "));
  }
  if (block_device_busy(device_)) {
    return make_error(ErrorCode::kBusy,
                      "{}: the block device is held or mounted, and not through a mapping of this "
                      "LUKS2 volume",
                      device_.string());
  }
  return std::string();
}

Status LuksVolume::reencrypt(std::span<const std::uint8_t> passphrase, int new_keyslot,
                             const ProgressCallback& progress) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  // Online under the volume's active mapping, or offline (integrity volumes are refused there).
  CCFDE_ASSIGN_OR_RETURN(const std::string mapping, reencryption_mapping());
  const char* active = mapping.empty() ? nullptr : mapping.c_str();
  if (!reencryption_in_progress()) {
    if (!keyslot_unbound(new_keyslot)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: keyslot {} holds no new volume key (not an unbound keyslot)", name,
                        new_keyslot);
    }
    crypt_params_luks2 luks2{};
    luks2.sector_size = static_cast<std::uint32_t>(crypt_get_sector_size(cd_));
    crypt_params_reencrypt params{};
    params.mode = CRYPT_REENCRYPT_REENCRYPT;
    params.direction = CRYPT_REENCRYPT_FORWARD;
    params.resilience = "checksum";
    params.hash = "sha256";
    params.luks2 = &luks2;
    params.flags = CRYPT_REENCRYPT_INITIALIZE_ONLY;
    const std::string cipher = crypt_get_cipher(cd_) != nullptr ? crypt_get_cipher(cd_) : "";
    const std::string mode =
        crypt_get_cipher_mode(cd_) != nullptr ? crypt_get_cipher_mode(cd_) : "";
    const int r = crypt_reencrypt_init_by_passphrase(cd_, active, as_chars(passphrase),
                                                     passphrase.size(), CRYPT_ANY_SLOT, new_keyslot,
                                                     cipher.c_str(), mode.c_str(), &params);
    if (r < 0) {
      if (r == -EPERM || r == -ENOENT) {
        return lib_error(ErrorCode::kKeyRejected, r,
                         fmt::format("{}: the key does not open keyslot {} and a keyslot of the "
                                     "current volume key",
                                     name, new_keyslot));
      }
      return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kCryptoError, r,
                       fmt::format("{}: cannot initialize the re-encryption", name));
    }
  }
  // Resume on a fresh handle, as after a crash: one code path runs every reencryption.
  CCFDE_ASSIGN_OR_RETURN(auto cd, init_handle(device_));
  CCFDE_RETURN_IF_ERROR(load_luks2(cd.get(), device_));
  CCFDE_RETURN_IF_ERROR(resume_reencryption(cd.get(), device_, passphrase, progress,
                                            "re-encryption", kReencryptStepBytes, active));
  cd.reset();
  // Reload: the handle's view of segments and keyslots predates the final metadata commit.
  CCFDE_ASSIGN_OR_RETURN(auto reloaded, init_handle(device_));
  CCFDE_RETURN_IF_ERROR(load_luks2(reloaded.get(), device_));
  crypt_free(std::exchange(cd_, reloaded.release()));
  return Status();
}

std::string LuksVolume::uuid() const {
  const auto lock = libcryptsetup_lock();
  const char* uuid = crypt_get_uuid(cd_);
  return uuid != nullptr ? std::string(uuid) : std::string();
}

std::uint64_t LuksVolume::data_offset_bytes() const {
  const auto lock = libcryptsetup_lock();
  return crypt_get_data_offset(cd_) * kSectorSize;
}

bool LuksVolume::reencryption_in_progress() const {
  const auto lock = libcryptsetup_lock();
  std::uint32_t flags = 0;
  if (crypt_persistent_flags_get(cd_, CRYPT_FLAGS_REQUIREMENTS, &flags) == 0 &&
      (flags & CRYPT_REQUIREMENT_ONLINE_REENCRYPT) != 0) {
    return true;
  }
  return crypt_reencrypt_status(cd_, nullptr) != CRYPT_REENCRYPT_NONE;
}

std::vector<int> LuksVolume::active_keyslots() const {
  const auto lock = libcryptsetup_lock();
  std::vector<int> keyslots;
  for (int keyslot = 0; keyslot < kLuks2MaxKeyslots; ++keyslot) {
    if (keyslot_in_use(cd_, keyslot)) keyslots.push_back(keyslot);
  }
  return keyslots;
}

Result<int> LuksVolume::verify_passphrase(std::span<const std::uint8_t> passphrase,
                                          int keyslot) const {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  CCFDE_RETURN_IF_ERROR(check_active_keyslot(cd_, name, keyslot));
  const int r = crypt_activate_by_passphrase(cd_, nullptr, keyslot, as_chars(passphrase),
                                             passphrase.size(), 0);
  if (r >= 0) return r;
  if (r == -EPERM || r == -ENOENT) {
    if (keyslot == kAnyKeyslot) {
      return make_error(ErrorCode::kKeyRejected, "{}: the key opens no keyslot", name);
    }
    return make_error(ErrorCode::kKeyRejected, "{}: the key does not open keyslot {}", name,
                      keyslot);
  }
  return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kIoError, r,
                   fmt::format("{}: cannot verify the key", name));
}

Result<int> LuksVolume::add_keyslot(std::span<const std::uint8_t> existing_passphrase,
                                    std::span<const std::uint8_t> new_passphrase, KeyslotKdf kdf,
                                    int keyslot) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  CCFDE_RETURN_IF_ERROR(check_keyslot_free(cd_, name, keyslot));
  if (keyslot == kAnyKeyslot &&
      active_keyslots().size() >= static_cast<std::size_t>(kLuks2MaxKeyslots)) {
    return make_error(ErrorCode::kIoError, "{}: all {} keyslots are in use", name,
                      kLuks2MaxKeyslots);
  }
  CCFDE_RETURN_IF_ERROR(apply_kdf(cd_, kdf, device_));
  const int r = crypt_keyslot_add_by_passphrase(cd_, keyslot, as_chars(existing_passphrase),
                                                existing_passphrase.size(),
                                                as_chars(new_passphrase), new_passphrase.size());
  if (r >= 0) return r;
  if (r == -EPERM || r == -ENOENT) {
    return make_error(ErrorCode::kKeyRejected, "{}: the existing key opens no keyslot", name);
  }
  return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kIoError, r,
                   fmt::format("{}: cannot add keyslot", name));
}

Status LuksVolume::destroy_keyslot(int keyslot) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  CCFDE_RETURN_IF_ERROR(check_keyslot_range(keyslot, false));
  if (!keyslot_in_use(cd_, keyslot)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: keyslot {} is not active", name, keyslot);
  }
  const int r = crypt_keyslot_destroy(cd_, keyslot);
  if (r < 0) {
    return lib_error(r == -EINVAL ? ErrorCode::kInvalidArgument : ErrorCode::kIoError, r,
                     fmt::format("{}: cannot destroy keyslot {}", name, keyslot));
  }
  return Status();
}

Result<std::vector<TokenEntry>> LuksVolume::tokens() const {
  const auto lock = libcryptsetup_lock();
  clear_log();
  std::vector<TokenEntry> entries;
  for (int id = 0; id < kLuks2MaxTokens; ++id) {
    const char* type = nullptr;
    const crypt_token_info info = crypt_token_status(cd_, id, &type);
    if (info == CRYPT_TOKEN_INVALID || info == CRYPT_TOKEN_INACTIVE) continue;
    TokenEntry entry;
    entry.id = id;
    entry.type = type != nullptr ? type : "";
    const char* json = nullptr;
    const int r = crypt_token_json_get(cd_, id, &json);
    if (r < 0 || json == nullptr) {
      return lib_error(ErrorCode::kIoError, r,
                       fmt::format("{}: cannot read token {}", device_.string(), id));
    }
    entry.json = json;
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<int> LuksVolume::set_token(int id, const std::string& json) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  if (id != kAnyToken && (id < 0 || id >= kLuks2MaxTokens)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: token id {} is out of range 0-{}", name, id,
                      kLuks2MaxTokens - 1);
  }
  if (json.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: empty token JSON", name);
  }
  const int r = crypt_token_json_set(cd_, id, json.c_str());
  if (r >= 0) return r;
  return lib_error(r == -EINVAL || r == -ENOENT ? ErrorCode::kInvalidArgument : ErrorCode::kIoError,
                   r,
                   id == kAnyToken ? fmt::format("{}: cannot add the token", name)
                                   : fmt::format("{}: cannot write token {}", name, id));
}

Status LuksVolume::remove_token(int id) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  if (id < 0 || id >= kLuks2MaxTokens) {
    return make_error(ErrorCode::kNotFound, "{}: no token {} (ids are 0-{})", name, id,
                      kLuks2MaxTokens - 1);
  }
  const crypt_token_info info = crypt_token_status(cd_, id, nullptr);
  if (info == CRYPT_TOKEN_INVALID || info == CRYPT_TOKEN_INACTIVE) {
    return make_error(ErrorCode::kNotFound, "{}: no token {}", name, id);
  }
  const int r = crypt_token_json_set(cd_, id, nullptr);
  if (r < 0) {
    return lib_error(ErrorCode::kIoError, r, fmt::format("{}: cannot remove token {}", name, id));
  }
  return Status();
}

Status LuksVolume::backup_header(const std::filesystem::path& file) const {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = file.string();
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0) {
    return make_error(ErrorCode::kInvalidArgument, "{}: already exists", name);
  }
  const std::filesystem::path directory =
      file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  // libcryptsetup creates the backup with its own mode; writing it inside a 0700 directory and
  // fixing the mode before it becomes visible keeps it private at every moment.
  CCFDE_ASSIGN_OR_RETURN(auto temp_dir, PrivateTempDir::create(directory));
  const std::filesystem::path temp_file = temp_dir.path() / "header";
  int r = crypt_header_backup(cd_, CRYPT_LUKS2, temp_file.c_str());
  if (r < 0) {
    return lib_error(ErrorCode::kIoError, r,
                     fmt::format("{}: cannot back up the header of {}", name, device_.string()));
  }
  {
    UniqueFd fd(::open(temp_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fchmod(fd.get(), 0600) != 0 || ::fsync(fd.get()) != 0) {
      return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot finish the header backup",
                              name);
    }
  }
  if (::renameat2(AT_FDCWD, temp_file.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOSYS) {
      // File systems without RENAME_NOREPLACE: link() also refuses an existing target.
      err = ::link(temp_file.c_str(), file.c_str()) == 0 ? 0 : errno;
    }
    if (err == EEXIST) return make_error(ErrorCode::kInvalidArgument, "{}: already exists", name);
    if (err != 0) {
      return make_errno_error(ErrorCode::kIoError, err, "{}: cannot create the header backup",
                              name);
    }
  }
  return Status();
}

std::string LuksVolume::segment_cipher() const {
  const auto lock = libcryptsetup_lock();
  const char* cipher = crypt_get_cipher(cd_);
  const char* mode = crypt_get_cipher_mode(cd_);
  if (cipher == nullptr || mode == nullptr) return {};
  return std::string(cipher) + "-" + mode;
}

std::string LuksVolume::integrity() const {
  const auto lock = libcryptsetup_lock();
  crypt_params_integrity info{};
  if (crypt_get_integrity_info(cd_, &info) < 0 || info.integrity == nullptr) return {};
  const std::string integrity(info.integrity);
  return integrity == "none" ? std::string() : integrity;
}

unsigned LuksVolume::sector_size() const {
  const auto lock = libcryptsetup_lock();
  const int size = crypt_get_sector_size(cd_);
  return size > 0 ? static_cast<unsigned>(size) : 0;
}

Status LuksVolume::check_active_mapping(const std::string& name) const {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string device = device_.string();
  CCFDE_ASSIGN_OR_RETURN(auto active, init_handle_by_name(name, ErrorCode::kActivationFailed,
                                                          "cannot read the mapping back"));
  crypt_active_device info{};
  if (const int r = crypt_get_active_device(active.get(), name.c_str(), &info); r < 0) {
    return lib_error(ErrorCode::kActivationFailed, r,
                     fmt::format("{}: cannot read the device-mapper table", name));
  }
  MappingView expected;
  expected.device_path = device;
  expected.offset_sectors = crypt_get_data_offset(cd_);
  if (struct stat st{}; ::stat(device_.c_str(), &st) == 0) expected.device = st.st_rdev;
  if (const char* uuid = crypt_get_uuid(cd_); uuid != nullptr) expected.luks_uuid = uuid;

  MappingView actual;
  const char* mapped = crypt_get_device_name(active.get());
  actual.device_path = mapped != nullptr ? mapped : "an unknown device";
  if (struct stat st{}; mapped != nullptr && ::stat(mapped, &st) == 0 && S_ISBLK(st.st_mode)) {
    actual.device = st.st_rdev;
  }
  actual.offset_sectors = info.offset;
  // With integrity, dm-crypt starts at 0 of the dm-integrity device <name>_dif, which starts at the
  // data segment of the underlying device.
  if (const std::string integrity = this->integrity(); !integrity.empty()) {
    if (info.offset != 0) {
      return make_error(ErrorCode::kActivationFailed,
                        "{}: the dm-crypt mapping starts at sector {} of its dm-integrity device, "
                        "not at 0",
                        name, info.offset);
    }
    crypt_active_device below{};
    const std::string below_name = name + "_dif";
    if (const int r = crypt_get_active_device(active.get(), below_name.c_str(), &below); r < 0) {
      return lib_error(
          ErrorCode::kActivationFailed, r,
          fmt::format("{}: cannot read the dm-integrity table of {}", name, below_name));
    }
    actual.offset_sectors = below.offset;
  }
  if (const char* uuid = crypt_get_uuid(active.get()); uuid != nullptr) actual.luks_uuid = uuid;
  return compare_mapping(name, expected, actual);
}

Status LuksVolume::deactivate(const std::string& name) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  CCFDE_ASSIGN_OR_RETURN(
      auto cd, init_handle_by_name(name, ErrorCode::kActivationFailed, "cannot deactivate"));
  if (const int r = crypt_deactivate_by_name(cd.get(), name.c_str(), CRYPT_DEACTIVATE_DEFERRED);
      r < 0) {
    return lib_error(ErrorCode::kActivationFailed, r, fmt::format("{}: cannot deactivate", name));
  }
  return Status();
}

bool LuksVolume::is_active(const std::string& name) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  if (name.empty()) return false;
  crypt_device* raw = nullptr;
  if (crypt_init(&raw, nullptr) < 0) return false;
  CryptDevicePtr cd(raw);
  crypt_set_log_callback(cd.get(), collect_log, nullptr);
  const crypt_status_info status = crypt_status(cd.get(), name.c_str());
  return status == CRYPT_ACTIVE || status == CRYPT_BUSY;
}

Result<int> LuksVolume::activate(const std::string& name, std::span<const std::uint8_t> passphrase,
                                 int keyslot, std::uint32_t extra_flags) {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string device = device_.string();
  if (name.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: empty mapping name", device);
  }
  CCFDE_RETURN_IF_ERROR(check_keyslot_range(keyslot, true));
  const int r = crypt_activate_by_passphrase(cd_, name.c_str(), keyslot, as_chars(passphrase),
                                             passphrase.size(),
                                             CRYPT_ACTIVATE_IGNORE_PERSISTENT | extra_flags);
  if (r >= 0) return r;
  if (r == -EPERM) {
    return make_error(ErrorCode::kKeyRejected, "{}: the key opens no keyslot", device);
  }
  Status failure = lib_error(ErrorCode::kActivationFailed, r,
                             fmt::format("{}: cannot activate as {}", device, name));
  // libcryptsetup may fail on device-mapper before it tries the key: tell a wrong key apart.
  if (const auto verified = verify_passphrase(passphrase, keyslot); !verified.ok()) {
    if (verified.status().code() == ErrorCode::kKeyRejected ||
        verified.status().code() == ErrorCode::kInvalidArgument) {
      return verified.status();
    }
  }
  return failure;
}

Result<SecretBytes> LuksVolume::volume_key(std::span<const std::uint8_t> passphrase,
                                           int keyslot) const {
  const auto lock = libcryptsetup_lock();
  clear_log();
  const std::string name = device_.string();
  CCFDE_RETURN_IF_ERROR(check_active_keyslot(cd_, name, keyslot));
  CCFDE_ASSIGN_OR_RETURN(const std::size_t key_size, volume_key_size(cd_, name));
  SecretBytes key(key_size);
  std::size_t size = key.size();
  const int r = crypt_volume_key_get(cd_, keyslot, reinterpret_cast<char*>(key.data()), &size,
                                     as_chars(passphrase), passphrase.size());
  if (r >= 0) {
    if (size == key.size()) return key;
    return SecretBytes::copy_of(key.span().first(std::min(size, key.size())));
  }
  if (r == -EPERM || r == -ENOENT) {
    if (keyslot == kAnyKeyslot) {
      return make_error(ErrorCode::kKeyRejected, "{}: the key opens no keyslot", name);
    }
    return make_error(ErrorCode::kKeyRejected, "{}: the key does not open keyslot {}", name,
                      keyslot);
  }
  return lib_error(code_for_errno(r), r, fmt::format("{}: cannot read the volume key", name));
}

}  // namespace ccfde::agent

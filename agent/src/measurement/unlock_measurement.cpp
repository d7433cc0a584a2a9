// SPDX-License-Identifier: Apache-2.0
// RTMR3 extension + runtime event log records: the unlock of a volume and the end of the
// initramfs unlock phase.
#include "ccfde/agent/unlock_measurement.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/rtmr.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

using EvpKdfPtr = CHandle<EVP_KDF, EVP_KDF_free>;
using EvpKdfCtxPtr = CHandle<EVP_KDF_CTX, EVP_KDF_CTX_free>;

constexpr unsigned kRtmr3 = 3;

// Several volumes may be measured concurrently by one agent; flock serialises processes.
std::mutex& measurement_mutex() {
  static std::mutex mutex;
  return mutex;
}

fs::path effective_root(const UnlockMeasurementOptions& options) {
  return options.root == "/" ? fs::path() : options.root;
}

measure::PlatformPaths platform_paths(const fs::path& root) {
  return root.empty() ? measure::PlatformPaths{} : measure::PlatformPaths::rooted_at(root);
}

fs::path rtmr3_path(const measure::PlatformPaths& paths) {
  return paths.tdx_measurements / measure::tdx_register_file_name(measure::TdxRegister::kRtmr3);
}

// HKDF-SHA256 (RFC 5869) without salt: `size` bytes of output keying material.
Result<SecretBytes> hkdf_sha256(std::span<const std::uint8_t> ikm, std::string_view info,
                                std::size_t size) {
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (!kdf) return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_fetch(HKDF)");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_CTX_new(HKDF)");
  char digest_name[] = "SHA256";
  const std::array<OSSL_PARAM, 4> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  SecretBytes out(size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "EVP_KDF_derive(HKDF-SHA256)");
  }
  return out;
}

// UTF-8 validation is nlohmann's (the serialiser refuses invalid sequences); control characters
// are checked here: C0 and DEL bytewise, C1 (U+0080..U+009F) as their two-byte encodings.
Status check_record_member(std::string_view name, const std::string& value) {
  try {
    (void)nlohmann::json(value).dump();
  } catch (const nlohmann::json::exception&) {
    return make_error(ErrorCode::kInvalidArgument, "unlock record: {} is not valid UTF-8", name);
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte < 0x20 || byte == 0x7f) {
      return make_error(ErrorCode::kInvalidArgument,
                        "unlock record: {} holds the control character 0x{:02x} at offset {}", name,
                        byte, i);
    }
    if (byte == 0xc2 && i + 1 < value.size()) {
      const auto next = static_cast<unsigned char>(value[i + 1]);
      if (next >= 0x80 && next <= 0x9f) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unlock record: {} holds the control character U+{:04X} at offset {}",
                          name, next, i);
      }
    }
  }
  return Status();
}

// Appends the AAEL record of `text` to the runtime event log under `root` and extends RTMR3 with
// its digest; on a failed extend the log is truncated back (see measure_unlock). The caller has
// checked that the RTMR3 interface exists.
Status append_and_extend(const fs::path& root, const measure::PlatformPaths& paths,
                         std::string_view text) {
  CCFDE_ASSIGN_OR_RETURN(const measure::AaelRecord record, measure::make_aael_record(text));

  const fs::path log_path = platform_paths(root).runtime_event_log;
  std::lock_guard lock(measurement_mutex());
  std::error_code fs_error;
  fs::create_directories(log_path.parent_path(), fs_error);
  if (fs_error) {
    return make_errno_error(ErrorCode::kIoError, fs_error.value(), "cannot create {}",
                            log_path.parent_path().string());
  }
  UniqueFd fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot open {}", log_path.string());
  }
  if (::flock(fd.get(), LOCK_EX) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot lock {}", log_path.string());
  }
  const off_t previous_size = ::lseek(fd.get(), 0, SEEK_END);
  if (previous_size < 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot seek in {}", log_path.string());
  }
  auto truncate_back = [&]() -> Status {
    if (::ftruncate(fd.get(), previous_size) != 0) {
      return make_errno_error(ErrorCode::kIoError, errno,
                              "cannot truncate {} back to {} bytes: the log now holds a record "
                              "RTMR3 lacks",
                              log_path.string(), previous_size);
    }
    return Status();
  };
  if (const int error = write_all(fd.get(), record.bytes); error != 0) {
    CCFDE_RETURN_IF_ERROR(truncate_back());
    return make_errno_error(ErrorCode::kIoError, error, "cannot append to {}", log_path.string());
  }
  if (::fdatasync(fd.get()) != 0 && errno != EINVAL) {
    const int error = errno;
    CCFDE_RETURN_IF_ERROR(truncate_back());
    return make_errno_error(ErrorCode::kIoError, error, "cannot sync {}", log_path.string());
  }

  const measure::TdxMeasurementRegisters registers(paths.tdx_measurements);
  if (Status extended = registers.extend_rtmr(kRtmr3, record.digest); !extended.ok()) {
    CCFDE_RETURN_IF_ERROR(truncate_back());
    return Status(ErrorCode::kIoError, extended.message(), extended.sys_errno());
  }
  return Status();
}

// Creates the phase-end marker. Returns false when it already exists.
Result<bool> claim_phase_end(const fs::path& marker) {
  const fs::path directory = marker.parent_path();
  std::error_code fs_error;
  fs::create_directories(directory, fs_error);
  if (fs_error) {
    return make_errno_error(ErrorCode::kIoError, fs_error.value(), "cannot create {}",
                            directory.string());
  }
  UniqueFd fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd) return true;
  // A symlink planted at the marker also counts as "exists": O_EXCL does not follow it, and
  // nothing else may have created it in the initramfs's own /run.
  if (errno == EEXIST) return false;
  return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", marker.string());
}

}  // namespace

Result<std::vector<std::uint8_t>> volume_binding(std::span<const std::uint8_t> volume_key,
                                                 std::string_view volume_uuid) {
  if (volume_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "volume binding: the volume key is empty");
  }
  CCFDE_ASSIGN_OR_RETURN(const SecretBytes key,
                         hkdf_sha256(volume_key, kVolumeBindingKdfInfo, kVolumeBindingSize));
  const std::string label = std::string(kVolumeBindingLabelPrefix) + std::string(volume_uuid);
  CCFDE_ASSIGN_OR_RETURN(const auto mac, hmac_sha256(key.span(), as_bytes(label)));
  return std::vector<std::uint8_t>(mac.begin(), mac.end());
}

Result<std::string> unlock_event_text(const UnlockedVolume& volume) {
  if (volume.binding.size() != kVolumeBindingSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unlock record: the binding has {} bytes, not {} (volume_binding)",
                      volume.binding.size(), kVolumeBindingSize);
  }
  const std::pair<const char*, const std::string*> members[] = {
      {"uuid", &volume.volume_uuid}, {"profile", &volume.profile}, {"resource", &volume.resource}};
  for (const auto& [name, value] : members) {
    CCFDE_RETURN_IF_ERROR(check_record_member(name, *value));
  }
  try {
    // nlohmann's object keeps keys sorted and dump() is compact: for ASCII keys and these values
    // this is the JCS (RFC 8785) serialisation.
    const nlohmann::json object = {{"binding", hex_encode(volume.binding)},
                                   {"uuid", volume.volume_uuid},
                                   {"profile", volume.profile},
                                   {"resource", volume.resource},
                                   {"token", volume.token}};
    return std::string(kUnlockEventDomain) + " " + std::string(kUnlockEventOperation) + " " +
           object.dump();
  } catch (const nlohmann::json::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, "unlock record: {}", error.what());
  }
}

Status rtmr3_extension_available(const UnlockMeasurementOptions& options) {
  const fs::path rtmr3 = rtmr3_path(platform_paths(effective_root(options)));
  std::error_code fs_error;
  if (!fs::exists(rtmr3, fs_error)) {
    return make_error(ErrorCode::kUnsupported, "{} does not exist: extending RTMR3 needs {}",
                      rtmr3.string(), kRtmr3KernelRequirement);
  }
  if (::access(rtmr3.c_str(), W_OK) != 0) {
    return make_errno_error(ErrorCode::kUnsupported, errno,
                            "{} is not writable: extending RTMR3 needs {}", rtmr3.string(),
                            kRtmr3KernelRequirement);
  }
  return Status();
}

Result<MeasureResult> measure_unlock(const UnlockedVolume& volume,
                                     const UnlockMeasurementOptions& options) {
  const fs::path root = effective_root(options);
  const auto paths = platform_paths(root);
  std::error_code fs_error;
  if (!fs::exists(rtmr3_path(paths), fs_error)) return MeasureResult::kUnsupported;
  CCFDE_ASSIGN_OR_RETURN(const std::string text, unlock_event_text(volume));
  CCFDE_RETURN_IF_ERROR(append_and_extend(root, paths, text));
  return MeasureResult::kMeasured;
}

Result<MeasureResult> measure_first_boot(std::string_view id,
                                         const UnlockMeasurementOptions& options) {
  CCFDE_ASSIGN_OR_RETURN(const std::string text, measure::first_boot_event_text(id));
  const fs::path root = effective_root(options);
  const auto paths = platform_paths(root);
  std::error_code fs_error;
  if (!fs::exists(rtmr3_path(paths), fs_error)) return MeasureResult::kUnsupported;
  CCFDE_RETURN_IF_ERROR(append_and_extend(root, paths, text));
  return MeasureResult::kMeasured;
}

fs::path phase_end_marker(const UnlockMeasurementOptions& options) {
  return options.run_dir / "cc-fde" / "phase-ended";
}

Result<MeasureResult> measure_phase_end(const UnlockMeasurementOptions& options) {
  const fs::path marker = phase_end_marker(options);
  CCFDE_ASSIGN_OR_RETURN(const bool claimed, claim_phase_end(marker));
  if (!claimed) return MeasureResult::kAlreadyRecorded;

  const fs::path root = effective_root(options);
  const auto paths = platform_paths(root);
  std::error_code fs_error;
  if (!fs::exists(rtmr3_path(paths), fs_error)) return MeasureResult::kUnsupported;
  if (Status recorded = append_and_extend(root, paths, measure::kPhaseEndEventText);
      !recorded.ok()) {
    // Nothing was extended (or the log says what was not): let a retry record the event.
    if (::unlink(marker.c_str()) != 0 && errno != ENOENT) {
      return Status(
          recorded.code(),
          fmt::format("{}; {} could not be removed ({}), so no retry can record the "
                      "phase end",
                      recorded.message(), marker.string(), std::generic_category().message(errno)),
          recorded.sys_errno());
    }
    return recorded;
  }
  return MeasureResult::kMeasured;
}

bool phase_ended(const UnlockMeasurementOptions& options) {
  struct stat st {};
  return ::lstat(phase_end_marker(options).c_str(), &st) == 0;
}

}  // namespace ccfde::agent

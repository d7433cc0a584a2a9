// RTMR3 extension + runtime event log record after an unlock.
#include "ccfde/agent/unlock_measurement.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/rtmr.h"

namespace ccfde::agent {
namespace {

namespace fs = std::filesystem;

constexpr unsigned kRtmr3 = 3;

// Several volumes may be measured concurrently by one agent; flock serialises processes.
std::mutex& measurement_mutex() {
  static std::mutex mutex;
  return mutex;
}

fs::path under_root(const fs::path& root, std::string_view absolute) {
  const fs::path path(absolute);
  return root.empty() ? path : root / path.relative_path();
}

}  // namespace

Result<std::string> unlock_event_text(const UnlockedVolume& volume) {
  const std::pair<const char*, const std::string*> members[] = {
      {"uuid", &volume.volume_uuid}, {"profile", &volume.profile}, {"resource", &volume.resource}};
  for (const auto& [name, value] : members) {
    for (std::size_t i = 0; i < value->size(); ++i) {
      const auto byte = static_cast<unsigned char>((*value)[i]);
      if (byte < 0x20 || byte == 0x7f) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unlock record: {} holds the control character 0x{:02x} at offset {}",
                          name, byte, i);
      }
    }
  }
  try {
    // nlohmann's object keeps keys sorted and dump() is compact: for ASCII keys and these values
    // this is the JCS (RFC 8785) serialisation.
    const nlohmann::json object = {{"uuid", volume.volume_uuid},
                                   {"profile", volume.profile},
                                   {"resource", volume.resource},
                                   {"token", volume.token}};
    return std::string(kUnlockEventDomain) + " " + std::string(kUnlockEventOperation) + " " +
           object.dump();
  } catch (const nlohmann::json::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, "unlock record: {}", error.what());
  }
}

Result<MeasureResult> measure_unlock(const UnlockedVolume& volume,
                                     const UnlockMeasurementOptions& options) {
  const fs::path root = options.root == "/" ? fs::path() : options.root;
  const auto paths =
      root.empty() ? measure::PlatformPaths{} : measure::PlatformPaths::rooted_at(root);
  const fs::path rtmr3 =
      paths.tdx_measurements / measure::tdx_register_file_name(measure::TdxRegister::kRtmr3);
  std::error_code fs_error;
  if (!fs::exists(rtmr3, fs_error)) return MeasureResult::kUnsupported;

  CCFDE_ASSIGN_OR_RETURN(const std::string text, unlock_event_text(volume));
  CCFDE_ASSIGN_OR_RETURN(const measure::AaelRecord record, measure::make_aael_record(text));

  const fs::path log_path = under_root(root, kRuntimeEventLogPath);
  std::lock_guard lock(measurement_mutex());
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
  return MeasureResult::kMeasured;
}

}  // namespace ccfde::agent

// SPDX-License-Identifier: Apache-2.0
// The Reporter backends: journal + sd_notify, console (stderr + kmsg), memory.
#include <fcntl.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "ccfde/agent/logging.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "internal.h"

namespace ccfde::agent {
namespace {

// The kernel cuts a /dev/kmsg record at about 1 KiB; keep whole lines below that.
constexpr std::size_t kKmsgLineMax = 960;

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

UniqueFd open_kmsg(const std::filesystem::path& path) {
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
}

// One record per write(): the kernel logs each write as one message.
void write_kmsg(const UniqueFd& fd, LogLevel level, std::string_view identifier,
                std::string_view line) {
  if (!fd) return;
  std::string record = "<" + std::to_string(syslog_priority(level)) + ">" +
                       std::string(identifier) + ": " + one_line(line);
  if (record.size() > kKmsgLineMax) record.resize(kKmsgLineMax);
  record += '\n';
  [[maybe_unused]] const ssize_t written = ::write(fd.get(), record.data(), record.size());
}

class JournalReporter final : public Reporter {
 public:
  explicit JournalReporter(ReporterOptions options) : options_(std::move(options)) {
    if (options_.timeline_to_kmsg) kmsg_ = open_kmsg(options_.kmsg);
  }

  void progress(std::string_view status) override {
    const std::string message = "STATUS=" + one_line(status);
    std::lock_guard lock(mutex_);
    sd_notify(0, message.c_str());
    if (options_.debug) send({{"MESSAGE", one_line(status)}, {"PRIORITY", "7"}});
  }

  void ready() override {
    std::lock_guard lock(mutex_);
    sd_notify(0, "READY=1");
  }

  void stage(const StageEvent& event) override {
    std::lock_guard lock(mutex_);
    send(journal_fields(event));
    write_kmsg(kmsg_, report_level(event), options_.identifier, timeline_line(event));
  }

  void volume(const VolumeEvent& event) override {
    std::lock_guard lock(mutex_);
    send(journal_fields(event));
    // The outcome (and a failure's cause) also reaches the console with the timeline.
    write_kmsg(kmsg_, report_level(event), options_.identifier, volume_line(event));
  }

  void log(LogLevel level, std::string_view message) override {
    if (level == LogLevel::kDebug && !options_.debug) return;
    std::lock_guard lock(mutex_);
    send({{"MESSAGE", one_line(message)}, {"PRIORITY", std::to_string(syslog_priority(level))}});
    if (level >= LogLevel::kWarning) write_kmsg(kmsg_, level, options_.identifier, message);
  }

  void opened_outside_broker(const OutsideBrokerEvent& event) override {
    std::lock_guard lock(mutex_);
    send(journal_fields(event));
    write_kmsg(kmsg_, LogLevel::kWarning, options_.identifier, outside_broker_line(event));
  }

 private:
  void send(const JournalFields& fields) const {
    std::vector<std::string> strings;
    strings.reserve(fields.size() + 1);
    for (const auto& [name, value] : fields) {
      std::string& field = strings.emplace_back(name);
      field += '=';
      field += value;
    }
    strings.push_back("SYSLOG_IDENTIFIER=" + options_.identifier);
    std::vector<iovec> iov;
    iov.reserve(strings.size());
    for (auto& s : strings) iov.push_back({s.data(), s.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }

  ReporterOptions options_;
  UniqueFd kmsg_;
  std::mutex mutex_;
};

class ConsoleReporter final : public Reporter {
 public:
  ConsoleReporter(ReporterOptions options, int fd) : options_(std::move(options)), fd_(fd) {
    if (::isatty(fd_) == 0) kmsg_ = open_kmsg(options_.kmsg);
  }

  void progress(std::string_view status) override { log(LogLevel::kDebug, status); }
  void ready() override {}
  void stage(const StageEvent& event) override { emit(report_level(event), timeline_line(event)); }
  void volume(const VolumeEvent& event) override { emit(report_level(event), volume_line(event)); }
  void log(LogLevel level, std::string_view message) override {
    if (level == LogLevel::kDebug && !options_.debug) return;
    emit(level, message);
  }
  void opened_outside_broker(const OutsideBrokerEvent& event) override {
    emit(LogLevel::kWarning, "WARNING: " + outside_broker_line(event));
  }

 private:
  void emit(LogLevel level, std::string_view line) {
    const std::string text = options_.identifier + ": " + one_line(line) + "\n";
    std::lock_guard lock(mutex_);
    [[maybe_unused]] const int error =
        write_all(fd_, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    write_kmsg(kmsg_, level, options_.identifier, line);
  }

  ReporterOptions options_;
  int fd_;
  UniqueFd kmsg_;
  std::mutex mutex_;
};

}  // namespace

bool running_under_systemd() {
  if (std::getenv("NOTIFY_SOCKET") != nullptr || std::getenv("JOURNAL_STREAM") != nullptr) {
    return true;
  }
  std::error_code error;
  return std::filesystem::exists("/run/systemd/journal/socket", error);
}

std::unique_ptr<Reporter> make_journal_reporter(const ReporterOptions& options) {
  return std::make_unique<JournalReporter>(options);
}

std::unique_ptr<Reporter> make_console_reporter(const ReporterOptions& options, int stderr_fd) {
  return std::make_unique<ConsoleReporter>(options, stderr_fd);
}

std::unique_ptr<Reporter> make_reporter(const ReporterOptions& options) {
  if (running_under_systemd()) return make_journal_reporter(options);
  return make_console_reporter(options, 2);
}

// ---- MemoryReporter ----

void MemoryReporter::progress(std::string_view status) {
  std::lock_guard lock(mutex_);
  statuses_.emplace_back(status);
}

void MemoryReporter::ready() {
  std::lock_guard lock(mutex_);
  ++ready_count_;
}

void MemoryReporter::stage(const StageEvent& event) {
  std::lock_guard lock(mutex_);
  stages_.push_back(event);
  lines_.push_back(timeline_line(event));
}

void MemoryReporter::volume(const VolumeEvent& event) {
  std::lock_guard lock(mutex_);
  volumes_.push_back(event);
  lines_.push_back(volume_line(event));
}

void MemoryReporter::log(LogLevel level, std::string_view message) {
  std::lock_guard lock(mutex_);
  logs_.emplace_back(level, std::string(message));
  lines_.push_back(one_line(message));
}

void MemoryReporter::opened_outside_broker(const OutsideBrokerEvent& event) {
  std::lock_guard lock(mutex_);
  outside_broker_.push_back(event);
  lines_.push_back(outside_broker_line(event));
}

std::vector<OutsideBrokerEvent> MemoryReporter::outside_broker() const {
  std::lock_guard lock(mutex_);
  return outside_broker_;
}

std::vector<std::string> MemoryReporter::statuses() const {
  std::lock_guard lock(mutex_);
  return statuses_;
}
unsigned MemoryReporter::ready_count() const {
  std::lock_guard lock(mutex_);
  return ready_count_;
}
std::vector<StageEvent> MemoryReporter::stages() const {
  std::lock_guard lock(mutex_);
  return stages_;
}
std::vector<VolumeEvent> MemoryReporter::volumes() const {
  std::lock_guard lock(mutex_);
  return volumes_;
}
std::vector<std::pair<LogLevel, std::string>> MemoryReporter::logs() const {
  std::lock_guard lock(mutex_);
  return logs_;
}
std::vector<std::string> MemoryReporter::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

}  // namespace ccfde::agent

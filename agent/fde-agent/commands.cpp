// fde-agent unlock and keyscript: configuration, discovery, the unlock run, and what the operator
// sees (stderr timeline lines, JSON summary, exit status).
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "agent_main.h"
#include "ccfde/agent/config.h"
#include "ccfde/agent/crypttab.h"
#include "ccfde/agent/prompt_handoff.h"
#include "ccfde/agent/report.h"
#include "ccfde/agent/unlock.h"
#include "ccfde/agent/unlock_measurement.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::fde_agent {
namespace {

using agent::VolumeResult;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitVolumeFailed = 1;
constexpr int kExitBadInput = 2;

int fail(agent::Reporter& reporter, const Status& status) {
  reporter.log(agent::LogLevel::kError, status.to_string());
  reporter.ready();
  return kExitBadInput;
}

struct LoadedConfig {
  agent::AgentConfig config;
  bool disabled = false;
  bool debug = false;
};

// The configuration file (the --config path, else rd.cc-fde.config=, else the default) with the
// kernel command line's overrides applied.
Result<LoadedConfig> load(const CommonOptions& common) {
  LoadedConfig loaded;
  agent::KernelCommandLine cmdline;
  if (!common.cmdline_path.empty()) {
    auto text = read_file(common.cmdline_path);
    if (!text.ok() && text.status().code() != ErrorCode::kNotFound) return text.status();
    if (text.ok()) {
      CCFDE_ASSIGN_OR_RETURN(cmdline,
                             agent::parse_kernel_command_line(std::string(as_chars(*text))));
    }
  }
  loaded.disabled = cmdline.disabled;
  loaded.debug = cmdline.debug;
  if (loaded.disabled) return loaded;
  std::filesystem::path path = common.config_path;
  if (path.empty()) path = cmdline.config_path.value_or(std::string(agent::kDefaultConfigPath));
  CCFDE_ASSIGN_OR_RETURN(loaded.config, agent::load_config(path));
  CCFDE_RETURN_IF_ERROR(agent::apply_kernel_command_line(cmdline, loaded.config));
  return loaded;
}

// A volume event describing `volume` (device, UUID, mapping, profile, resource).
agent::VolumeEvent volume_event(const agent::VolumeCandidate& volume,
                                agent::VolumeOutcome outcome) {
  agent::VolumeEvent event;
  event.outcome = outcome;
  event.device = volume.device.string();
  event.volume_uuid = volume.uuid;
  event.mapping = volume.mapping_name;
  event.profile = volume.token.profile;
  event.resource = volume.token.resource;
  return event;
}

// Turns the unlock run's events into the reporter's stage events (timeline lines, journal entries)
// and volume events, and sd_notify STATUS progress.
class ReportingObserver : public agent::UnlockObserver {
 public:
  explicit ReportingObserver(agent::Reporter& reporter) : reporter_(reporter) {}

  void progress(const std::string& text) override { reporter_.progress(text); }

  void attesting(const agent::BrokerProfile& profile, const std::string& tee) override {
    if (tee == "sample") {
      reporter_.log(agent::LogLevel::kWarning,
                    fmt::format("profile {} sends `sample` evidence (development only: no "
                                "hardware, no security)",
                                profile.name));
    }
    agent::StageEvent event;
    event.stage = agent::Stage::kAttesting;
    event.profile = profile.name;
    event.tee = tee;
    reporter_.stage(event);
  }

  void attested(const agent::BrokerProfile& profile, const std::string& tee, const Status& status,
                milliseconds elapsed) override {
    agent::StageEvent event;
    event.stage = agent::Stage::kAttested;
    event.status = status;
    event.duration = elapsed;
    event.profile = profile.name;
    event.tee = tee;
    reporter_.stage(event);
  }

  void keys_fetched(const agent::BrokerProfile& profile, const std::string& tee,
                    unsigned attestations, std::size_t fetched, std::size_t requested,
                    milliseconds elapsed, const Status& first_error) override {
    attestations_ += attestations;
    agent::StageEvent event;
    event.stage = agent::Stage::kKeyFetched;
    event.duration = elapsed;
    event.profile = profile.name;
    event.tee = tee;
    event.resources = static_cast<unsigned>(requested);
    if (fetched < requested) {
      // The stage carries the first failure's code, so the timeline line names the real cause
      // (policy denial, missing resource, deadline...).
      event.status =
          first_error.with_context(fmt::format("{} of {} keys fetched", fetched, requested));
    }
    reporter_.stage(event);
  }

  void volume_done(const agent::UnlockOutcome& outcome) override {
    const auto& volume = outcome.volume;
    if (outcome.result == VolumeResult::kUnlocked || outcome.result == VolumeResult::kVerified ||
        (outcome.result == VolumeResult::kFailed && outcome.keyslot >= 0)) {
      agent::StageEvent event;
      event.stage = agent::Stage::kActivation;
      event.status = outcome.status;
      event.duration = outcome.activation_time;
      event.profile = volume.token.profile;
      event.device = volume.device.string();
      event.mapping = volume.mapping_name;
      event.volume_uuid = volume.uuid;
      reporter_.stage(event);
    }
    agent::VolumeEvent event = volume_event(volume, agent::VolumeOutcome::kUnlocked);
    event.duration = outcome.fetch_time + outcome.activation_time;
    switch (outcome.result) {
      case VolumeResult::kUnlocked: event.outcome = agent::VolumeOutcome::kUnlocked; break;
      case VolumeResult::kVerified:
        event.outcome = agent::VolumeOutcome::kVerified;
        event.mapping.clear();
        break;
      case VolumeResult::kAlreadyActive:
        event.outcome = agent::VolumeOutcome::kSkippedActive;
        break;
      case VolumeResult::kSkipped:
      case VolumeResult::kFailed:
        event.outcome = agent::VolumeOutcome::kFailed;
        event.status = outcome.status;
        break;
    }
    reporter_.volume(event);
  }

  unsigned attestations() const { return attestations_; }

 private:
  agent::Reporter& reporter_;
  unsigned attestations_ = 0;
};

// Records an unlocked volume in RTMR3 and the runtime event log when the configuration asks for
// it. A measurement failure does not undo the unlock: it is reported, and the next attestation
// shows the state (an unextended RTMR3 simply lacks the record).
void measure(agent::Reporter& reporter, const agent::AgentConfig& config,
             const agent::VolumeCandidate& volume) {
  if (!config.unlock.measure_unlock) return;
  agent::UnlockMeasurementOptions options;
  options.root = config.evidence.platform_root;
  auto measured = agent::measure_unlock(
      {volume.uuid, volume.token.profile, volume.token.resource, volume.token_id}, options);
  if (!measured.ok()) {
    reporter.log(agent::LogLevel::kWarning,
                 fmt::format("could not record the unlock of {} in RTMR3: {}", volume.uuid,
                             measured.status().to_string()));
  } else if (*measured == agent::MeasureResult::kMeasured) {
    reporter.log(agent::LogLevel::kInfo,
                 fmt::format("RTMR3 extended and runtime event log appended for {}", volume.uuid));
  } else {
    reporter.log(agent::LogLevel::kDebug,
                 fmt::format("RTMR3 cannot be extended on this platform; unlock of {} not "
                             "measured",
                             volume.uuid));
  }
}

nlohmann::json outcome_json(const agent::UnlockOutcome& outcome) {
  const auto& volume = outcome.volume;
  nlohmann::json out = {
      {"device", volume.device.string()},
      {"uuid", volume.uuid},
      {"mapping", volume.mapping_name},
      {"token", volume.token_id},
      {"profile", escape_nonprintable(volume.token.profile)},
      {"resource", escape_nonprintable(volume.token.resource)},
      {"result", agent::volume_result_name(outcome.result)},
      {"keyslot", outcome.keyslot},
      {"fetch_ms", outcome.fetch_time.count()},
      {"activation_ms", outcome.activation_time.count()},
  };
  if (!outcome.status.ok()) {
    out["error_code"] = error_code_name(outcome.status.code());
    out["error"] = escape_nonprintable(outcome.status.message());
  }
  return out;
}

}  // namespace

int run_unlock(const CommonOptions& common, const UnlockCommand& command) {
  const auto started = agent::SteadyClock::now();
  auto loaded = load(common);
  agent::ReporterOptions reporter_options;
  reporter_options.debug = loaded.ok() && loaded->debug;
  auto reporter = agent::make_reporter(reporter_options);
  if (!loaded.ok()) return fail(*reporter, loaded.status());
  if (loaded->disabled) {
    reporter->log(agent::LogLevel::kNotice, "disabled by rd.cc-fde=0 on the kernel command line");
    reporter->ready();
    return kExitOk;
  }
  const agent::AgentConfig& config = loaded->config;

  agent::DiscoveryOptions discovery_options;
  discovery_options.devices = command.devices;
  discovery_options.sys_root = command.sys_root;
  discovery_options.dev_root = command.dev_root;
  auto crypttab = agent::read_crypttab(config.unlock.crypttab);
  if (!crypttab.ok()) return fail(*reporter, crypttab.status());
  discovery_options.crypttab = std::move(crypttab).value();
  reporter->progress("looking for cc-fde volumes");
  auto discovery = agent::discover_volumes(discovery_options);

  bool any_failed = false;
  for (const auto& problem : discovery.problems) {
    agent::VolumeEvent event;
    event.outcome = agent::VolumeOutcome::kFailed;
    event.device = problem.device;
    event.status = problem.status;
    reporter->volume(event);
    any_failed = true;
  }
  if (discovery.volumes.empty() && !any_failed) {
    reporter->log(agent::LogLevel::kNotice, "no cc-fde volumes found");
  }

  ReportingObserver observer(*reporter);
  agent::UnlockOptions options;
  options.dry_run = command.dry_run;
  options.scan_mode = command.all;
  auto outcomes = agent::unlock_volumes(discovery.volumes, config, options, observer);

  std::size_t done = 0;
  std::size_t failed = discovery.problems.size();
  for (const auto& outcome : outcomes) {
    if (outcome.result == VolumeResult::kUnlocked) measure(*reporter, config, outcome.volume);
    if (outcome.result == VolumeResult::kFailed) {
      ++failed;
      any_failed = true;
    } else if (outcome.result != VolumeResult::kSkipped) {
      ++done;
    }
  }
  const auto elapsed =
      std::chrono::duration_cast<milliseconds>(agent::SteadyClock::now() - started);
  const std::string summary_line = fmt::format(
      "{} {}, {} failed, {} attestation{} ({} ms)", done, command.dry_run ? "verified" : "unlocked",
      failed, observer.attestations(), observer.attestations() == 1 ? "" : "s", elapsed.count());
  reporter->log(any_failed ? agent::LogLevel::kError : agent::LogLevel::kInfo, summary_line);
  reporter->progress(summary_line);
  reporter->ready();
  if (command.json) {
    nlohmann::json summary = {{"dry_run", command.dry_run},
                              {"attestations", observer.attestations()},
                              {"elapsed_ms", elapsed.count()},
                              {"volumes", nlohmann::json::array()},
                              {"problems", nlohmann::json::array()}};
    for (const auto& outcome : outcomes) summary["volumes"].push_back(outcome_json(outcome));
    for (const auto& problem : discovery.problems) {
      summary["problems"].push_back({{"device", escape_nonprintable(problem.device)},
                                     {"error_code", error_code_name(problem.status.code())},
                                     {"error", escape_nonprintable(problem.status.message())}});
    }
    std::printf("%s\n", summary.dump().c_str());
  }
  if (!any_failed) return kExitOk;
  if (command.dry_run || config.unlock.failure_action == agent::FailureAction::kFail) {
    return kExitVolumeFailed;
  }
  reporter->log(agent::LogLevel::kWarning,
                "failure_action is 'prompt': the failed volumes are left to the passphrase prompt");
  agent::PromptHandoffPaths handoff;
  handoff.run_dir = command.run_dir;
  for (const auto& outcome : outcomes) {
    if (outcome.result != VolumeResult::kFailed) continue;
    // Without the record, the token plugin would try the broker once more before the prompt.
    if (const Status recorded = record_prompt_handoff(handoff, outcome.volume.uuid);
        !recorded.ok()) {
      reporter->log(agent::LogLevel::kWarning, "prompt hand-off: " + recorded.to_string());
    }
  }
  return kExitOk;
}

int run_keyscript(const CommonOptions& common) {
  const char* source = std::getenv("CRYPTTAB_SOURCE");
  const char* name = std::getenv("CRYPTTAB_NAME");
  auto loaded = load(common);
  agent::ReporterOptions reporter_options;
  reporter_options.debug = loaded.ok() && loaded->debug;
  // cryptroot reads the key from stdout: everything else goes to stderr/kmsg.
  auto reporter = agent::make_console_reporter(reporter_options);
  if (source == nullptr || *source == '\0') {
    return fail(*reporter, Status(ErrorCode::kInvalidArgument,
                                  "keyscript: CRYPTTAB_SOURCE is not set (run from crypttab "
                                  "keyscript=)"));
  }
  if (!loaded.ok()) return fail(*reporter, loaded.status());
  if (loaded->disabled) {
    reporter->log(agent::LogLevel::kNotice, "disabled by rd.cc-fde=0 on the kernel command line");
    return kExitVolumeFailed;
  }
  agent::DiscoveryOptions discovery_options;
  discovery_options.devices = {source};
  auto crypttab = agent::read_crypttab(loaded->config.unlock.crypttab);
  if (crypttab.ok()) discovery_options.crypttab = std::move(crypttab).value();
  auto discovery = agent::discover_volumes(discovery_options);

  Status failure;
  for (const auto& volume : discovery.volumes) {
    auto key = agent::fetch_verified_key(volume, loaded->config);
    if (!key.ok()) {
      failure = key.status();
      continue;
    }
    agent::VolumeEvent event = volume_event(volume, agent::VolumeOutcome::kUnlocked);
    event.device = source;
    if (name != nullptr) event.mapping = name;
    reporter->volume(event);
    measure(*reporter, loaded->config, volume);
    if (int error = write_all(STDOUT_FILENO, key->span()); error != 0) {
      return fail(*reporter, Status(ErrorCode::kIoError,
                                    "keyscript: writing the key to stdout failed", error));
    }
    return kExitOk;
  }
  if (failure.ok() && !discovery.problems.empty()) failure = discovery.problems.front().status;
  if (failure.ok()) {
    failure = Status(ErrorCode::kNoToken, fmt::format("{}: no usable cc-fde token", source));
  }
  agent::VolumeEvent event;
  event.outcome = agent::VolumeOutcome::kFailed;
  event.device = source;
  event.mapping = name != nullptr ? name : "";
  event.status = failure;
  reporter->volume(event);
  if (loaded->config.unlock.failure_action == agent::FailureAction::kPrompt) {
    // Hand over to Debian's prompt: cryptroot reads the key from our stdout either way.
    const std::string prompt =
        fmt::format("Please unlock disk {}: ", name != nullptr ? name : source);
    execl("/lib/cryptsetup/askpass", "askpass", prompt.c_str(), static_cast<char*>(nullptr));
    reporter->log(agent::LogLevel::kError,
                  "keyscript: cannot run /lib/cryptsetup/askpass for the passphrase prompt");
  }
  return kExitVolumeFailed;
}

}  // namespace ccfde::fde_agent

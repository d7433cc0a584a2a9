// SPDX-License-Identifier: Apache-2.0
// fde-agent unlock and keyscript: configuration, discovery, the unlock run, and what the operator
// sees (stderr timeline lines, JSON summary, exit status).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent_main.h"
#include "ccfde/agent/config.h"
#include "ccfde/agent/crypttab.h"
#include "ccfde/agent/first_boot.h"
#include "ccfde/agent/key_broker.h"
#include "ccfde/agent/logging.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/prompt_handoff.h"
#include "ccfde/agent/unlock.h"
#include "ccfde/agent/unlock_marks.h"
#include "ccfde/agent/unlock_measurement.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/subprocess.h"
#include "ccfde/measure/runtime_event.h"

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

using LoadedConfig = agent::EffectiveConfig;

// The effective configuration: --config, else the default (or an allowed rd.cc-fde.config=), with
// the allowed kernel command-line overrides.
Result<LoadedConfig> load(const CommonOptions& common) {
  std::string cmdline_text;
  if (!common.cmdline_path.empty()) {
    auto text = read_file(common.cmdline_path);
    if (!text.ok() && text.status().code() != ErrorCode::kNotFound) return text.status();
    if (text.ok()) cmdline_text.assign(as_chars(*text));
  }
  return agent::load_effective_config(common.config_path, cmdline_text);
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

  void broker_note(const agent::BrokerProfile& profile, const std::string& text) override {
    reporter_.log(agent::LogLevel::kWarning, fmt::format("profile {}: {}", profile.name, text));
  }

  void attesting(const agent::BrokerProfile& profile, measure::TeeKind tee) override {
    if (tee == measure::TeeKind::kSample) {
      reporter_.log(agent::LogLevel::kWarning,
                    fmt::format("profile {} sends `sample` evidence (development only: no "
                                "hardware, no security)",
                                profile.name));
    }
    agent::StageEvent event;
    event.stage = agent::Stage::kAttesting;
    event.profile = profile.name;
    event.tee = measure::tee_kind_name(tee);
    reporter_.stage(event);
  }

  void attested(const agent::BrokerProfile& profile, measure::TeeKind tee, const Status& status,
                milliseconds elapsed) override {
    agent::StageEvent event;
    event.stage = agent::Stage::kAttested;
    event.status = status;
    event.duration = elapsed;
    event.profile = profile.name;
    event.tee = measure::tee_kind_name(tee);
    reporter_.stage(event);
  }

  void keys_fetched(const agent::BrokerProfile& profile, measure::TeeKind tee,
                    unsigned attestations, std::size_t fetched, std::size_t requested,
                    milliseconds elapsed, const Status& first_error) override {
    attestations_ += attestations;
    agent::StageEvent event;
    event.stage = agent::Stage::kKeyFetched;
    event.duration = elapsed;
    event.profile = profile.name;
    event.tee = measure::tee_kind_name(tee);
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

agent::UnlockMeasurementOptions measurement_options(const agent::AgentConfig& config,
                                                    const std::string& run_dir) {
  agent::UnlockMeasurementOptions options;
  options.root = config.evidence.platform_root;
  options.run_dir = run_dir;
  return options;
}

// <run_dir>/cc-fde/unlocks: where the agent leaves its unlock marks (unlock_marks.h).
agent::UnlockMarkPaths mark_paths(const std::string& run_dir) {
  agent::UnlockMarkPaths paths;
  paths.dir = std::filesystem::path(run_dir) / "cc-fde" / "unlocks";
  return paths;
}

// Leaves the unlock mark of mapping `mapping` of volume `uuid`, which the agent just opened (or
// whose key it handed to cryptroot), so that fdectl status and phase-end count it as the agent's
// without the journal. A mark that cannot be written is a warning: the volume is open all the same.
void mark_unlock(agent::Reporter& reporter, const std::string& run_dir, const std::string& mapping,
                 const std::string& uuid) {
  if (Status marked =
          agent::write_unlock_mark(mark_paths(run_dir), agent::UnlockOpener::kAgent, mapping, uuid);
      !marked.ok()) {
    reporter.log(agent::LogLevel::kWarning,
                 fmt::format("{} will look opened outside the broker: its unlock mark was not "
                             "written: {}",
                             mapping, marked.to_string()));
  }
}

// The unlock record of an activated volume, bound to its volume key, in RTMR3 and the runtime
// event log (when unlock.measure_unlock is on). An error fails the volume: the caller closes it.
Status record_unlock(const agent::AgentConfig& config, const std::string& run_dir,
                     const agent::VolumeCandidate& volume, const agent::LuksVolume& luks,
                     std::span<const std::uint8_t> key, int keyslot) {
  if (!config.unlock.measure_unlock) return Status::ok_status();
  CCFDE_ASSIGN_OR_RETURN(const SecretBytes volume_key, luks.volume_key(key, keyslot));
  CCFDE_ASSIGN_OR_RETURN(auto binding, agent::volume_binding(volume_key.span(), volume.uuid));
  agent::UnlockedVolume record{volume.uuid, volume.token.profile, volume.token.resource,
                               volume.token_id, std::move(binding)};
  CCFDE_ASSIGN_OR_RETURN(const auto measured,
                         agent::measure_unlock(record, measurement_options(config, run_dir)));
  if (measured == agent::MeasureResult::kUnsupported && config.unlock.require_phase_event) {
    return Status(ErrorCode::kUnsupported,
                  fmt::format("{}: the unlock record cannot be written (RTMR3 cannot be "
                              "extended)",
                              volume.device.string()));
  }
  return Status::ok_status();
}

// Ends the initramfs unlock phase from the agent itself (failure or prompt hand-off), in addition
// to cc-fde-phase-end.service: nothing after this may get an initramfs-only key.
void end_unlock_phase(agent::Reporter& reporter, const agent::AgentConfig& config,
                      const std::string& run_dir) {
  auto ended = agent::measure_phase_end(measurement_options(config, run_dir));
  if (!ended.ok()) {
    reporter.log(agent::LogLevel::kError, "cannot record the end of the initramfs unlock phase: " +
                                              ended.status().to_string());
  } else if (*ended == agent::MeasureResult::kMeasured) {
    reporter.log(agent::LogLevel::kNotice,
                 fmt::format("initramfs unlock phase ended: RTMR3 extended with '{}'",
                             measure::kPhaseEndEventText));
  }
}

// Why required volume `required` was not unlocked, from what the run saw.
Status required_failure(const agent::RequiredVolumeRef& required, const agent::Discovery& discovery,
                        const std::vector<agent::UnlockOutcome>& outcomes) {
  const std::string name = required.uuid.empty() ? required.device.string() : required.uuid;
  for (const auto& outcome : outcomes) {
    if (agent::matches_required(required, outcome.volume.device, outcome.volume.uuid) &&
        !outcome.status.ok()) {
      return outcome.status.with_context(
          fmt::format("required volume {} ({})", name, required.origin));
    }
  }
  for (const auto& volume : discovery.without_token) {
    if (agent::matches_required(required, volume.device, volume.uuid)) {
      return Status(ErrorCode::kNoToken,
                    fmt::format("required volume {} ({}) at {} has no cc-fde token: not "
                                "unlocking it, and no passphrase either (a substituted disk?)",
                                name, required.origin, volume.device.string()));
    }
  }
  return Status(ErrorCode::kNotFound,
                fmt::format("required volume {} ({}) was not found before the deadline", name,
                            required.origin));
}

// The unlock.first_boot partitions of this boot: where each was found and what it is called.
struct FirstBootPartition {
  const agent::FirstBootVolume* volume = nullptr;
  std::filesystem::path device;
};

// The actions of a first boot (first_boot.h) on this machine: RTMR3, the profile's broker,
// device-mapper, mkfs. Deadline: `deadline` for the key and the file system.
agent::FirstBootActions first_boot_actions(agent::Reporter& reporter,
                                           const agent::AgentConfig& config,
                                           const agent::FirstBootVolume& volume,
                                           const agent::UnlockMeasurementOptions& measurement,
                                           agent::SteadyClock::time_point deadline) {
  agent::FirstBootActions actions;
  actions.record_event = [&reporter, measurement](std::string_view id) -> Status {
    CCFDE_ASSIGN_OR_RETURN(const auto measured, agent::measure_first_boot(id, measurement));
    if (measured != agent::MeasureResult::kMeasured) {
      return make_error(ErrorCode::kUnsupported,
                        "RTMR3 cannot be extended here ({}), so no broker could tell this first "
                        "boot from a blanked partition at a later boot: no key is fetched",
                        agent::kRtmr3KernelRequirement);
    }
    reporter.log(agent::LogLevel::kWarning, fmt::format("first boot: RTMR3 extended with '{}{}'",
                                                        measure::kFirstBootEventPrefix, id));
    return Status::ok_status();
  };
  actions.fetch_key = [&reporter, &config, &volume, deadline]() -> Result<SecretBytes> {
    CCFDE_ASSIGN_OR_RETURN(const agent::BrokerProfile* profile, config.profile(volume.profile));
    CCFDE_ASSIGN_OR_RETURN(auto broker, agent::make_key_broker(*profile, config.evidence, 1));
    if (broker->tee() == measure::TeeKind::kSample) {
      reporter.log(agent::LogLevel::kWarning,
                   "first boot: sample evidence (development only, no security)");
    }
    auto keys = broker->fetch(std::span<const std::string>(&volume.resource, 1), deadline);
    for (const auto& note : broker->take_notes()) reporter.log(agent::LogLevel::kWarning, note);
    return std::move(keys.front());
  };
  actions.activate = [](agent::LuksVolume& luks, std::span<const std::uint8_t> key,
                        const std::string& mapping) -> Status {
    CCFDE_RETURN_IF_ERROR(luks.activate(mapping, key).status());
    if (Status checked = luks.check_active_mapping(mapping); !checked.ok()) {
      (void)agent::LuksVolume::deactivate(mapping);
      return checked;
    }
    return Status::ok_status();
  };
  actions.record_unlock = [&config, &volume, run_dir = measurement.run_dir](
                              const agent::LuksVolume& luks, std::span<const std::uint8_t> key,
                              const agent::FirstBootResult& done,
                              const std::string& mapping) -> Status {
    agent::VolumeCandidate candidate;
    candidate.device = luks.device();
    candidate.uuid = done.uuid;
    candidate.mapping_name = mapping;
    candidate.token_id = done.token;
    candidate.token.profile = volume.profile;
    candidate.token.resource = volume.resource;
    Status recorded = record_unlock(config, run_dir.string(), candidate, luks, key, done.keyslot);
    if (!recorded.ok()) (void)agent::LuksVolume::deactivate(mapping);
    return recorded;
  };
  actions.make_filesystem = [deadline](const std::string& mapping,
                                       const std::string& filesystem) -> Status {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - agent::SteadyClock::now());
    return run_program(agent::mkfs_program(filesystem),
                       agent::mkfs_arguments(filesystem, "/dev/mapper/" + mapping),
                       std::max(left, milliseconds(0)));
  };
  return actions;
}

// unlock.first_boot (first_boot.h): finds each partition by its name (waiting for it until
// `wait_until`), begins a first boot on a blank one and completes a pending one. Each partition
// that is (or has just become) established is a required volume of the run, bound to its profile
// and resource; one that failed is reported (setting `any_failed`) and left out of the run.
// Its lines are warnings, so that they reach the console: formatting a disk at boot is what an
// operator watching the console must see.
std::vector<FirstBootPartition> run_first_boot(agent::Reporter& reporter,
                                               const agent::AgentConfig& config,
                                               const UnlockCommand& command,
                                               agent::SteadyClock::time_point wait_until,
                                               std::vector<agent::RequiredVolumeRef>& required,
                                               bool& any_failed) {
  std::vector<FirstBootPartition> partitions;
  const auto failed = [&](const std::string& device, const agent::FirstBootVolume& volume,
                          const Status& status) {
    agent::VolumeEvent event;
    event.outcome = agent::VolumeOutcome::kFailed;
    event.device = device;
    event.mapping = volume.name;
    event.profile = volume.profile;
    event.resource = volume.resource;
    event.status = status.with_context(fmt::format("first-boot volume {}", volume.partlabel));
    reporter.volume(event);
    any_failed = true;
  };
  for (std::size_t i = 0; i < config.unlock.first_boot.size(); ++i) {
    const agent::FirstBootVolume& volume = config.unlock.first_boot[i];
    Result<std::filesystem::path> device =
        agent::find_partition_by_label(volume.partlabel, command.sys_root, command.dev_root);
    while (!device.ok() && device.status().code() == ErrorCode::kNotFound &&
           agent::SteadyClock::now() < wait_until) {
      reporter.progress(fmt::format("waiting for partition {}", volume.partlabel));
      std::this_thread::sleep_for(milliseconds(250));
      device = agent::find_partition_by_label(volume.partlabel, command.sys_root, command.dev_root);
    }
    if (!device.ok()) {
      failed("PARTLABEL=" + volume.partlabel, volume, device.status());
      continue;
    }
    partitions.push_back({&volume, *device});
    const agent::RequiredVolumeRef as_required{
        "", *device, volume.profile, volume.resource,
        fmt::format("unlock.first_boot {} (PARTLABEL={})", i, volume.partlabel)};
    if (command.dry_run) {
      required.push_back(as_required);
      continue;
    }
    auto inspection = agent::inspect_first_boot_volume(*device);
    if (!inspection.ok()) {
      failed(device->string(), volume, inspection.status());
      continue;
    }
    if (inspection->state == agent::FirstBootState::kEstablished) {
      // From here on a volume like any other, which the run must unlock.
      required.push_back(as_required);
      continue;
    }
    std::string id = inspection->id;
    if (inspection->state == agent::FirstBootState::kBlank) {
      auto begun = agent::begin_first_boot(*device);
      if (!begun.ok()) {
        failed(device->string(), volume, begun.status());
        continue;
      }
      id = *begun;
      reporter.log(agent::LogLevel::kWarning,
                   fmt::format("first boot: {} (PARTLABEL={}) is blank: wrote a pending LUKS2 "
                               "header, first-boot id {}",
                               device->string(), volume.partlabel, id));
    } else {
      reporter.log(agent::LogLevel::kWarning,
                   fmt::format("first boot: {} (PARTLABEL={}) holds an unfinished first boot "
                               "(id {}): completing it",
                               device->string(), volume.partlabel, id));
    }
    const auto started = agent::SteadyClock::now();
    const auto deadline =
        started + std::min(config.unlock.volume_timeout, config.unlock.overall_timeout);
    reporter.progress(fmt::format("first boot of {}: fetching the VM's key", volume.partlabel));
    auto done = agent::complete_first_boot(
        *device, id, volume,
        first_boot_actions(reporter, config, volume, measurement_options(config, command.run_dir),
                           deadline));
    if (!done.ok()) {
      failed(device->string(), volume, done.status());
      continue;
    }
    required.push_back(as_required);
    // The journal's record of this unlock and its unlock mark: fdectl status and the later check
    // for mappings opened outside the broker count this one as the agent's.
    agent::VolumeEvent unlocked;
    unlocked.outcome = agent::VolumeOutcome::kUnlocked;
    unlocked.device = device->string();
    unlocked.volume_uuid = done->uuid;
    unlocked.mapping = volume.name;
    unlocked.profile = volume.profile;
    unlocked.resource = volume.resource;
    unlocked.duration =
        std::chrono::duration_cast<milliseconds>(agent::SteadyClock::now() - started);
    reporter.volume(unlocked);
    mark_unlock(reporter, command.run_dir, volume.name, done->uuid);
    reporter.log(
        agent::LogLevel::kWarning,
        fmt::format(
            "first boot: {} formatted as LUKS2 volume {} (keyslot {}, token {}), "
            "{} on /dev/mapper/{} ({} ms)",
            device->string(), done->uuid, done->keyslot, done->token, volume.filesystem,
            volume.name,
            std::chrono::duration_cast<milliseconds>(agent::SteadyClock::now() - started).count()));
  }
  return partitions;
}

bool satisfies(const agent::UnlockOutcome& outcome) {
  return outcome.result == VolumeResult::kUnlocked || outcome.result == VolumeResult::kVerified ||
         outcome.result == VolumeResult::kAlreadyActive;
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
  auto required =
      command.devices.empty()
          ? agent::required_volumes(config, discovery_options.crypttab, command.dev_root)
          : std::vector<agent::RequiredVolumeRef>{};
  // Required volumes may appear after the agent started (udev): wait for them, up to the deadline
  // of a volume.
  const auto wait_until =
      started + std::min(config.unlock.volume_timeout, config.unlock.overall_timeout);
  bool any_failed = false;
  // Before discovery: a first boot leaves its volume established and active.
  const auto first_boot_partitions =
      command.devices.empty()
          ? run_first_boot(*reporter, config, command, wait_until, required, any_failed)
          : std::vector<FirstBootPartition>{};
  reporter->progress("looking for cc-fde volumes");
  agent::Discovery discovery;
  for (;;) {
    discovery = agent::discover_volumes(discovery_options);
    const auto missing = std::count_if(required.begin(), required.end(), [&](const auto& r) {
      const auto seen = [&](const auto& v) { return agent::matches_required(r, v.device, v.uuid); };
      // A device that is there but unusable (a problem) is not waited for either.
      const auto problem = [&](const agent::DiscoveryProblem& p) {
        return !r.device.empty() && agent::matches_required(r, p.device, "");
      };
      return std::none_of(discovery.volumes.begin(), discovery.volumes.end(), seen) &&
             std::none_of(discovery.without_token.begin(), discovery.without_token.end(), seen) &&
             std::none_of(discovery.problems.begin(), discovery.problems.end(), problem);
    });
    if (missing == 0 || agent::SteadyClock::now() >= wait_until) break;
    reporter->progress(
        fmt::format("waiting for {} required volume{}", missing, missing == 1 ? "" : "s"));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  // A first-boot volume is opened under its configured name.
  for (auto& volume : discovery.volumes) {
    for (const auto& partition : first_boot_partitions) {
      std::error_code error;
      if (volume.device == partition.device ||
          std::filesystem::equivalent(volume.device, partition.device, error)) {
        volume.mapping_name = partition.volume->name;
      }
    }
  }

  // Which failures end the run: those of required volumes; every one when devices were named or
  // nothing is required (then every cc-fde volume found counts, as in a plain scan).
  const bool every_volume_counts = !command.devices.empty() || required.empty();
  const auto not_required = [&](std::string_view what) {
    reporter->log(agent::LogLevel::kWarning,
                  fmt::format("{} is not a required volume (unlock.volumes, crypttab, "
                              "rd.luks.uuid=): its failure does not stop the boot",
                              what));
  };
  for (const auto& problem : discovery.problems) {
    // An unfinished first boot of a configured partition was reported by run_first_boot.
    const bool first_boot_partition = std::any_of(
        first_boot_partitions.begin(), first_boot_partitions.end(),
        [&](const FirstBootPartition& p) { return p.device.string() == problem.device; });
    if (first_boot_partition && problem.status.code() == ErrorCode::kUnfinishedOperation) {
      any_failed = true;
      continue;
    }
    agent::VolumeEvent event;
    event.outcome = agent::VolumeOutcome::kFailed;
    event.device = problem.device;
    event.status = problem.status;
    reporter->volume(event);
    if (every_volume_counts) {
      any_failed = true;
    } else {
      not_required(escape_nonprintable(problem.device));
    }
  }
  for (const auto& volume : discovery.without_token) {
    reporter->log(agent::LogLevel::kNotice,
                  fmt::format("{} (LUKS UUID {}) has no cc-fde token: cc-fde leaves it alone",
                              volume.device.string(), volume.uuid));
  }
  if (discovery.volumes.empty() && !any_failed && required.empty()) {
    reporter->log(agent::LogLevel::kNotice, "no cc-fde volumes found");
  }

  ReportingObserver observer(*reporter);
  agent::UnlockOptions options;
  options.dry_run = command.dry_run;
  options.scan_mode = command.all;
  options.required = required;
  const auto measurement = measurement_options(config, command.run_dir);
  options.phase_event_available = [measurement] {
    return agent::rtmr3_extension_available(measurement);
  };
  options.after_activation = [&config, &command](const agent::VolumeCandidate& volume,
                                                 const agent::LuksVolume& luks,
                                                 const SecretBytes& key, int keyslot) {
    return record_unlock(config, command.run_dir, volume, luks, key.span(), keyslot);
  };
  auto outcomes = agent::unlock_volumes(discovery.volumes, config, options, observer);

  agent::PromptHandoffPaths run_paths;
  run_paths.run_dir = command.run_dir;
  std::size_t done = 0;
  std::size_t failed = discovery.problems.size();
  for (auto& outcome : outcomes) {
    if (!command.dry_run && outcome.result == VolumeResult::kUnlocked) {
      mark_unlock(*reporter, command.run_dir, outcome.volume.mapping_name, outcome.volume.uuid);
    }
    if (!command.dry_run && (outcome.result == VolumeResult::kUnlocked ||
                             outcome.result == VolumeResult::kAlreadyActive)) {
      // The gate lets systemd-cryptsetup go on only with this positive evidence.
      if (Status recorded =
              agent::record_volume_verdict(run_paths, outcome.volume.mapping_name,
                                           outcome.volume.uuid, agent::VolumeVerdict::kUnlocked);
          !recorded.ok()) {
        reporter->log(agent::LogLevel::kError, "verdict: " + recorded.to_string());
        outcome.result = VolumeResult::kFailed;
        outcome.status = recorded;
      }
    }
    const bool is_required = std::any_of(required.begin(), required.end(), [&](const auto& r) {
      return agent::matches_required(r, outcome.volume.device, outcome.volume.uuid);
    });
    if (outcome.result == VolumeResult::kFailed ||
        (is_required && outcome.result == VolumeResult::kSkipped)) {
      ++failed;
      if (is_required || every_volume_counts) {
        any_failed = true;
      } else {
        not_required(outcome.volume.device.string());
      }
    } else if (outcome.result != VolumeResult::kSkipped) {
      ++done;
    }
  }
  for (const auto& r : required) {
    const bool satisfied = std::any_of(outcomes.begin(), outcomes.end(), [&](const auto& o) {
      return satisfies(o) && agent::matches_required(r, o.volume.device, o.volume.uuid);
    });
    if (satisfied) continue;
    const bool reported = std::any_of(outcomes.begin(), outcomes.end(), [&](const auto& o) {
      return agent::matches_required(r, o.volume.device, o.volume.uuid);
    });
    if (reported) continue;  // its own outcome was counted above
    agent::VolumeEvent event;
    event.outcome = agent::VolumeOutcome::kFailed;
    event.device = r.device.empty() ? "UUID=" + r.uuid : r.device.string();
    event.volume_uuid = r.uuid;
    event.status = required_failure(r, discovery, outcomes);
    reporter->volume(event);
    ++failed;
    any_failed = true;
  }
  const auto elapsed =
      std::chrono::duration_cast<milliseconds>(agent::SteadyClock::now() - started);
  const std::string summary_line = fmt::format(
      "{} {}, {} failed, {} attestation{} ({} ms)", done, command.dry_run ? "verified" : "unlocked",
      failed, observer.attestations(), observer.attestations() == 1 ? "" : "s", elapsed.count());
  reporter->log(any_failed ? agent::LogLevel::kError : agent::LogLevel::kInfo, summary_line);
  reporter->progress(summary_line);
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
  if (!any_failed) {
    reporter->ready();
    return kExitOk;
  }
  if (command.dry_run) {
    reporter->ready();
    return kExitVolumeFailed;
  }
  if (config.unlock.failure_action == agent::FailureAction::kFail) {
    // Fail closed: nothing this run opened stays open for a boot that is about to end.
    for (const auto& outcome : outcomes) {
      if (outcome.result != VolumeResult::kUnlocked) continue;
      if (Status closed = agent::LuksVolume::deactivate(outcome.volume.mapping_name);
          !closed.ok()) {
        reporter->log(agent::LogLevel::kError, closed.to_string());
      } else {
        reporter->log(agent::LogLevel::kNotice,
                      fmt::format("closed {} again: the boot ends", outcome.volume.mapping_name));
        // Whatever opens that name later in this boot is not the agent.
        if (Status removed =
                agent::remove_unlock_mark(mark_paths(command.run_dir), agent::UnlockOpener::kAgent,
                                          outcome.volume.mapping_name, outcome.volume.uuid);
            !removed.ok()) {
          reporter->log(agent::LogLevel::kWarning, "unlock mark: " + removed.to_string());
        }
      }
    }
    end_unlock_phase(*reporter, config, command.run_dir);
    reporter->ready();
    return kExitVolumeFailed;
  }
  reporter->log(agent::LogLevel::kWarning,
                "failure_action is 'prompt': the failed volumes are left to the passphrase prompt");
  // Whatever answers the prompt runs after the initramfs-only keys were released.
  end_unlock_phase(*reporter, config, command.run_dir);
  for (const auto& outcome : outcomes) {
    if (outcome.result != VolumeResult::kFailed && outcome.result != VolumeResult::kSkipped) {
      continue;
    }
    // Without the record, the token plugin would try the broker once more before the prompt.
    if (const Status recorded = record_prompt_handoff(run_paths, outcome.volume.uuid);
        !recorded.ok()) {
      reporter->log(agent::LogLevel::kWarning, "prompt hand-off: " + recorded.to_string());
    }
    if (const Status recorded =
            agent::record_volume_verdict(run_paths, outcome.volume.mapping_name,
                                         outcome.volume.uuid, agent::VolumeVerdict::kPrompt);
        !recorded.ok()) {
      reporter->log(agent::LogLevel::kWarning, "verdict: " + recorded.to_string());
    }
  }
  for (const auto& r : required) {
    for (const auto& volume : discovery.without_token) {
      if (!agent::matches_required(r, volume.device, volume.uuid)) continue;
      const std::string mapping = "luks-" + volume.uuid;
      if (const Status recorded = agent::record_volume_verdict(run_paths, mapping, volume.uuid,
                                                               agent::VolumeVerdict::kPrompt);
          !recorded.ok()) {
        reporter->log(agent::LogLevel::kWarning, "verdict: " + recorded.to_string());
      }
    }
  }
  reporter->ready();
  return kExitOk;
}

int run_keyscript(const CommonOptions& common, const KeyscriptCommand& command) {
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
    const auto measurement = measurement_options(loaded->config, command.run_dir);
    auto key = agent::fetch_verified_key(volume, loaded->config, {}, [measurement] {
      return agent::rtmr3_extension_available(measurement);
    });
    if (!key.ok()) {
      failure = key.status();
      continue;
    }
    agent::VolumeEvent event = volume_event(volume, agent::VolumeOutcome::kUnlocked);
    event.device = source;
    if (name != nullptr) event.mapping = name;
    // The unlock record, bound to the volume key, before the key leaves this process.
    auto luks = agent::LuksVolume::open(volume.device);
    Status recorded = luks.ok() ? record_unlock(loaded->config, command.run_dir, volume, *luks,
                                                key->span(), agent::kAnyKeyslot)
                                : luks.status();
    if (!recorded.ok()) {
      failure = recorded;
      continue;
    }
    reporter->volume(event);
    if (int error = write_all(STDOUT_FILENO, key->span()); error != 0) {
      return fail(*reporter, Status(ErrorCode::kIoError,
                                    "keyscript: writing the key to stdout failed", error));
    }
    // cryptroot opens the mapping CRYPTTAB_NAME with this key.
    if (name != nullptr && *name != '\0')
      mark_unlock(*reporter, command.run_dir, name, volume.uuid);
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

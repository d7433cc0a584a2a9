// SPDX-License-Identifier: Apache-2.0
// fde-agent phase-end: ends the initramfs unlock phase by recording the constant phase-end event in
// RTMR3 and the runtime event log (agent::measure_phase_end), once per boot, from
// cc-fde-phase-end.service (systemd initramfs) or the local-bottom script (initramfs-tools), then
// warns about every active cc-fde mapping that neither the agent nor the token plugin opened
// ("opened outside the broker").
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "agent_main.h"
#include "ccfde/agent/config.h"
#include "ccfde/agent/crypt_mappings.h"
#include "ccfde/agent/logging.h"
#include "ccfde/agent/unlock_history.h"
#include "ccfde/agent/unlock_marks.h"
#include "ccfde/agent/unlock_measurement.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::fde_agent {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadConfig = 2;

// The platform root of the configuration file named by --config, else of the default file. The
// kernel command line is not read: nothing on it may skip the phase end (rd.cc-fde=0) or move it
// to another platform root (rd.cc-fde.config= naming a file whose platform_root has no RTMR3,
// which would turn the extend into "unsupported").
Result<std::filesystem::path> load_for_phase_end(const CommonOptions& common) {
  const std::filesystem::path path = common.config_path.empty()
                                         ? std::filesystem::path(agent::kDefaultConfigPath)
                                         : std::filesystem::path(common.config_path);
  CCFDE_ASSIGN_OR_RETURN(const agent::AgentConfig config, agent::load_config(path));
  return config.evidence.platform_root;
}

// Records the phase end and logs one line. Returns kExitOk when it was recorded, had already been
// recorded, or cannot be recorded on this platform; kExitFailed when the extend failed.
int end_phase(agent::Reporter& reporter, const agent::UnlockMeasurementOptions& options) {
  auto result = agent::measure_phase_end(options);
  if (!result.ok()) {
    reporter.log(agent::LogLevel::kError,
                 fmt::format("initramfs unlock phase could not be ended: RTMR3 was not extended "
                             "with '{}': {}",
                             measure::kPhaseEndEventText, result.status().to_string()));
    return kExitFailed;
  }
  switch (*result) {
    case agent::MeasureResult::kMeasured:
      reporter.log(agent::LogLevel::kNotice,
                   fmt::format("initramfs unlock phase ended: RTMR3 extended with '{}'",
                               measure::kPhaseEndEventText));
      break;
    case agent::MeasureResult::kAlreadyRecorded:
      reporter.log(agent::LogLevel::kInfo, "initramfs unlock phase ended: already recorded");
      break;
    case agent::MeasureResult::kUnsupported: {
      const Status why = agent::rtmr3_extension_available(options);
      reporter.log(agent::LogLevel::kWarning,
                   fmt::format("initramfs unlock phase ended: cannot be recorded on this platform "
                               "({})",
                               why.ok() ? "the RTMR3 interface disappeared" : why.message()));
      break;
    }
  }
  return kExitOk;
}

// Warns about every active cc-fde mapping neither the agent nor the token plugin opened
// (crypt_mappings.h: their unlock marks in /run, and the agent's journal entries): through the
// journal under systemd, so the warning carries CCFDE_OPENED_OUTSIDE_BROKER=1. Never changes the
// exit status: the phase end is what this command is for.
void check_opened_outside_broker(const std::filesystem::path& platform_root,
                                 const std::string& run_dir) {
  const std::filesystem::path root = platform_root.empty() ? "/" : platform_root;
  auto reporter = agent::make_reporter();
  const auto source = agent::make_sysfs_crypt_mapping_source(root / "sys", root / "dev");
  agent::UnlockMarkPaths marks;
  marks.dir = std::filesystem::path(run_dir) / "cc-fde" / "unlocks";
  agent::warn_opened_outside_broker(*source, agent::read_unlock_records(),
                                    agent::read_unlock_marks(marks), *reporter);
}

}  // namespace

int run_phase_end(const CommonOptions& common, const PhaseEndCommand& command) {
  // stderr (the journal under systemd, the console under initramfs-tools) and /dev/kmsg, so the
  // line reaches the serial console whichever init runs us.
  auto reporter = agent::make_console_reporter();
  agent::UnlockMeasurementOptions options;
  options.run_dir = command.run_dir;
  auto platform_root = load_for_phase_end(common);
  if (!platform_root.ok()) {
    // The phase ends regardless: at the real platform root, then report the configuration.
    reporter->log(agent::LogLevel::kError,
                  fmt::format("phase-end: {}; ending the phase at the default platform root",
                              platform_root.status().to_string()));
    return end_phase(*reporter, options) == kExitFailed ? kExitFailed : kExitBadConfig;
  }
  options.root = *platform_root;
  const int status = end_phase(*reporter, options);
  check_opened_outside_broker(*platform_root, command.run_dir);
  return status;
}

}  // namespace ccfde::fde_agent

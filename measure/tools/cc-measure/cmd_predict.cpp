// SPDX-License-Identifier: Apache-2.0
// `predict`: the RTMR1/RTMR2 reference values of a TDX direct boot, for devkbs and Trustee.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/direct_boot.h"
#include "ccfde/measure/tcg_event_log.h"
#include "commands.h"
#include "output.h"

namespace ccfde::cc_measure {
namespace {

// Kernels and initramfs images of several hundred MiB exist (firmware, modules); beyond 2 GiB a
// file is not a boot input.
constexpr std::size_t kMaxBootFileSize = std::size_t{2} << 30;
constexpr std::size_t kMaxCmdlineFileSize = std::size_t{64} * 1024;
constexpr std::uint64_t kMiB = std::uint64_t{1024} * 1024;

Result<Bytes> read_input(const std::string& path, std::size_t max_size, std::string_view what) {
  auto bytes = read_file(path, max_size);
  if (!bytes.ok()) return bytes.status().with_context(fmt::format("{} {}", what, path));
  return bytes;
}

Result<std::string> command_line(const PredictOptions& options) {
  if (options.cmdline_file.empty()) return options.cmdline;
  CCFDE_ASSIGN_OR_RETURN(
      auto bytes, read_input(options.cmdline_file, kMaxCmdlineFileSize, "command line file"));
  std::string text(bytes.begin(), bytes.end());
  // /proc/cmdline and `echo` end with a newline that is not part of what QEMU passes.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.find('\0') != std::string::npos || text.find('\n') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "command line file {}: holds a NUL or a line break inside the command line",
                      options.cmdline_file);
  }
  return text;
}

nlohmann::json event_json(const measure::PredictedEvent& event) {
  return {{"register", fmt::format("RTMR{}", event.mr_index - 1)},
          {"event_type", std::string(measure::event_type_name(event.event_type))},
          {"description", event.description},
          {"digest", hex_encode(event.digest)}};
}

void print_prediction(const measure::DirectBootPrediction& prediction,
                      const PredictOptions& options, const std::string& cmdline) {
  const std::string rtmr1 = hex_encode(prediction.rtmr1);
  const std::string rtmr2 = hex_encode(prediction.rtmr2);
  if (options.format == "devkbs") {
    // The "tdx" member of a devkbs resource policy (docs/BROKER-POLICY.md); mr_td comes from the
    // firmware build, not from these inputs.
    const nlohmann::json fragment = {{"tdx", {{"rtmr1", rtmr1}, {"rtmr2", rtmr2}}}};
    std::fputs((fragment.dump(2) + "\n").c_str(), stdout);
    return;
  }
  if (options.format == "trustee") {
    // A Trustee RVPS message in the "sample" provenance format, named as Trustee's default
    // attestation policy queries them (confidential-containers/trustee
    // attestation-service/src/ear_token/ear_default_policy_cpu.rego @ 78962cd416dc).
    nlohmann::json values = {{"rtmr_1", {rtmr1}}, {"rtmr_2", {rtmr2}}};
    for (const auto& event : prediction.events) {
      if (event.kind == measure::PredictedEventKind::kKernel) {
        values["tdvfkernel"] = hex_encode(event.digest);
      } else if (event.kind == measure::PredictedEventKind::kLoadOptions) {
        values["tdvfkernelparams"] = hex_encode(event.digest);
      }
    }
    const std::string payload = values.dump();
    const nlohmann::json message = {
        {"version", "0.1.0"},
        {"type", "sample"},
        {"payload", base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                            payload.size()))}};
    std::fputs((message.dump(2) + "\n").c_str(), stdout);
    return;
  }
  nlohmann::json document = {
      {"boot", "OVMF/TDVF direct boot, Linux EFI stub"},
      {"kernel", options.kernel_file},
      {"initrd",
       options.initrd_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(options.initrd_file)},
      {"cmdline", cmdline},
      {"qemu_patched_header", options.qemu_below_4g_mib != 0},
      {"rtmr1", rtmr1},
      {"rtmr2", rtmr2},
      {"events", nlohmann::json::array()}};
  for (const auto& event : prediction.events) document["events"].push_back(event_json(event));
  print_document(document, options.json);
}

}  // namespace

int run_predict(const PredictOptions& options) {
  const bool json_errors = options.json || options.format != "text";
  auto kernel = read_input(options.kernel_file, kMaxBootFileSize, "kernel");
  if (!kernel.ok()) return report_error(kernel.status(), json_errors);
  std::optional<Bytes> initrd;
  if (!options.initrd_file.empty()) {
    auto bytes = read_input(options.initrd_file, kMaxBootFileSize, "initrd");
    if (!bytes.ok()) return report_error(bytes.status(), json_errors);
    initrd = std::move(*bytes);
  }
  auto cmdline = command_line(options);
  if (!cmdline.ok()) return report_error(cmdline.status(), json_errors);

  std::optional<std::span<const std::uint8_t>> initrd_view;
  if (initrd) initrd_view = *initrd;
  auto prediction = measure::predict_qemu_direct_boot(*kernel, initrd_view, *cmdline,
                                                      options.qemu_below_4g_mib * kMiB);
  if (!prediction.ok()) {
    return report_error(prediction.status().with_context("kernel " + options.kernel_file),
                        json_errors);
  }
  print_prediction(*prediction, options, *cmdline);
  return kExitOk;
}

}  // namespace ccfde::cc_measure

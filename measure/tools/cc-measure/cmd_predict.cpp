// SPDX-License-Identifier: Apache-2.0
// `predict`: the reference values of a direct boot, for devkbs and Trustee: RTMR1/RTMR2 of a TDX
// guest, or with --snp the launch digest of an SEV-SNP guest.
#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/direct_boot.h"
#include "ccfde/measure/snp_launch_digest.h"
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
// OVMF images are 2 to 4 MiB; the firmware must fit below 4 GiB with room for the rest.
constexpr std::size_t kMaxOvmfFileSize = std::size_t{64} << 20;

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

// A decimal or 0x-prefixed hexadecimal number up to `max`.
Result<std::uint64_t> parse_number(std::string_view text, std::string_view what,
                                   std::uint64_t max) {
  int base = 10;
  std::string_view digits = text;
  if (digits.starts_with("0x") || digits.starts_with("0X")) {
    base = 16;
    digits.remove_prefix(2);
  }
  std::uint64_t value = 0;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      value > max) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} \"{}\" is not a decimal or 0x-hex number up to {:#x}", what,
                      escape_nonprintable(text), max);
  }
  return value;
}

Status check_snp_options(const PredictOptions& options) {
  if (options.ovmf_file.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--snp needs --ovmf (the AmdSev firmware)");
  }
  if (options.vcpus == 0) return make_error(ErrorCode::kInvalidArgument, "--snp needs --vcpus");
  if (options.vcpu_type.empty() && options.vcpu_sig.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--snp needs --vcpu-type or --vcpu-sig");
  }
  if (options.qemu_below_4g_mib != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--qemu-below-4g-memory does not apply to --snp: QEMU hashes the kernel "
                      "file unpatched");
  }
  return Status::ok_status();
}

Status check_tdx_options(const PredictOptions& options) {
  if (!options.ovmf_file.empty() || !options.ovmf_hash.empty() || options.vcpus != 0 ||
      !options.vcpu_type.empty() || !options.vcpu_sig.empty() || !options.guest_features.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--ovmf, --ovmf-hash, --vcpus, --vcpu-type, --vcpu-sig and --guest-features "
                      "apply to --snp only");
  }
  return Status::ok_status();
}

struct SnpPrediction {
  measure::SnpLaunchInputs inputs;
  Bytes ovmf_hash;
  Bytes measurement;
};

Result<SnpPrediction> predict_snp(const PredictOptions& options, const Bytes& ovmf,
                                  const measure::SnpDirectBoot& boot) {
  // The footer table first: a file that is not an AmdSev firmware is named as such, not by its
  // page count.
  if (auto parsed = measure::parse_amd_sev_ovmf(ovmf); !parsed.ok()) {
    return parsed.status().with_context("OVMF " + options.ovmf_file);
  }
  SnpPrediction prediction;
  measure::SnpLaunchInputs& inputs = prediction.inputs;
  inputs.ovmf = ovmf;
  inputs.vcpus = options.vcpus;
  if (!options.vcpu_type.empty()) {
    CCFDE_ASSIGN_OR_RETURN(inputs.vcpu_signature, measure::snp_vcpu_signature(options.vcpu_type));
  } else {
    CCFDE_ASSIGN_OR_RETURN(auto signature, parse_number(options.vcpu_sig, "--vcpu-sig",
                                                        std::numeric_limits<std::uint32_t>::max()));
    inputs.vcpu_signature = static_cast<std::uint32_t>(signature);
  }
  if (!options.guest_features.empty()) {
    CCFDE_ASSIGN_OR_RETURN(inputs.guest_features,
                           parse_number(options.guest_features, "--guest-features",
                                        std::numeric_limits<std::uint64_t>::max()));
  }
  if (!options.ovmf_hash.empty()) {
    auto hash = hex_decode(options.ovmf_hash);
    if (!hash.ok()) return hash.status().with_context("--ovmf-hash");
    prediction.ovmf_hash = *hash;
    inputs.ovmf_hash = std::move(*hash);
  } else {
    auto hash = measure::snp_ovmf_hash(ovmf);
    if (!hash.ok()) return hash.status().with_context("OVMF " + options.ovmf_file);
    prediction.ovmf_hash = *hash;
    inputs.ovmf_hash = std::move(*hash);
  }
  inputs.direct_boot = boot;
  auto measurement = measure::snp_launch_digest(inputs);
  if (!measurement.ok()) return measurement.status().with_context("OVMF " + options.ovmf_file);
  prediction.measurement = std::move(*measurement);
  return prediction;
}

void print_snp_prediction(const SnpPrediction& prediction, const PredictOptions& options,
                          const std::string& cmdline) {
  const std::string measurement = hex_encode(prediction.measurement);
  if (options.format == "devkbs") {
    // The "snp" member of a devkbs resource policy (docs/BROKER-POLICY.md); host_data is the
    // launch's own choice, not derived from these inputs.
    const nlohmann::json fragment = {{"snp", {{"measurement", measurement}}}};
    std::fputs((fragment.dump(2) + "\n").c_str(), stdout);
    return;
  }
  if (options.format == "trustee") {
    // The reference value Trustee's default attestation policy compares the SNP MEASUREMENT with
    // (confidential-containers/trustee attestation-service/src/ear_token/
    // ear_default_policy_cpu.rego @ 78962cd416dc: "snp_launch_measurement"; the SNP verifier's
    // claim is hex, deps/verifier/src/snp/mod.rs at the same commit).
    const nlohmann::json values = {{"snp_launch_measurement", {measurement}}};
    const std::string payload = values.dump();
    const nlohmann::json message = {
        {"version", "0.1.0"}, {"type", "sample"}, {"payload", base64_encode(as_bytes(payload))}};
    std::fputs((message.dump(2) + "\n").c_str(), stdout);
    return;
  }
  const auto& inputs = prediction.inputs;
  const nlohmann::json document = {
      {"boot", "SEV-SNP, QEMU, OVMF AmdSev direct boot with kernel-hashes=on"},
      {"ovmf", options.ovmf_file},
      {"ovmf_hash", hex_encode(prediction.ovmf_hash)},
      {"ovmf_hash_given", !options.ovmf_hash.empty()},
      {"vcpus", inputs.vcpus},
      {"vcpu_signature", fmt::format("{:#x}", inputs.vcpu_signature)},
      {"guest_features", fmt::format("{:#x}", inputs.guest_features)},
      {"kernel", options.kernel_file},
      {"initrd",
       options.initrd_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(options.initrd_file)},
      {"cmdline", cmdline},
      {"measurement", measurement}};
  print_document(document, options.json);
}

}  // namespace

int run_predict(const PredictOptions& options) {
  const bool json_errors = options.json || options.format != "text";
  const Status checked = options.snp ? check_snp_options(options) : check_tdx_options(options);
  if (!checked.ok()) return report_error(checked, json_errors);
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
  if (options.snp) {
    auto ovmf = read_input(options.ovmf_file, kMaxOvmfFileSize, "OVMF");
    if (!ovmf.ok()) return report_error(ovmf.status(), json_errors);
    auto prediction = predict_snp(options, *ovmf, {*kernel, initrd_view, *cmdline});
    if (!prediction.ok()) return report_error(prediction.status(), json_errors);
    print_snp_prediction(*prediction, options, *cmdline);
    return kExitOk;
  }
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

// SPDX-License-Identifier: Apache-2.0
// cc-measure: inspect, replay and verify confidential-computing measurements.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "ccfde/common/guarded_main.h"
#include "commands.h"
#include "output.h"

namespace {

// --json on every subcommand, as the issue and scripts expect it after the subcommand name.
void add_json_flag(CLI::App* command, bool& json) {
  command->add_flag("--json", json, "Print machine-readable JSON instead of text");
}

int run_main(int argc, char** argv) {
  using namespace ccfde::cc_measure;
  CLI::App app{
      "cc-measure: quotes, reports and event logs of confidential VMs (Intel TDX, AMD SEV-SNP).\n"
      "Exit status: 0 success, 1 a check failed, 2 bad input or error."};
  app.require_subcommand(1);
  // Global options such as --platform-root may also follow the subcommand.
  app.fallthrough();
  app.set_version_flag("--version", "cc-measure 0.1.0");

  ccfde::measure::PlatformPaths paths;
  std::string platform_root;
  app.add_option("--platform-root", platform_root,
                 "Prefix for every kernel interface path (testing against a fake tree)");

  InfoOptions info;
  auto* info_command =
      app.add_subcommand("info", "Detected TEE, evidence sources and kernel interfaces");
  add_json_flag(info_command, info.json);

  QuoteOptions quote;
  auto* quote_command = app.add_subcommand("quote", "Fetch a fresh quote (TDX) or report (SNP)");
  quote_command->add_option("--report-data", quote.report_data_hex,
                            "Up to 64 bytes of REPORTDATA in hex (zero-padded; default all zero)");
  quote_command->add_option("--out", quote.out_file, "Write the raw quote/report to FILE");
  quote_command->add_flag("--sample", quote.sample,
                          "Use the development-only `sample` source (no hardware, no security)");
  add_json_flag(quote_command, quote.json);

  ShowOptions show;
  auto* show_command = app.add_subcommand("show", "Parse and print a TDX quote or an SNP report");
  show_command->add_option("FILE", show.file, "Quote or report (binary, or hex text)")->required();
  add_json_flag(show_command, show.json);

  EventLogOptions eventlog;
  auto* eventlog_command = app.add_subcommand("eventlog", "Dump every event of an event log");
  eventlog_command->add_option("FILE", eventlog.file,
                               "TCG event log (CCEL data or TPM2 log); default: the platform's");
  eventlog_command->add_option("--ima", eventlog.ima_file, "Also dump an IMA measurement list");
  add_json_flag(eventlog_command, eventlog.json);

  ReplayOptions replay;
  auto* replay_command =
      app.add_subcommand("replay", "Replay an event log into registers; compare with a quote");
  replay_command->add_option("--eventlog", replay.eventlog_file,
                             "TCG event log (CCEL data or TPM2 log); default: the platform's");
  replay_command->add_option("--ima", replay.ima_file, "IMA measurement list (ascii or binary)");
  replay_command->add_option(
      "--quote", replay.quote_file,
      "TDX quote whose RTMRs must equal the replayed values (exit 1 if not)");
  add_json_flag(replay_command, replay.json);

  VerifyOptions verify;
  auto* verify_command =
      app.add_subcommand("verify", "Offline signature-chain check of a quote or report");
  verify_command->add_option("FILE", verify.file, "Quote or report")->required();
  verify_command
      ->add_option("--at", verify.at, "Verification time, RFC 3339 (e.g. 2026-06-01T00:00:00Z)")
      ->required();
  verify_command->add_option("--root", verify.root_file,
                             "TDX: trusted root CA in PEM (default: embedded Intel SGX Root CA)");
  verify_command->add_option("--vcek", verify.vcek_file, "SNP: the VCEK or VLEK (DER or PEM)");
  verify_command->add_option("--chain", verify.chain_file, "SNP: ASK/ASVK then ARK, in PEM");
  verify_command->add_option(
      "--collateral", verify.collateral_dir,
      "TDX: directory of Intel PCS collateral (tcb_info.json, qe_identity.json, pck_crl.der, "
      "root_ca_crl.der and their *_issuer_chain.pem): check revocation, QE identity and TCB "
      "status");
  verify_command->add_option("--accept-tcb-status", verify.accept_tcb_status,
                             "TDX with --collateral: accepted TCB statuses, comma-separated "
                             "(default UpToDate,SWHardeningNeeded)");
  verify_command->add_flag("--forbid-debug", verify.forbid_debug,
                           "Also fail (exit 1) when the TD/guest runs with debug enabled");
  add_json_flag(verify_command, verify.json);

  PredictOptions predict;
  auto* predict_command = app.add_subcommand(
      "predict",
      "TDX RTMR1/RTMR2 (or with --snp the SEV-SNP launch digest) of an OVMF direct boot "
      "(kernel, initrd, cmdline)");
  predict_command->add_option("--kernel", predict.kernel_file, "The kernel (bzImage with EFI stub)")
      ->required();
  predict_command->add_option("--initrd", predict.initrd_file,
                              "The initramfs, if the boot has one");
  auto* cmdline_option = predict_command->add_option("--cmdline", predict.cmdline,
                                                     "The kernel command line (-append)");
  predict_command
      ->add_option("--cmdline-file", predict.cmdline_file,
                   "Read the command line from a file (one trailing newline is dropped)")
      ->excludes(cmdline_option);
  predict_command
      ->add_option("--qemu-below-4g-memory", predict.qemu_below_4g_mib,
                   "MiB of guest RAM below 4 GiB, for firmware that measures the kernel as QEMU "
                   "patched it (see docs/OPERATIONS.md); omit when the kernel file is measured "
                   "unchanged")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{4096}));
  predict_command
      ->add_option("--format", predict.format,
                   "text (the events and registers), devkbs (a policy's \"tdx\" or \"snp\" "
                   "member) or trustee (an RVPS reference-value message)")
      ->check(CLI::IsMember({"text", "devkbs", "trustee"}));
  add_json_flag(predict_command, predict.json);
  predict_command->add_flag("--snp", predict.snp,
                            "SEV-SNP instead: the launch MEASUREMENT of a QEMU launch of an OVMF "
                            "AmdSev firmware with kernel-hashes=on");
  predict_command->add_option("--ovmf", predict.ovmf_file, "SNP: the OVMF AmdSev firmware image");
  predict_command->add_option("--ovmf-hash", predict.ovmf_hash,
                              "SNP: the firmware's published OVMF hash (hex), used instead of "
                              "hashing the pages of --ovmf (whose footer table is still read)");
  predict_command->add_option("--vcpus", predict.vcpus, "SNP: the number of vCPUs (-smp)")
      ->check(CLI::Range(std::uint32_t{1}, std::uint32_t{4096}));
  auto* vcpu_type_option = predict_command->add_option(
      "--vcpu-type", predict.vcpu_type, "SNP: the QEMU CPU model (-cpu), e.g. EPYC-Milan");
  predict_command
      ->add_option("--vcpu-sig", predict.vcpu_sig,
                   "SNP: the vCPU's CPUID signature (Fn0000_0001_EAX), decimal or 0x hex")
      ->excludes(vcpu_type_option);
  predict_command->add_option("--guest-features", predict.guest_features,
                              "SNP: the VMSA SEV_FEATURES, decimal or 0x hex (default 0x1; 0x21 "
                              "when the host kernel enables DebugSwap)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 prints help (exit 0) or the usage error; usage errors are "bad input" (2).
    const int status = app.exit(error);
    return status == 0 ? kExitOk : kExitError;
  }

  if (!platform_root.empty()) paths = ccfde::measure::PlatformPaths::rooted_at(platform_root);

  int status = kExitError;
  if (*info_command) status = run_info(info, paths);
  if (*quote_command) status = run_quote(quote, paths);
  if (*show_command) status = run_show(show);
  if (*eventlog_command) status = run_eventlog(eventlog, paths);
  if (*replay_command) status = run_replay(replay, paths);
  if (*verify_command) status = run_verify(verify);
  if (*predict_command) status = run_predict(predict);
  // The commands write stdout without checking each write: the stream's error indicator keeps
  // any failure (a full disk, a closed pipe), and this one check turns it into the exit status.
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    std::fprintf(stderr, "cc-measure: io_error: writing standard output failed\n");
    return kExitError;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  return ccfde::guarded_main("cc-measure", ccfde::cc_measure::kExitError, run_main, argc, argv);
}

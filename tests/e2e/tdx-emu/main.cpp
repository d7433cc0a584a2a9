// SPDX-License-Identifier: Apache-2.0
// cc-fde-tdx-emu: TEST ONLY. Emulates the configfs-tsm quote interface, the sysfs measurement
// registers (RTMR extension), the CCEL and the cpuinfo flag of an Intel TDX guest below a platform
// root, so that the production `tdx` evidence path runs in a VM without TDX. `serve --tee snp`
// emulates an AMD SEV-SNP guest instead: configfs-tsm with provider sev_guest (SNP reports and
// their certificate table) and the cpuinfo flags, for the production `snp` path. Its quotes and
// reports are signed by throwaway test chains and prove nothing.
#include <fcntl.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "ccfde/common/file_io.h"
#include "ccfde/common/guarded_main.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/measure/direct_boot.h"
#include "emulated_platform.h"
#include "fuse_mount.h"
#include "snp_platform.h"
#include "tdx_mr_fuse.h"
#include "tdx_mr_model.h"
#include "tsm_fuse.h"
#include "tsm_report_model.h"

namespace {

namespace fs = std::filesystem;
using namespace ccfde;
using namespace ccfde::tdx_emu;

constexpr char kReadyByte = 'R';

int fail(const Status& status) {
  std::fprintf(stderr, "cc-fde-tdx-emu: %s\n", status.to_string().c_str());
  return 1;
}

// What `serve` emulates: a TDX platform (`tdx`) or an SEV-SNP one (`snp`), and where.
struct Emulation {
  GuestTree tree;
  std::optional<EmulatedPlatform> tdx;
  std::optional<SnpPlatform> snp;
};

void announce(const Emulation& emulation) {
  if (emulation.snp) {
    std::fprintf(stderr,
                 "tdx-emu: serving configfs-tsm at %s as an SEV-SNP guest (provider sev_guest, "
                 "no measurement registers; TEST ONLY, not hardware)\n",
                 emulation.tree.report.c_str());
    return;
  }
  std::fprintf(stderr,
               "tdx-emu: serving configfs-tsm at %s and TDX measurement registers at %s (TEST "
               "ONLY, not hardware)\n",
               emulation.tree.report.c_str(), emulation.tree.measurements.c_str());
}

int run_make_platform(const std::string& out, const std::string& seed) {
  auto platform = make_platform(seed);
  if (!platform.ok()) return fail(platform.status());
  if (Status written = write_platform(*platform, out); !written.ok()) return fail(written);
  std::printf("tdx-emu: test platform written to %s (TEST ONLY: chain.pem holds private keys)\n",
              out.c_str());
  return 0;
}

constexpr std::uint64_t kMiB = std::uint64_t{1024} * 1024;

// What the host computes for one measured boot: the firmware's view of `kernel`, `initrd` and the
// command line in `cmdline_file`, as cc-measure predict models it, written for QEMU's fw_cfg.
struct MeasureBootOptions {
  std::string platform_dir;
  std::string kernel;
  std::string initrd;
  std::string cmdline_file;
  std::uint64_t below_4g_mib = 0;
  std::string out;
};

Status measure_boot(const MeasureBootOptions& options) {
  CCFDE_ASSIGN_OR_RETURN(EmulatedPlatform platform, read_platform(options.platform_dir));
  CCFDE_ASSIGN_OR_RETURN(const Bytes kernel, read_file(options.kernel, std::size_t{1} << 31));
  std::optional<Bytes> initrd;
  if (!options.initrd.empty()) {
    CCFDE_ASSIGN_OR_RETURN(initrd, read_file(options.initrd, std::size_t{1} << 31));
  }
  CCFDE_ASSIGN_OR_RETURN(const Bytes cmdline_bytes, read_file(options.cmdline_file, 1 << 16));
  std::string cmdline(cmdline_bytes.begin(), cmdline_bytes.end());
  if (!cmdline.empty() && cmdline.back() == '\n') cmdline.pop_back();
  std::optional<std::span<const std::uint8_t>> initrd_view;
  if (initrd) initrd_view = *initrd;
  CCFDE_ASSIGN_OR_RETURN(
      const auto prediction,
      measure::predict_qemu_direct_boot(kernel, initrd_view, cmdline, options.below_4g_mib * kMiB));
  CCFDE_ASSIGN_OR_RETURN(const EmulatedPlatform booted,
                         measured_boot_platform(std::move(platform), prediction));
  return write_boot_measurements(booted, cmdline, options.out);
}

// The kernel must have booted with the command line the host measured: read from `proc_cmdline`
// (/proc/cmdline, which ends with a newline).
Status check_booted_cmdline(const std::string& measured, const std::string& proc_cmdline) {
  CCFDE_ASSIGN_OR_RETURN(const Bytes bytes, read_file(proc_cmdline, 1 << 16));
  std::string booted(bytes.begin(), bytes.end());
  while (!booted.empty() && (booted.back() == '\n' || booted.back() == ' ')) booted.pop_back();
  if (booted != measured) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the kernel booted with the command line \"{}\" ({}), but the host "
                      "measured \"{}\"",
                      booted, proc_cmdline, measured);
  }
  return Status();
}

// The daemon child's stdin and stdout go to /dev/null, so that a caller capturing them is not
// held open; stderr stays for its errors.
Status detach_standard_streams() {
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null || ::dup2(null.get(), STDIN_FILENO) < 0 || ::dup2(null.get(), STDOUT_FILENO) < 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot redirect to /dev/null");
  }
  return Status();
}

template <typename OnReady>
Status announce_ready(const std::string& pid_file, OnReady& ready) {
  if (!pid_file.empty()) {
    const std::string pid = std::to_string(::getpid()) + "\n";
    CCFDE_RETURN_IF_ERROR(write_file(pid_file, as_bytes(pid)));
  }
  return ready();
}

// TDX: mounts both file systems and serves them; `ready` is called once they are in place. One
// thread answers both, so a quote generated after an RTMR write carries the extended value.
// SNP: mounts configfs-tsm only; every report of this process carries one REPORT_ID (one launch).
template <typename OnReady>
Status mount_and_serve(const Emulation& emulation, const std::string& pid_file, OnReady ready) {
  CCFDE_ASSIGN_OR_RETURN(auto signals, TerminationSignals::block());
  if (emulation.snp) {
    const SnpPlatform& platform = *emulation.snp;
    CCFDE_ASSIGN_OR_RETURN(const auto report_id, new_snp_report_id());
    TsmReportModel reports(
        kSevGuestProvider,
        [&platform, &report_id](std::span<const std::uint8_t, kInblobSize> inblob,
                                unsigned privlevel) -> Result<TsmReport> {
          CCFDE_ASSIGN_OR_RETURN(Bytes report,
                                 snp_report_for(platform, report_id, privlevel, inblob));
          return TsmReport{std::move(report), snp_certificate_table(platform)};
        });
    CCFDE_ASSIGN_OR_RETURN(auto report_mount, mount_tsm_report(emulation.tree.report, reports));
    CCFDE_RETURN_IF_ERROR(announce_ready(pid_file, ready));
    FuseMount* const mounts[] = {report_mount.get()};
    return serve_fuse_mounts(mounts, *signals);
  }
  const EmulatedPlatform& platform = *emulation.tdx;
  TdxMrModel registers(platform.mr_td, platform.mr_config_id, platform.rtmr);
  TsmReportModel reports(kTdxGuestProvider,
                         [&platform, &registers](std::span<const std::uint8_t, kInblobSize> inblob,
                                                 unsigned) -> Result<TsmReport> {
                           return TsmReport{quote_for(platform, registers.rtmrs(), inblob), {}};
                         });
  CCFDE_ASSIGN_OR_RETURN(auto report_mount, mount_tsm_report(emulation.tree.report, reports));
  CCFDE_ASSIGN_OR_RETURN(auto register_mount,
                         mount_tdx_measurements(emulation.tree.measurements, registers));
  CCFDE_RETURN_IF_ERROR(announce_ready(pid_file, ready));
  FuseMount* const mounts[] = {report_mount.get(), register_mount.get()};
  return serve_fuse_mounts(mounts, *signals);
}

// Where a TDX emulation's boot measurements come from.
struct BootSource {
  std::string fw_cfg_dir;     // empty: the platform's own (make-platform's sample boot)
  std::string check_cmdline;  // empty: no check
};

// Reads the platform of `tee` ("tdx" or "snp") from `platform_dir` (TDX: with the measured boot
// of `boot` when it names one) and installs its guest tree below `root`.
Result<Emulation> prepare_emulation(const std::string& tee, const std::string& platform_dir,
                                    const BootSource& boot, const fs::path& root) {
  Emulation emulation;
  if (tee == "snp") {
    auto platform = read_snp_platform(platform_dir);
    if (!platform.ok()) return platform.status().with_context(platform_dir);
    emulation.snp = std::move(platform).value();
    CCFDE_ASSIGN_OR_RETURN(emulation.tree, install_snp_guest_tree(root));
    return emulation;
  }
  CCFDE_ASSIGN_OR_RETURN(emulation.tdx, read_platform(platform_dir));
  if (!boot.fw_cfg_dir.empty()) {
    auto measured = read_fw_cfg_boot(std::move(*emulation.tdx), boot.fw_cfg_dir);
    if (!measured.ok()) return measured.status().with_context("the host's boot measurements");
    if (!boot.check_cmdline.empty()) {
      CCFDE_RETURN_IF_ERROR(check_booted_cmdline(measured->cmdline, boot.check_cmdline));
    }
    emulation.tdx = std::move(measured->platform);
  }
  CCFDE_ASSIGN_OR_RETURN(emulation.tree, install_guest_tree(*emulation.tdx, root));
  return emulation;
}

// systemd kills every process left at switch-root (and at the end of shutdown) except those
// whose argv[0] starts with '@' (docs/ROOT_STORAGE_DAEMONS.md in systemd; src/shared/killall.c).
// The booted system attests through this emulation too, so in the initrd it must survive the
// switch: its mounts under /run move with /run, and its process keeps the RTMR state. Only
// argv[0][0] changes; /proc/self/comm stays, as that document asks.
void mark_root_storage_daemon(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr && argv[0][0] != '\0') argv[0][0] = '@';
}

int run_serve(const std::string& tee, const std::string& platform_dir, const BootSource& boot,
              const std::string& root, bool daemon, const std::string& pid_file) {
  auto prepared = prepare_emulation(tee, platform_dir, boot, fs::absolute(root));
  if (!prepared.ok()) return fail(prepared.status());
  const Emulation& emulation = *prepared;

  if (!daemon) {
    const Status served = mount_and_serve(emulation, pid_file, [&emulation] {
      announce(emulation);
      (void)sd_notify(0, "READY=1");
      return Status();
    });
    (void)sd_notify(0, "STOPPING=1");
    return served.ok() ? 0 : fail(served);
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return fail(make_errno_error(ErrorCode::kIoError, errno, "pipe failed"));
  }
  UniqueFd ready_read(pipe_fds[0]);
  UniqueFd ready_write(pipe_fds[1]);
  (void)std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) return fail(make_errno_error(ErrorCode::kIoError, errno, "fork failed"));
  if (child == 0) {
    ready_read.reset();
    (void)::setsid();
    const Status served = mount_and_serve(emulation, pid_file, [&ready_write] {
      CCFDE_RETURN_IF_ERROR(detach_standard_streams());
      const std::uint8_t byte = kReadyByte;
      if (const int error = write_all(ready_write.get(), {&byte, 1}); error != 0) {
        return make_errno_error(ErrorCode::kIoError, error, "cannot report readiness");
      }
      ready_write.reset();
      return Status();
    });
    return served.ok() ? 0 : fail(served);
  }
  // The parent: the child's byte means the mount is ready; end of file means it gave up.
  ready_write.reset();
  Bytes answer;
  const int error = read_all(ready_read.get(), answer, 1);
  if (error == 0 && answer.size() == 1 && answer[0] == kReadyByte) {
    announce(emulation);
    return 0;
  }
  int child_status = 0;
  (void)::waitpid(child, &child_status, 0);
  std::fprintf(stderr, "cc-fde-tdx-emu: the serving process exited before the mount was ready\n");
  return 1;
}

int run_main(int argc, char** argv) {
  CLI::App app{
      "cc-fde-tdx-emu: TEST ONLY emulation of Intel TDX's configfs-tsm quote interface, CCEL and "
      "cpuinfo below a platform root (or, with serve --tee snp, of an AMD SEV-SNP guest's "
      "configfs-tsm). Its quotes and reports are signed by throwaway test chains."};
  app.require_subcommand(1);

  std::string out;
  std::string seed(kDefaultMrTdSeed);
  auto* make = app.add_subcommand(
      "make-platform", "Generate a test platform: chain.pem, root.pem, CCEL files, reference.json");
  make->add_option("--out", out, "Directory to write the platform to")->required();
  make->add_option("--mr-td-seed", seed, "MRTD = SHA-384 of this text")->capture_default_str();

  MeasureBootOptions measure;
  auto* measure_command = app.add_subcommand(
      "measure-boot",
      "Compute the CCEL and RTMRs of a direct boot of KERNEL, INITRD and the command line on the "
      "platform (OVMF and the EFI stub, as cc-measure predict models them) into OUT, for QEMU's "
      "-fw_cfg");
  measure_command->add_option("--platform", measure.platform_dir, "Directory of make-platform")
      ->required();
  measure_command->add_option("--kernel", measure.kernel, "The kernel QEMU boots (-kernel)")
      ->required();
  measure_command->add_option("--initrd", measure.initrd, "The initrd (-initrd)");
  measure_command
      ->add_option("--cmdline-file", measure.cmdline_file,
                   "File holding the command line (-append; one trailing newline is ignored)")
      ->required();
  measure_command
      ->add_option("--qemu-below-4g-memory", measure.below_4g_mib,
                   "Guest RAM below 4 GiB in MiB: measure the kernel as QEMU patches it (0: the "
                   "file as it is)")
      ->required();
  measure_command->add_option("--out", measure.out, "Directory to write the files to")->required();

  BootSource boot;
  std::string platform_dir;
  std::string root;
  std::string pid_file;
  std::string tee = "tdx";
  bool daemon = false;
  bool survive_switch_root = false;
  auto* serve = app.add_subcommand(
      "serve",
      "Install the platform below ROOT and serve configfs-tsm and the measurement registers there "
      "until SIGTERM");
  serve
      ->add_option("--tee", tee,
                   "tdx: a TDX guest (configfs-tsm tdx_guest, RTMRs, CCEL); snp: an SEV-SNP guest "
                   "(configfs-tsm sev_guest)")
      ->check(CLI::IsMember({"tdx", "snp"}))
      ->capture_default_str();
  serve
      ->add_option("--platform", platform_dir,
                   "Directory written by make-platform (tdx), or with vcek-key.pem, vcek.der and "
                   "reference.json (snp, made by tests/e2e/lib/snp.sh)")
      ->required();
  serve->add_option("--root", root, "Platform root (the agent's evidence.platform_root)")
      ->required();
  serve->add_option("--boot-fw-cfg", boot.fw_cfg_dir,
                    "tdx: serve the measured boot the host passed through fw_cfg (DIR/NAME/raw, "
                    "the files of measure-boot, and optionally mrconfigid: 48 raw bytes, the "
                    "MRCONFIGID of the registers and quotes) instead of the platform's sample "
                    "boot");
  serve->add_option("--check-cmdline", boot.check_cmdline,
                    "With --boot-fw-cfg: refuse to serve unless FILE (/proc/cmdline) holds the "
                    "measured command line");
  serve->add_flag("--daemon", daemon, "Return once the mount is ready; a child keeps serving");
  serve->add_option("--pid-file", pid_file, "Write the serving process's id to FILE");
  serve->add_flag("--survive-switch-root", survive_switch_root,
                  "Set argv[0][0] to '@' (a systemd root storage daemon), so that systemd's "
                  "switch-root and final kill spare the process (for the initrd unit)");
  CLI11_PARSE(app, argc, argv);

  if (make->parsed()) return run_make_platform(out, seed);
  if (measure_command->parsed()) {
    const Status measured = measure_boot(measure);
    if (!measured.ok()) return fail(measured);
    std::printf("tdx-emu: boot measurements written to %s\n", measure.out.c_str());
    return 0;
  }
  if (survive_switch_root) mark_root_storage_daemon(argc, argv);
  return run_serve(tee, platform_dir, boot, root, daemon, pid_file);
}

}  // namespace

int main(int argc, char** argv) {
  return ccfde::guarded_main("cc-fde-tdx-emu", 1, run_main, argc, argv);
}

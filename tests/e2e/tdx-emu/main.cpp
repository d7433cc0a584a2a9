// SPDX-License-Identifier: Apache-2.0
// cc-fde-tdx-emu: TEST ONLY. Emulates the configfs-tsm quote interface, the sysfs measurement
// registers (RTMR extension), the CCEL and the cpuinfo flag of an Intel TDX guest below a platform
// root, so that the production `tdx` evidence path runs in a VM without TDX. Its quotes are
// signed by a throwaway test chain and prove nothing.
#include <fcntl.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "emulated_platform.h"
#include "fuse_mount.h"
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

void announce(const GuestTree& tree) {
  std::fprintf(stderr,
               "tdx-emu: serving configfs-tsm at %s and TDX measurement registers at %s (TEST "
               "ONLY, not hardware)\n",
               tree.report.c_str(), tree.measurements.c_str());
}

int run_make_platform(const std::string& out, const std::string& seed) {
  auto platform = make_platform(seed);
  if (!platform.ok()) return fail(platform.status());
  if (Status written = write_platform(*platform, out); !written.ok()) return fail(written);
  std::printf("tdx-emu: test platform written to %s (TEST ONLY: chain.pem holds private keys)\n",
              out.c_str());
  return 0;
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

// Mounts both file systems and serves them; `ready` is called once they are in place. One thread
// answers both, so a quote generated after an RTMR write carries the extended value.
template <typename OnReady>
Status mount_and_serve(const GuestTree& tree, const EmulatedPlatform& platform,
                       const std::string& pid_file, OnReady ready) {
  CCFDE_ASSIGN_OR_RETURN(auto signals, TerminationSignals::block());
  TdxMrModel registers(platform.mr_td, platform.rtmr);
  TsmReportModel reports(
      [&platform, &registers](std::span<const std::uint8_t, kInblobSize> inblob) {
        return Result<Bytes>(quote_for(platform, registers.rtmrs(), inblob));
      });
  CCFDE_ASSIGN_OR_RETURN(auto report_mount, mount_tsm_report(tree.report, reports));
  CCFDE_ASSIGN_OR_RETURN(auto register_mount, mount_tdx_measurements(tree.measurements, registers));
  if (!pid_file.empty()) {
    const std::string pid = std::to_string(::getpid()) + "\n";
    CCFDE_RETURN_IF_ERROR(write_file(pid_file, as_bytes(pid)));
  }
  CCFDE_RETURN_IF_ERROR(ready());
  FuseMount* const mounts[] = {report_mount.get(), register_mount.get()};
  return serve_fuse_mounts(mounts, *signals);
}

// systemd kills every process left at switch-root (and at the end of shutdown) except those
// whose argv[0] starts with '@' (docs/ROOT_STORAGE_DAEMONS.md in systemd; src/shared/killall.c).
// The booted system attests through this emulation too, so in the initrd it must survive the
// switch: its mounts under /run move with /run, and its process keeps the RTMR state. Only
// argv[0][0] changes; /proc/self/comm stays, as that document asks.
void mark_root_storage_daemon(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr && argv[0][0] != '\0') argv[0][0] = '@';
}

int run_serve(const std::string& platform_dir, const std::string& root, bool daemon,
              const std::string& pid_file) {
  auto platform = read_platform(platform_dir);
  if (!platform.ok()) return fail(platform.status());
  auto installed = install_guest_tree(*platform, fs::absolute(root));
  if (!installed.ok()) return fail(installed.status());
  const GuestTree tree = *installed;

  if (!daemon) {
    const Status served = mount_and_serve(tree, *platform, pid_file, [&tree] {
      announce(tree);
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
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) return fail(make_errno_error(ErrorCode::kIoError, errno, "fork failed"));
  if (child == 0) {
    ready_read.reset();
    (void)::setsid();
    const Status served = mount_and_serve(tree, *platform, pid_file, [&ready_write] {
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
    announce(tree);
    return 0;
  }
  int child_status = 0;
  (void)::waitpid(child, &child_status, 0);
  std::fprintf(stderr, "cc-fde-tdx-emu: the serving process exited before the mount was ready\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cc-fde-tdx-emu: TEST ONLY emulation of Intel TDX's configfs-tsm quote interface, CCEL and "
      "cpuinfo below a platform root. Its quotes are signed by a throwaway test chain."};
  app.require_subcommand(1);

  std::string out;
  std::string seed(kDefaultMrTdSeed);
  auto* make = app.add_subcommand(
      "make-platform", "Generate a test platform: chain.pem, root.pem, CCEL files, reference.json");
  make->add_option("--out", out, "Directory to write the platform to")->required();
  make->add_option("--mr-td-seed", seed, "MRTD = SHA-384 of this text")->capture_default_str();

  std::string platform_dir;
  std::string root;
  std::string pid_file;
  bool daemon = false;
  bool survive_switch_root = false;
  auto* serve = app.add_subcommand(
      "serve",
      "Install the platform below ROOT and serve configfs-tsm and the measurement registers there "
      "until SIGTERM");
  serve->add_option("--platform", platform_dir, "Directory written by make-platform")->required();
  serve->add_option("--root", root, "Platform root (the agent's evidence.platform_root)")
      ->required();
  serve->add_flag("--daemon", daemon, "Return once the mount is ready; a child keeps serving");
  serve->add_option("--pid-file", pid_file, "Write the serving process's id to FILE");
  serve->add_flag("--survive-switch-root", survive_switch_root,
                  "Set argv[0][0] to '@' (a systemd root storage daemon), so that systemd's "
                  "switch-root and final kill spare the process (for the initrd unit)");
  CLI11_PARSE(app, argc, argv);

  if (make->parsed()) return run_make_platform(out, seed);
  if (survive_switch_root) mark_root_storage_daemon(argc, argv);
  return run_serve(platform_dir, root, daemon, pid_file);
}

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace ccfde {
namespace {

// posix_spawn's file actions and attributes, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    actions_ok_ = ::posix_spawn_file_actions_init(&actions_) == 0;
    attributes_ok_ = ::posix_spawnattr_init(&attributes_) == 0;
  }
  ~SpawnSetup() {
    if (actions_ok_) ::posix_spawn_file_actions_destroy(&actions_);
    if (attributes_ok_) ::posix_spawnattr_destroy(&attributes_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  bool ok() const { return actions_ok_ && attributes_ok_; }
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attributes() { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_{};
  posix_spawnattr_t attributes_{};
  bool actions_ok_ = false;
  bool attributes_ok_ = false;
};

}  // namespace

Status run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout) {
  if (!program.is_absolute()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: a helper program needs an absolute path",
                      program.string());
  }
  if (::access(program.c_str(), X_OK) != 0) {
    return make_errno_error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, errno,
                            "{}: cannot run it", program.string());
  }
  SpawnSetup setup;
  if (!setup.ok() || ::posix_spawn_file_actions_addopen(setup.actions(), STDIN_FILENO, "/dev/null",
                                                        O_RDONLY, 0) != 0) {
    return make_error(ErrorCode::kIoError, "{}: cannot prepare to start it", program.string());
  }
  // The child starts with default signal handling, whatever the agent blocks or ignores.
  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(setup.attributes(), &all);
  ::posix_spawnattr_setsigmask(setup.attributes(), &none);
  ::posix_spawnattr_setflags(setup.attributes(), POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back(program.string());
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (auto& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string path_variable = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  std::string locale_variable = "LC_ALL=C";
  char* envp[] = {path_variable.data(), locale_variable.data(), nullptr};

  pid_t pid = -1;
  if (const int error = ::posix_spawn(&pid, program.c_str(), setup.actions(), setup.attributes(),
                                      argv.data(), envp);
      error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "{}: cannot start it", program.string());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      return make_errno_error(ErrorCode::kIoError, errno, "{}: cannot wait for it",
                              program.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      pid_t reaped = -1;
      do {
        reaped = ::waitpid(pid, &status, 0);
      } while (reaped < 0 && errno == EINTR);
      return make_error(ErrorCode::kDeadlineExceeded, "{}: still running after {} ms, killed",
                        program.string(), timeout.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status();
  if (WIFEXITED(status)) {
    return make_error(ErrorCode::kIoError, "{} exited with status {}", program.string(),
                      WEXITSTATUS(status));
  }
  return make_error(ErrorCode::kIoError, "{} was killed by signal {}", program.string(),
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace ccfde

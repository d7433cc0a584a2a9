// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/jwcrypto.h"

#include <sys/wait.h>
#include <unistd.h>

namespace ccfde::testing {
namespace {

int run_python(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(kDebianPython));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execv(kDebianPython, argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace

bool jwcrypto_available() {
  static const bool available = access(kDebianPython, X_OK) == 0 &&
                                run_python({"-c", "import jwcrypto.jwe, jwcrypto.jwk"}) == 0;
  return available;
}

int run_jwcrypto(const std::vector<std::string>& args) {
  std::vector<std::string> full = {CCFDE_JWCRYPTO_SCRIPT};
  full.insert(full.end(), args.begin(), args.end());
  return run_python(full);
}

}  // namespace ccfde::testing

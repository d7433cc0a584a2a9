// SPDX-License-Identifier: Apache-2.0
// Debian's python3-jwcrypto as an independent JOSE implementation for interoperability tests,
// driven through tests/support/jwcrypto_interop.py (keys, JWEs and plaintexts travel in files;
// argv carries only paths and algorithm names).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ccfde::testing {

// Debian's interpreter, which has jwcrypto (the python3 on PATH may be another one).
inline constexpr const char* kDebianPython = "/usr/bin/python3";

// Whether kDebianPython can import jwcrypto (checked once).
bool jwcrypto_available();

// Runs jwcrypto_interop.py with `args` (see the script's usage); returns its exit status, or -1
// when it could not run.
int run_jwcrypto(const std::vector<std::string>& args);

}  // namespace ccfde::testing

#define CCFDE_SKIP_WITHOUT_JWCRYPTO()                                                           \
  if (!::ccfde::testing::jwcrypto_available()) {                                                \
    GTEST_SKIP() << "python3-jwcrypto is not importable by " << ::ccfde::testing::kDebianPython \
                 << " (apt-get install python3-jwcrypto); interoperability not checked";        \
  }

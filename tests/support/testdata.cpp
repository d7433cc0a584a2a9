// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/testdata.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace ccfde::testing {

std::filesystem::path testdata_dir() {
  if (const char* override_dir = std::getenv("CCFDE_TESTDATA_DIR"); override_dir && *override_dir) {
    return override_dir;
  }
  return CCFDE_TESTDATA_DIR;
}

std::filesystem::path testdata_path(const std::string& relative) {
  return testdata_dir() / relative;
}

std::optional<std::vector<std::uint8_t>> load_testdata(const std::string& relative) {
  std::ifstream in(testdata_path(relative), std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "ccfde-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace ccfde::testing

// Access to the shared test vectors (../shared/testdata, or the CCFDE_TESTDATA_DIR cache
// variable; the CCFDE_TESTDATA_DIR environment variable overrides both at run time).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ccfde::testing {

// The configured test-vector folder (it may not exist).
std::filesystem::path testdata_dir();

// The bytes of `relative` below testdata_dir(), or nullopt when the folder or file is absent.
std::optional<std::vector<std::uint8_t>> load_testdata(const std::string& relative);

// The full path of `relative` below testdata_dir().
std::filesystem::path testdata_path(const std::string& relative);

// A fresh, empty directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ccfde::testing

// Skips the current test with a clear message when the test-vector file is absent; otherwise
// declares `var` as std::vector<uint8_t> holding its bytes.
#define CCFDE_LOAD_TESTDATA_OR_SKIP(var, relative)                                         \
  auto var##_optional = ::ccfde::testing::load_testdata(relative);                         \
  if (!var##_optional) {                                                                   \
    GTEST_SKIP() << "test vector " << ::ccfde::testing::testdata_path(relative).string()   \
                 << " is absent (set -DCCFDE_TESTDATA_DIR=... or CCFDE_TESTDATA_DIR=...)"; \
  }                                                                                        \
  std::vector<std::uint8_t> var = std::move(*var##_optional)

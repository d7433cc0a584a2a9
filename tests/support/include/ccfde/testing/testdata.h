// SPDX-License-Identifier: Apache-2.0
// Access to the test vectors the repository carries in tests/data (the CCFDE_TESTDATA_DIR cache
// variable, which defaults to that folder; the CCFDE_TESTDATA_DIR environment variable overrides it
// at run time). Provenance and licences of the vectors: tests/data/README.md.
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

// Declares `var` as std::vector<uint8_t> holding the bytes of the test-vector file; the vectors
// are part of the repository, so an absent file fails the current test (FAIL() returns from it).
#define CCFDE_LOAD_TESTDATA(var, relative)                                                      \
  auto var##_optional = ::ccfde::testing::load_testdata(relative);                              \
  if (!var##_optional) {                                                                        \
    FAIL() << "test vector " << ::ccfde::testing::testdata_path(relative).string()              \
           << " is absent: the repository carries it in tests/data (is CCFDE_TESTDATA_DIR set " \
              "to another folder?)";                                                            \
  }                                                                                             \
  std::vector<std::uint8_t> var = std::move(*var##_optional)

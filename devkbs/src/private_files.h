// SPDX-License-Identifier: Apache-2.0
// Files of the devkbs state directory: private (0700 directories, 0600 files, atomic writes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "ccfde/common/status.h"

namespace ccfde::devkbs {

// Creates `dir` and its missing parents with mode 0700. kIoError naming the directory.
Status make_private_directories(const std::filesystem::path& dir);

// Writes `bytes` to `path` atomically (a temporary file in the same directory, fsync, rename)
// with mode 0600; never follows a symbolic link at the temporary name. kIoError naming the file.
Status write_private_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

}  // namespace ccfde::devkbs

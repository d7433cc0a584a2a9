// SPDX-License-Identifier: Apache-2.0
// Writing a secret to a file for an operator who asked for it explicitly (fdectl kbs get --out).
#pragma once

#include <filesystem>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::fdectl {

// Writes `secret` to `path` with mode 0600: into a new temporary file in the same directory,
// fsync'd, then renamed over `path`, so a crash never leaves a partial key and the file is never
// readable by others, even for a moment. kIoError naming the path otherwise; on failure nothing is
// left behind.
Status write_secret_file(const std::filesystem::path& path, const SecretBytes& secret);

}  // namespace ccfde::fdectl

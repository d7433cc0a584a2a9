// SPDX-License-Identifier: Apache-2.0
// Editing LUKS2 headers of image files in tests, for header shapes that cannot be made on a host
// without device-mapper (libcryptsetup formats dm-integrity through a temporary mapping).
#pragma once

#include <filesystem>
#include <string_view>

namespace ccfde::testing {

// Sets (or, with "", removes) the "integrity" member of data segment 0 in both LUKS2 header
// copies of `image` and recomputes their SHA-256 checksums, as a host editing the header would.
// The data area is not touched: such a volume is for header checks, not for activation. Fails the
// current test (ADD_FAILURE) when the image holds no LUKS2 header with a sha256 checksum.
void set_segment_integrity(const std::filesystem::path& image, std::string_view integrity);

}  // namespace ccfde::testing

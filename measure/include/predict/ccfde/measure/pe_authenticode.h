// SPDX-License-Identifier: Apache-2.0
// The Authenticode digest of a PE/COFF image: what UEFI firmware extends for an
// EV_EFI_BOOT_SERVICES_APPLICATION (the kernel of a direct boot, a boot loader, a UKI).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

// The Authenticode image hash of `image` (Microsoft "Windows Authenticode Portable Executable
// Signature Format", "Calculating the PE Image Hash"), computed as EDK2 computes it for measured
// boot (tianocore/edk2 SecurityPkg/Library/DxeTpm2MeasureBootLib/DxeTpm2MeasureBootLib.c,
// Tcg2MeasurePeImage): the headers without the CheckSum field and the Certificate Table entry,
// then every section with raw data in file order, then any data after the last section except
// the attribute certificate table. A signed and an unsigned copy of an image have the same digest.
// Errors: kTruncated or kMalformed naming the field (a missing "MZ"/"PE" signature, an unknown
// optional-header magic, a header or section outside the file, a certificate table that does not
// end the file).
Result<std::vector<std::uint8_t>> authenticode_digest(std::span<const std::uint8_t> image,
                                                      DigestAlgorithm algorithm);

}  // namespace ccfde::measure

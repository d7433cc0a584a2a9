// SPDX-License-Identifier: Apache-2.0
// Values handed to a VM in its SMBIOS OEM strings (structure type 11, DMTF DSP0134 "OEM Strings"),
// written as systemd credentials ("io.systemd.credential:NAME=VALUE" and
// "io.systemd.credential.binary:NAME=BASE64": systemd/systemd, man/smbios-type-11.xml, commit
// a33168c0875e, read by src/core/import-creds.c), e.g. with QEMU's
// `-smbios type=11,value=io.systemd.credential.binary:cc-fde.init-data=<base64>`. Linux shows each
// type-11 structure as /sys/firmware/dmi/entries/11-<n>/raw. This is how a launcher can give a
// generic image its Trustee init-data. The host writes these strings: they hold nothing secret,
// and init-data is trusted only once its digest matches the evidence (init_data.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/kbs-client/init_data.h"

namespace ccfde::kbs_client {

// The SMBIOS type of the OEM Strings structure.
inline constexpr std::uint8_t kSmbiosOemStringsType = 11;

// The largest type-11 structure read (SMBIOS strings are short; QEMU's are a few KiB at most).
inline constexpr std::size_t kMaxSmbiosStructureSize = std::size_t{256} * 1024;

// The strings of one OEM Strings structure, as `raw` holds it: type 11, a formatted area of
// `length` (>= 5) bytes whose byte 4 is the string count, then that many NUL-terminated strings
// and a final NUL (two NULs when there is none). Errors: kTruncated when the formatted area or a
// string runs past the end; kMalformed naming the problem (another type, a length below 5, a
// count that differs from the strings present, no final NUL, bytes after it).
Result<std::vector<std::string>> parse_smbios_oem_strings(std::span<const std::uint8_t> raw);

// The value of credential `name` among `strings`: the text after
// "io.systemd.credential:<name>=", or the base64 decoding of what follows
// "io.systemd.credential.binary:<name>=". Errors: kInvalidArgument (an empty `name`, or one with
// '=' or ':'), kNotFound (no string defines it), kMalformed
// (two strings define it: a launcher must not leave the choice to the order of the table; or its
// binary value is not base64).
Result<std::vector<std::uint8_t>> find_smbios_credential(std::span<const std::string> strings,
                                                         std::string_view name);

// Credential `name` from the OEM Strings structures below `entries_dir` (every "11-<n>/raw", as
// one set of strings). Errors: kNotFound (no type-11 structure, or none defines it), those of
// reading the files, of parse_smbios_oem_strings (naming the file) and of find_smbios_credential.
Result<std::vector<std::uint8_t>> read_smbios_credential(const std::filesystem::path& entries_dir,
                                                         std::string_view name);

// The init-data document of credential `name` (read_smbios_credential, then parse_init_data),
// errors prefixed with "init-data from SMBIOS credential <name>".
Result<InitData> read_init_data_smbios(const std::filesystem::path& entries_dir,
                                       std::string_view name);

}  // namespace ccfde::kbs_client

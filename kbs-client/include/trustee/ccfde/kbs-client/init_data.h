// SPDX-License-Identifier: Apache-2.0
// Trustee init-data: a TOML document whoever launches the VM supplies, whose digest the launch
// binds into a TEE register (MRCONFIGID on TDX, HOST_DATA on SEV-SNP), and whose `data` table a
// broker then trusts as claims (confidential-containers/trustee kbs/docs/initdata.md and
// attestation-service/src/lib.rs, parse_init_data, @ 78962cd416dc).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// The largest init-data document accepted (a configuration, not a payload).
inline constexpr std::size_t kMaxInitDataSize = std::size_t{256} * 1024;

struct InitData {
  std::string body;     // the TOML text, byte for byte as sent
  std::string version;  // "0.1.0"
  DigestAlgorithm algorithm = DigestAlgorithm::kSha384;
  std::map<std::string, std::string, std::less<>> data;  // the [data] table
};

// Parses an init-data TOML document as Trustee's attestation service does: top-level `version`
// (a string; only "0.1.0" is defined), `algorithm` ("sha256", "sha384" or "sha512", exactly:
// Trustee's serde names) and a `data` table whose every value is a string. Other top-level keys
// are ignored, as Trustee ignores them. Errors: kInvalidArgument for a document over
// kMaxInitDataSize or with a NUL byte, kMalformed for TOML syntax (naming line and column) or a
// missing or ill-typed member (naming it), kUnsupportedVersion, kUnsupportedAlgorithm.
Result<InitData> parse_init_data(std::string_view toml_body);

// Reads and parses the init-data document in `path` (a regular file or a firmware interface such
// as /sys/firmware/qemu_fw_cfg/by_name/<name>/raw). Errors: those of read_file and
// parse_init_data, prefixed with "init-data <path>".
Result<InitData> read_init_data_file(const std::filesystem::path& path);

// The init-data digest as a register holds it: the digest of `body` under the document's
// algorithm, zero-padded or truncated to `register_size` bytes (48 for TDX MRCONFIGID, 32 for SNP
// HOST_DATA), as Trustee's verifiers compare it (deps/verifier/src/lib.rs, regularize_data).
Result<std::vector<std::uint8_t>> init_data_register_value(const InitData& init_data,
                                                           std::size_t register_size);

// Checks that `register_value` (the register named `register_name`, read from verified evidence)
// holds the digest of `init_data`. kMeasurementMismatch naming the register and both values.
Status check_init_data_binding(const InitData& init_data,
                               std::span<const std::uint8_t> register_value,
                               std::string_view register_name);

}  // namespace ccfde::kbs_client

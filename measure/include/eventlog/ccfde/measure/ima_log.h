// SPDX-License-Identifier: Apache-2.0
// The IMA measurement list (docs/reference/MEASUREMENT-FORMATS.md §4.6), ASCII
// (/sys/kernel/security/ima/ascii_runtime_measurements) and binary
// (binary_runtime_measurements[_<algo>]). Templates ima-ng, ima-sig and ima-buf are understood
// (their template data is d-ng|n-ng[|sig or buf]); the legacy "ima" template is not.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

struct ImaEntry {
  std::size_t index = 0;              // entry number, from 0
  std::size_t offset = 0;             // byte offset of the line / record in the input
  std::uint32_t register_index = 0;   // PCR (normally 10) or, with IMA over RTMR, the RTMR index
  Bytes template_hash;                // as listed; all zero for a violation
  std::string template_name;          // "ima-ng", "ima-sig", "ima-buf"
  Bytes template_data;                // binary template data (rebuilt from the line for ASCII)
  std::string file_digest_algorithm;  // "sha256", "sha384", ... (the "<algo>:" prefix)
  Bytes file_digest;
  std::string path;              // n-ng field, without its NUL
  Bytes extra;                   // the signature (ima-sig) or buffer (ima-buf); empty when absent
  bool violation = false;        // the listed template hash is all zero (ToMToU / open-writers)
  Bytes computed_template_hash;  // H(template_data) with the list's template-hash algorithm
  bool template_hash_matches = false;  // computed == listed (false for violations)
};

struct ImaLog {
  DigestAlgorithm template_hash_algorithm = DigestAlgorithm::kSha1;
  std::vector<ImaEntry> entries;
};

// Parses the ASCII list: one entry per line, "<pcr> <template-hash hex> <template-name>
// <algo>:<filedigest hex> <path>[ <sig or buf hex>]", leading and trailing whitespace tolerated,
// empty lines skipped. The template-hash algorithm follows from the hash length (20, 32, 48, 64
// bytes) and must be the same on every line. Paths may contain spaces; for ima-sig/ima-buf the
// split between path and last hex field is the one whose rebuilt template data hashes to the
// listed template hash. Errors: kMalformed (missing fields, bad hex, bad register number,
// mixed hash lengths, digest length not matching its algorithm), kUnsupportedVersion (template
// other than ima-ng, ima-sig, ima-buf), kUnsupportedAlgorithm (template-hash length or file
// digest algorithm unknown). Messages name the line number.
Result<ImaLog> parse_ima_ascii(std::string_view text);

// Parses the binary list in little-endian byte order: per record u32 pcr, template hash
// (digest_size(template_hash_algorithm) bytes: SHA-1 for binary_runtime_measurements, the named
// algorithm for binary_runtime_measurements_<algo>), u32 name length + name, u32 data length +
// template data. Errors: kTruncated (a record or declared length runs past the end), kMalformed
// (template data fields inconsistent, name longer than 255 bytes), kUnsupportedVersion (template
// other than ima-ng, ima-sig, ima-buf), kUnsupportedAlgorithm (file digest algorithm unknown).
Result<ImaLog> parse_ima_binary(std::span<const std::uint8_t> bytes,
                                DigestAlgorithm template_hash_algorithm = DigestAlgorithm::kSha1);

// The value IMA extended into the register for `entry`: the template hash, or all 0xFF (of the
// same length) for a violation.
Bytes ima_extend_digest(const ImaEntry& entry);

// The template data of an entry: d-ng (u32 length ‖ "<algo>:" ‖ NUL ‖ file digest) ‖ n-ng
// (u32 length ‖ path ‖ NUL), and for templates with a third field (ima-sig, ima-buf,
// `with_extra_field`) u32 length ‖ `extra` (length 0 when there is no signature).
Bytes build_ima_template_data(std::string_view file_digest_algorithm,
                              std::span<const std::uint8_t> file_digest, std::string_view path,
                              bool with_extra_field, std::span<const std::uint8_t> extra = {});

// Every field of an entry (byte fields as hex, text with non-printable bytes escaped as \xNN),
// and of a list: template_hash_algorithm, entry_count, entries.
nlohmann::json to_json(const ImaEntry& entry);
nlohmann::json to_json(const ImaLog& log);

}  // namespace ccfde::measure

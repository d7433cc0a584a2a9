// SPDX-License-Identifier: Apache-2.0
#include "evidence_file.h"

#include <algorithm>
#include <cctype>

#include "ccfde/common/file_io.h"

namespace ccfde::cc_measure {
namespace {

// The kernel caps quotes at 32 KiB (configfs-tsm outblob); a hex file is twice that plus spacing.
constexpr std::size_t kMaxEvidenceFileSize = std::size_t{256} * 1024;

bool is_hex_text(const Bytes& bytes) {
  return !bytes.empty() && std::ranges::all_of(bytes, [](std::uint8_t byte) {
    return std::isxdigit(byte) != 0 || std::isspace(byte) != 0;
  });
}

}  // namespace

Result<Bytes> read_evidence_file(const std::string& path) {
  CCFDE_ASSIGN_OR_RETURN(Bytes bytes, read_file(path, kMaxEvidenceFileSize));
  if (!is_hex_text(bytes)) return bytes;
  std::string digits;
  for (std::uint8_t byte : bytes) {
    if (!std::isspace(byte)) digits += static_cast<char>(byte);
  }
  auto decoded = hex_decode(digits);
  if (!decoded.ok()) return decoded.status().with_context(path + " (hex text)");
  return std::move(decoded).value();
}

Result<ParsedEvidence> parse_evidence(const Bytes& bytes, const std::string& path) {
  if (measure::looks_like_tdx_quote(bytes)) {
    auto quote = measure::parse_tdx_quote(bytes);
    if (!quote.ok()) return quote.status().with_context(path);
    return ParsedEvidence(std::move(quote).value());
  }
  if (measure::looks_like_snp_report(bytes)) {
    auto report = measure::parse_snp_report(bytes);
    if (!report.ok()) return report.status().with_context(path);
    return ParsedEvidence(std::move(report).value());
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: {} bytes that are neither a TDX quote (version 4 or 5, attestation key "
                    "type 2, TEE type 0x81 at offset 4) nor an SNP report (1184 bytes, version "
                    "2 to 5 at offset 0)",
                    path, bytes.size());
}

}  // namespace ccfde::cc_measure

// SPDX-License-Identifier: Apache-2.0
// Reading a quote or report given on the command line, and telling which one it is.
#pragma once

#include <string>
#include <variant>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/tdx_quote.h"

namespace ccfde::cc_measure {

// The bytes of `path`; a file of hex digits (whitespace allowed) is decoded first, since reports
// are often exchanged as hex. Errors name the path.
Result<Bytes> read_evidence_file(const std::string& path);

// A parsed TDX quote or SNP report, whichever the bytes are.
using ParsedEvidence = std::variant<measure::TdxQuote, measure::SnpReport>;

// Detects the type from the bytes and parses it. kInvalidArgument when the bytes are neither;
// parse errors are prefixed with `path`.
Result<ParsedEvidence> parse_evidence(const Bytes& bytes, const std::string& path);

}  // namespace ccfde::cc_measure

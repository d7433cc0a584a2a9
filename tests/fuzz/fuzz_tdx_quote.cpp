// SPDX-License-Identifier: Apache-2.0
// Fuzzes the TDX quote parser and, for inputs that parse, PCK chain extraction and verification.
#include <nlohmann/json.hpp>

#include "ccfde/measure/tdx_quote.h"
#include "ccfde/measure/tdx_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  auto quote = parse_tdx_quote({data, size});
  if (!quote.ok()) return 0;
  (void)to_json(*quote).dump();
  static const TimePoint kAt = *parse_rfc3339("2026-06-01T00:00:00Z");
  (void)verify_tdx_quote(*quote, kAt);
  return 0;
}

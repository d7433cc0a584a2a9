// SPDX-License-Identifier: Apache-2.0
// Fuzzes the SNP report parser, its JSON forms and the GHCB certificate-table parser.
#include <nlohmann/json.hpp>

#include "ccfde/measure/snp_cert_table.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/snp_report_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  if (auto report = parse_snp_report({data, size}); report.ok()) {
    (void)to_json(*report).dump();
    (void)snp_report_from_trustee_json(snp_report_to_trustee_json(*report));
  }
  if (auto table = parse_snp_cert_table({data, size}); table.ok()) {
    (void)to_json(*table).dump();
  }
  return 0;
}

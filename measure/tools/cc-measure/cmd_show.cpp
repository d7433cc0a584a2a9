// SPDX-License-Identifier: Apache-2.0
#include <nlohmann/json.hpp>

#include "commands.h"
#include "evidence_file.h"
#include "output.h"

namespace ccfde::cc_measure {

int run_show(const ShowOptions& options) {
  auto bytes = read_evidence_file(options.file);
  if (!bytes.ok()) return report_error(bytes.status(), options.json);
  auto parsed = parse_evidence(*bytes, options.file);
  if (!parsed.ok()) return report_error(parsed.status(), options.json);

  nlohmann::json document;
  if (const auto* quote = std::get_if<measure::TdxQuote>(&*parsed)) {
    document = {{"type", "tdx_quote"}, {"file", options.file}, {"quote", measure::to_json(*quote)}};
  } else {
    const auto& report = std::get<measure::SnpReport>(*parsed);
    document = {
        {"type", "snp_report"}, {"file", options.file}, {"report", measure::to_json(report)}};
  }
  print_document(document, options.json);
  return kExitOk;
}

}  // namespace ccfde::cc_measure

// SPDX-License-Identifier: Apache-2.0
// `info` and `quote`: the subcommands that talk to the platform.
#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/report_data.h"
#include "commands.h"
#include "evidence_file.h"
#include "output.h"

namespace ccfde::cc_measure {

int run_info(const InfoOptions& options, const measure::PlatformPaths& paths) {
  const measure::PlatformInfo info = measure::detect_platform(paths);
  nlohmann::json document = measure::to_json(info);
  if (info.tee == measure::TeeKind::kNone) {
    document["note"] =
        "no TEE detected: none of the TDX or SEV-SNP guest interfaces listed below is present";
  }
  print_document(document, options.json);
  return kExitOk;
}

int run_quote(const QuoteOptions& options, const measure::PlatformPaths& paths) {
  auto digest = hex_decode(options.report_data_hex);
  if (!digest.ok())
    return report_error(digest.status().with_context("--report-data"), options.json);
  auto report_data = measure::report_data_from_digest(*digest);
  if (!report_data.ok()) {
    return report_error(report_data.status().with_context("--report-data"), options.json);
  }

  measure::EvidenceSourceOptions source_options;
  if (options.sample) source_options.preference = measure::EvidenceSourceKind::kSample;
  auto source = measure::open_evidence_source(paths, source_options);
  if (!source.ok()) return report_error(source.status(), options.json);
  if (options.sample) {
    std::fprintf(stderr, "cc-measure: WARNING: using %s\n", (*source)->name().c_str());
  }
  auto evidence = (*source)->get_evidence(*report_data);
  if (!evidence.ok()) return report_error(evidence.status(), options.json);

  if (!options.out_file.empty()) {
    Status written = write_file(options.out_file, evidence->primary);
    if (!written.ok()) return report_error(written, options.json);
  }
  nlohmann::json document = measure::to_json(*evidence);
  if (evidence->tee != measure::TeeKind::kSample) {
    auto parsed = parse_evidence(evidence->primary, "fresh evidence");
    if (!parsed.ok()) return report_error(parsed.status(), options.json);
    if (const auto* quote = std::get_if<measure::TdxQuote>(&*parsed)) {
      document["quote"] = measure::to_json(*quote);
    } else {
      document["report"] = measure::to_json(std::get<measure::SnpReport>(*parsed));
    }
  }
  if (!options.out_file.empty()) document["written_to"] = options.out_file;
  print_document(document, options.json);
  return kExitOk;
}

}  // namespace ccfde::cc_measure

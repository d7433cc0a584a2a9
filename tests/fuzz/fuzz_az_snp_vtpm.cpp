// SPDX-License-Identifier: Apache-2.0
// Fuzzes the Azure az-snp-vtpm parsers: the input is tried as an HCL report, as a TPMS_ATTEST and
// as Trustee evidence JSON (whose decoded HCL report and quote are parsed in turn, so the evidence
// JSON is a useful seed for all three).
#include <nlohmann/json.hpp>

#include "ccfde/measure/az_snp_vtpm.h"

namespace {

void exercise_hcl(std::span<const std::uint8_t> bytes) {
  using namespace ccfde::measure;
  if (auto report = parse_az_hcl_report(bytes); report.ok()) {
    (void)to_json(*report).dump();
    (void)check_az_runtime_data_binding(*report);
    (void)az_hcl_attestation_key(*report);
  }
}

void exercise_quote(std::span<const std::uint8_t> bytes, const std::vector<ccfde::Bytes>& pcrs) {
  using namespace ccfde::measure;
  if (auto quote = parse_tpms_attest(bytes); quote.ok()) {
    (void)to_json(*quote).dump();
    (void)check_az_pcr_digest(*quote, pcrs);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  const std::span<const std::uint8_t> bytes(data, size);
  exercise_hcl(bytes);
  exercise_quote(bytes, {});

  const auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr,
                                          /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  auto evidence = parse_az_snp_vtpm_evidence(json);
  if (!evidence.ok()) return 0;
  (void)to_json(*evidence).dump();
  exercise_hcl(evidence->hcl_report);
  exercise_quote(evidence->quote_message, evidence->pcrs);
  if (auto report = parse_az_hcl_report(evidence->hcl_report); report.ok()) {
    if (auto key = az_hcl_attestation_key(*report); key.ok()) {
      (void)verify_az_tpm_quote(evidence->quote_message, evidence->quote_signature, key->get());
    }
    if (auto quote = parse_tpms_attest(evidence->quote_message); quote.ok()) {
      (void)check_az_user_data(*report, *quote);
    }
  }
  return 0;
}

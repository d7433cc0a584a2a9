// SPDX-License-Identifier: Apache-2.0
#include <nlohmann/json.hpp>

#include "ccfde/common/file_io.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tdx_collateral_verify.h"
#include "ccfde/measure/tdx_verify.h"
#include "commands.h"
#include "evidence_file.h"
#include "output.h"

namespace ccfde::cc_measure {
namespace {

constexpr std::size_t kMaxCertificateFileSize = std::size_t{1024} * 1024;

Result<X509Ptr> load_single_certificate(const std::string& path) {
  CCFDE_ASSIGN_OR_RETURN(auto bytes, read_file(path, kMaxCertificateFileSize));
  auto certificate = measure::parse_certificate(bytes);
  if (!certificate.ok()) return certificate.status().with_context(path);
  return std::move(certificate).value();
}

Result<nlohmann::json> verify_tdx(const measure::TdxQuote& quote, const VerifyOptions& options,
                                  measure::TimePoint at) {
  X509Ptr root;
  if (!options.root_file.empty()) {
    CCFDE_ASSIGN_OR_RETURN(root, load_single_certificate(options.root_file));
  } else {
    CCFDE_ASSIGN_OR_RETURN(root, measure::intel_sgx_root_ca());
  }
  auto verification = measure::verify_tdx_quote(quote, root.get(), at);
  if (!verification.ok()) return verification.status().with_context(options.file);
  if (options.forbid_debug) {
    CCFDE_RETURN_IF_ERROR(measure::check_tdx_debug_policy(quote.body).with_context(options.file));
  }
  nlohmann::json document = {
      {"type", "tdx_quote"},
      {"root", options.root_file.empty() ? "embedded Intel SGX Root CA" : options.root_file},
      {"verification", measure::to_json(*verification)}};
  if (options.collateral_dir.empty()) {
    if (!options.accept_tcb_status.empty()) {
      return Status(ErrorCode::kInvalidArgument, "--accept-tcb-status needs --collateral");
    }
    document["collateral"] =
        "not checked: revocation (PCK CRL, Root CA CRL), QE identity and TCB status are unknown "
        "(pass --collateral DIR)";
    return document;
  }
  measure::TdxTcbPolicy policy;
  if (!options.accept_tcb_status.empty()) {
    auto parsed = measure::parse_tdx_tcb_policy(options.accept_tcb_status);
    if (!parsed.ok()) return parsed.status().with_context("--accept-tcb-status");
    policy = std::move(parsed).value();
  }
  CCFDE_ASSIGN_OR_RETURN(auto collateral,
                         measure::read_tdx_collateral_directory(options.collateral_dir));
  auto checked = measure::verify_tdx_collateral(quote, collateral, root.get(), at);
  if (!checked.ok()) return checked.status().with_context(options.collateral_dir);
  CCFDE_RETURN_IF_ERROR(
      measure::check_tdx_tcb_status(*checked, policy).with_context(options.collateral_dir));
  document["collateral"] = measure::to_json(*checked);
  nlohmann::json accepted = nlohmann::json::array();
  for (const auto status : policy.accepted) accepted.push_back(measure::tcb_status_name(status));
  document["collateral"]["accepted_tcb_statuses"] = accepted;
  return document;
}

Result<nlohmann::json> verify_snp(const measure::SnpReport& report, const Bytes& report_bytes,
                                  const VerifyOptions& options, measure::TimePoint at) {
  if (!options.collateral_dir.empty() || !options.accept_tcb_status.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "--collateral and --accept-tcb-status apply to TDX quotes only");
  }
  if (options.vcek_file.empty() || options.chain_file.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "verifying an SNP report needs --vcek (VCEK or VLEK) and --chain (ASK/ASVK and "
                  "ARK in PEM)");
  }
  CCFDE_ASSIGN_OR_RETURN(auto signer, load_single_certificate(options.vcek_file));
  CCFDE_ASSIGN_OR_RETURN(auto chain_pem, read_file(options.chain_file, kMaxCertificateFileSize));
  auto chain = measure::parse_pem_certificates(chain_pem);
  if (!chain.ok()) return chain.status().with_context(options.chain_file);
  if (chain->size() != 2) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: expected 2 certificates (ASK or ASVK, then ARK), found {}",
                      options.chain_file, chain->size());
  }
  auto verified = measure::verify_snp_attestation(report_bytes, signer.get(), (*chain)[0].get(),
                                                  (*chain)[1].get(), at);
  if (!verified.ok()) return verified.status().with_context(options.file);
  if (options.forbid_debug) {
    CCFDE_RETURN_IF_ERROR(measure::check_snp_debug_disabled(report).with_context(options.file));
  }
  return nlohmann::json{
      {"type", "snp_report"},
      {"signer", escape_nonprintable(measure::certificate_common_name(signer.get()))},
      {"intermediate", escape_nonprintable(measure::certificate_common_name((*chain)[0].get()))},
      {"root", escape_nonprintable(measure::certificate_common_name((*chain)[1].get()))},
      {"root_fingerprint", hex_encode(measure::certificate_fingerprint((*chain)[1].get()))}};
}

}  // namespace

int run_verify(const VerifyOptions& options) {
  auto at = measure::parse_rfc3339(options.at);
  if (!at.ok()) return report_error(at.status().with_context("--at"), options.json);
  auto bytes = read_evidence_file(options.file);
  if (!bytes.ok()) return report_error(bytes.status(), options.json);
  auto parsed = parse_evidence(*bytes, options.file);
  if (!parsed.ok()) return report_error(parsed.status(), options.json);

  Result<nlohmann::json> result =
      std::holds_alternative<measure::TdxQuote>(*parsed)
          ? verify_tdx(std::get<measure::TdxQuote>(*parsed), options, *at)
          : verify_snp(std::get<measure::SnpReport>(*parsed), *bytes, options, *at);
  if (!result.ok()) return report_error(result.status(), options.json);
  nlohmann::json document = std::move(result).value();
  document["file"] = options.file;
  document["verified_at"] = measure::format_rfc3339(*at);
  document["result"] = "verified";
  print_document(document, options.json);
  return kExitOk;
}

}  // namespace ccfde::cc_measure

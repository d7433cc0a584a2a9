// SPDX-License-Identifier: Apache-2.0
// devkbs's evidence verification: a Trustee `sample`, `tdx` or `snp` evidence object checked
// against the configured roots and bound to the runtime-data digest, and the claims it yields.
#include "evidence_verifier.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/replay.h"
#include "ccfde/measure/report_data.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/snp_report_json.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/measure/tdx_quote.h"
#include "ccfde/measure/tdx_verify.h"

namespace ccfde::devkbs {
namespace {

Status refused(std::string_view what, const Status& cause) {
  return make_error(ErrorCode::kAttestationRefused, "{}: {}", what, cause.message());
}

std::string hex_of(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

// The DER bytes of a cert_chain entry's "data" (an array of integers 0..255).
Result<Bytes> integer_array_bytes(const nlohmann::json& array, std::string_view what) {
  if (!array.is_array()) {
    return make_error(ErrorCode::kMalformed, "{} must be an array of integers", what);
  }
  Bytes bytes;
  bytes.reserve(array.size());
  for (const auto& item : array) {
    if (!item.is_number_unsigned() || item.get<std::uint64_t>() > 255) {
      return make_error(ErrorCode::kMalformed, "{} must hold integers 0..255", what);
    }
    bytes.push_back(static_cast<std::uint8_t>(item.get<std::uint64_t>()));
  }
  return bytes;
}

Status verify_tdx(const nlohmann::json& evidence, std::span<const std::uint8_t> digest,
                  const EvidenceTrust& trust, std::chrono::system_clock::time_point now,
                  AttestedClaims& claims) {
  const auto quote_member = evidence.find("quote");
  if (quote_member == evidence.end() || !quote_member->is_string()) {
    return make_error(ErrorCode::kAttestationRefused,
                      "tdx evidence: quote must be a base64 string");
  }
  auto quote_bytes = base64_decode(quote_member->get<std::string>());
  if (!quote_bytes.ok()) return refused("tdx evidence: quote", quote_bytes.status());
  auto quote = measure::parse_tdx_quote(*quote_bytes);
  if (!quote.ok()) return refused("TDX quote", quote.status());
  const auto at = std::chrono::floor<std::chrono::seconds>(now);
  if (auto verified = measure::verify_tdx_quote(*quote, trust.tdx_root, at); !verified.ok()) {
    return refused("TDX quote verification", verified.status());
  }
  if (trust.tdx_collateral != nullptr) {
    auto checked =
        measure::verify_tdx_collateral(*quote, *trust.tdx_collateral, trust.tdx_root, at);
    if (!checked.ok()) {
      return refused(fmt::format("TDX collateral ({})", error_code_name(checked.status().code())),
                     checked.status());
    }
    const measure::TdxTcbPolicy default_policy;
    if (const Status accepted = measure::check_tdx_tcb_status(
            *checked, trust.tdx_tcb_policy != nullptr ? *trust.tdx_tcb_policy : default_policy);
        !accepted.ok()) {
      return refused("TDX collateral policy", accepted);
    }
  }
  auto expected = measure::report_data_from_digest(digest);
  if (!expected.ok()) return refused("runtime data", expected.status());
  if (quote->body.report_data != *expected) {
    return make_error(ErrorCode::kAttestationRefused,
                      "TDX quote: REPORTDATA {} does not bind the runtime data (expected {})",
                      hex_of(quote->body.report_data), hex_of(*expected));
  }

  const auto log_member = evidence.find("cc_eventlog");
  if (log_member != evidence.end() && !log_member->is_null()) {
    if (!log_member->is_string()) {
      return make_error(ErrorCode::kAttestationRefused,
                        "tdx evidence: cc_eventlog must be a base64 string or null");
    }
    const auto& text = log_member->get_ref<const std::string&>();
    if (!text.empty()) {
      auto log_bytes = base64_decode(text);
      if (!log_bytes.ok()) return refused("tdx evidence: cc_eventlog", log_bytes.status());
      auto log = measure::parse_tcg_event_log(*log_bytes);
      if (!log.ok()) return refused("cc_eventlog", log.status());
      auto replay = measure::replay_rtmrs(*log);
      if (!replay.ok()) return refused("cc_eventlog replay", replay.status());
      measure::RegisterValues reported;
      for (std::uint32_t i = 0; i < 4; ++i) {
        reported[measure::RegisterId::rtmr(i)] =
            Bytes(quote->body.rtmr[i].begin(), quote->body.rtmr[i].end());
      }
      if (const Status match = measure::check_registers_match(reported, replay->registers);
          !match.ok()) {
        return refused("cc_eventlog replay does not match the quote's RTMRs", match);
      }
      // The replay matched RTMR3, so the log holds every RTMR3 extend of this boot: the phase-end
      // and first-boot events were extended if and only if verified records of them are here.
      add_replayed_log_claims(log->events, claims);
    }
  }

  const auto& body = quote->body;
  claims.debug = (measure::td_attributes_value(body) & measure::kTdAttributeDebug) != 0;
  claims.values["mr_td"] = Bytes(body.mr_td.begin(), body.mr_td.end());
  claims.values["mr_config_id"] = Bytes(body.mr_config_id.begin(), body.mr_config_id.end());
  for (std::size_t i = 0; i < 4; ++i) {
    claims.values[fmt::format("rtmr{}", i)] = Bytes(body.rtmr[i].begin(), body.rtmr[i].end());
  }
  return Status::ok_status();
}

Status verify_snp(const nlohmann::json& evidence, std::span<const std::uint8_t> digest,
                  const EvidenceTrust& trust, std::chrono::system_clock::time_point now,
                  AttestedClaims& claims) {
  const auto report_member = evidence.find("attestation_report");
  if (report_member == evidence.end()) {
    return make_error(ErrorCode::kAttestationRefused,
                      "snp evidence: attestation_report is missing");
  }
  auto report = measure::snp_report_from_trustee_json(*report_member);
  if (!report.ok()) return refused("SNP report", report.status());
  if (report->version < 3) {
    return make_error(ErrorCode::kAttestationRefused,
                      "SNP report: version {} is too old (3 or later required)", report->version);
  }
  if (const Status vmpl = measure::check_snp_vmpl(*report, 0); !vmpl.ok()) {
    return refused("SNP report", vmpl);
  }

  X509Ptr vcek, ask, ark;
  const auto chain = evidence.find("cert_chain");
  if (chain != evidence.end() && chain->is_array()) {
    for (const auto& entry : *chain) {
      if (!entry.is_object() || !entry.contains("cert_type") || !entry["cert_type"].is_string() ||
          !entry.contains("data")) {
        continue;  // CRL, Empty and OTHER entries carry nothing devkbs uses
      }
      const auto type = entry["cert_type"].get<std::string>();
      X509Ptr* slot = type == "VCEK" || type == "VLEK" ? &vcek
                      : type == "ASK"                  ? &ask
                      : type == "ARK"                  ? &ark
                                                       : nullptr;
      if (slot == nullptr) continue;
      auto der = integer_array_bytes(entry["data"], "snp evidence: cert_chain data");
      if (!der.ok()) return refused("snp evidence", der.status());
      auto certificate = measure::parse_der_certificate(*der);
      if (!certificate.ok())
        return refused(fmt::format("snp cert_chain {}", type), certificate.status());
      *slot = std::move(*certificate);
    }
  } else if (chain != evidence.end() && !chain->is_null()) {
    return make_error(ErrorCode::kAttestationRefused,
                      "snp evidence: cert_chain must be an array or null");
  }
  if (!vcek) {
    return make_error(ErrorCode::kAttestationRefused,
                      "snp evidence: cert_chain carries no VCEK or VLEK (devkbs does not fetch "
                      "certificates from AMD KDS)");
  }
  const X509* ask_used = ask ? ask.get() : trust.snp_ask;
  const X509* ark_used = ark ? ark.get() : trust.snp_ark;
  if (ask_used == nullptr || ark_used == nullptr) {
    return make_error(ErrorCode::kAttestationRefused,
                      "snp evidence: no ASK/ARK in cert_chain and none configured (--snp-ca)");
  }
  const Bytes report_bytes = measure::serialize_snp_report(*report);
  const auto at = std::chrono::floor<std::chrono::seconds>(now);
  auto verified = measure::verify_snp_attestation(report_bytes, vcek.get(), ask_used, ark_used, at,
                                                  trust.snp_unpinned_test_ark);
  if (!verified.ok()) return refused("SNP attestation verification", verified.status());

  auto expected = measure::report_data_from_digest(digest);
  if (!expected.ok()) return refused("runtime data", expected.status());
  if (verified->report_data != *expected) {
    return make_error(ErrorCode::kAttestationRefused,
                      "SNP report: REPORT_DATA {} does not bind the runtime data (expected {})",
                      hex_of(verified->report_data), hex_of(*expected));
  }
  claims.debug = verified->policy.debug;
  claims.values["measurement"] = Bytes(verified->measurement.begin(), verified->measurement.end());
  claims.values["host_data"] = Bytes(verified->host_data.begin(), verified->host_data.end());
  claims.snp_report_id = Bytes(verified->report_id.begin(), verified->report_id.end());
  claims.snp_migrate_ma = verified->policy.migrate_ma;
  return Status::ok_status();
}

}  // namespace

Status verify_evidence(measure::TeeKind tee, const nlohmann::json& evidence,
                       std::span<const std::uint8_t> digest, const EvidenceTrust& trust,
                       std::chrono::system_clock::time_point now, AttestedClaims& claims) {
  if (!evidence.is_object()) {
    return make_error(ErrorCode::kAttestationRefused, "{} evidence: expected a JSON object",
                      measure::tee_kind_name(tee));
  }
  if (tee == measure::TeeKind::kSample) {
    if (!trust.allow_sample) {
      return make_error(ErrorCode::kAttestationRefused, "the sample TEE is disabled");
    }
    const auto member = evidence.find("report_data");
    if (member == evidence.end() || !member->is_string()) {
      return make_error(ErrorCode::kAttestationRefused,
                        "sample evidence: report_data must be a base64 string");
    }
    auto report_data = base64_decode(member->get<std::string>());
    if (!report_data.ok()) return refused("sample evidence: report_data", report_data.status());
    if (*report_data != Bytes(digest.begin(), digest.end())) {
      return make_error(ErrorCode::kAttestationRefused,
                        "sample evidence: report_data {} does not match the runtime data digest "
                        "{}",
                        hex_of(*report_data), hex_of(digest));
    }
    return Status::ok_status();
  }
  if (tee == measure::TeeKind::kTdx) return verify_tdx(evidence, digest, trust, now, claims);
  if (tee == measure::TeeKind::kSnp) return verify_snp(evidence, digest, trust, now, claims);
  return make_error(ErrorCode::kAttestationRefused, "TEE {} is not supported",
                    measure::tee_kind_name(tee));
}

}  // namespace ccfde::devkbs

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/evidence_builder.h"

#include <utility>

#include "ccfde/common/file_io.h"
#include "ccfde/measure/event_log_sources.h"
#include "ccfde/measure/report_data.h"
#include "ccfde/measure/snp_cert_table.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/snp_report_json.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/measure/tdx_quote.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;

// The virtee/sev CertType serde form of a certificate-table entry type.
json cert_type_json(const measure::SnpCertTableEntry& entry) {
  switch (entry.type) {
    case measure::SnpCertType::kVcek: return "VCEK";
    case measure::SnpCertType::kVlek: return "VLEK";
    case measure::SnpCertType::kAsk: return "ASK";
    case measure::SnpCertType::kArk: return "ARK";
    case measure::SnpCertType::kExtraPlatformInfo:
    case measure::SnpCertType::kOther: break;
  }
  return json{{"OTHER", measure::snp_guid_to_string(entry.guid)}};
}

class SourceEvidenceProvider final : public EvidenceProvider {
 public:
  SourceEvidenceProvider(measure::TeeKind tee, std::unique_ptr<measure::EvidenceSource> source,
                         CcelReader read_ccel, RuntimeLogReader read_runtime_log,
                         std::optional<InitData> init_data)
      : tee_(tee),
        source_(std::move(source)),
        read_ccel_(std::move(read_ccel)),
        read_runtime_log_(std::move(read_runtime_log)),
        init_data_(std::move(init_data)) {}

  measure::TeeKind tee() const override { return tee_; }

  Result<json> primary_evidence(std::span<const std::uint8_t> runtime_data_digest) override {
    if (runtime_data_digest.size() > measure::kReportDataSize) {
      return make_error(ErrorCode::kInvalidArgument,
                        "runtime-data digest of {} bytes does not fit the {}-byte report data",
                        runtime_data_digest.size(), measure::kReportDataSize);
    }
    if (tee_ == measure::TeeKind::kSample) {
      if (init_data_) {
        return make_error(ErrorCode::kUnsupported,
                          "init-data: sample evidence has no register to bind it to");
      }
      return build_sample_evidence(runtime_data_digest);
    }

    CCFDE_ASSIGN_OR_RETURN(const measure::ReportData report_data,
                           measure::report_data_from_digest(runtime_data_digest));
    auto evidence = source_->get_evidence(report_data);
    if (!evidence.ok()) return evidence.status().with_context(source_->name());
    if (evidence->tee != tee_) {
      return make_error(ErrorCode::kInternal, "{} produced {} evidence where {} was expected",
                        source_->name(), measure::tee_kind_name(evidence->tee),
                        measure::tee_kind_name(tee_));
    }
    if (init_data_) CCFDE_RETURN_IF_ERROR(check_init_data(evidence->primary));
    if (tee_ == measure::TeeKind::kSnp) {
      return build_snp_evidence(evidence->primary, evidence->auxiliary);
    }
    std::optional<Bytes> ccel;
    if (read_ccel_) {
      CCFDE_ASSIGN_OR_RETURN(ccel, read_ccel_());
    }
    if (!ccel) return build_tdx_evidence(evidence->primary, std::nullopt);
    std::optional<Bytes> runtime_log;
    if (read_runtime_log_) {
      CCFDE_ASSIGN_OR_RETURN(runtime_log, read_runtime_log_());
    }
    return build_tdx_evidence(evidence->primary, std::span<const std::uint8_t>(*ccel),
                              runtime_log ? std::span<const std::uint8_t>(*runtime_log)
                                          : std::span<const std::uint8_t>());
  }

  std::string_view init_data_toml() const override {
    return init_data_ ? std::string_view(init_data_->body) : std::string_view();
  }

 private:
  // The guest's own check before anything is sent: whoever launched the VM supplied the
  // init-data, and only the register the launch measured says whether it is this VM's.
  Status check_init_data(std::span<const std::uint8_t> primary) const {
    if (tee_ == measure::TeeKind::kTdx) {
      CCFDE_ASSIGN_OR_RETURN(const measure::TdxQuote quote, measure::parse_tdx_quote(primary));
      return check_init_data_binding(*init_data_, quote.body.mr_config_id, "MRCONFIGID");
    }
    CCFDE_ASSIGN_OR_RETURN(const measure::SnpReport report, measure::parse_snp_report(primary));
    return check_init_data_binding(*init_data_, report.host_data, "HOST_DATA");
  }

  measure::TeeKind tee_;
  std::unique_ptr<measure::EvidenceSource> source_;
  CcelReader read_ccel_;
  RuntimeLogReader read_runtime_log_;
  std::optional<InitData> init_data_;
};

}  // namespace

Result<Bytes> trim_ccel(std::span<const std::uint8_t> ccel) {
  auto log = measure::parse_tcg_event_log(ccel);
  if (!log.ok()) return log.status().with_context("CCEL");
  Bytes trimmed(ccel.begin(),
                ccel.begin() + static_cast<std::ptrdiff_t>(std::min(log->end_offset, ccel.size())));
  trimmed.insert(trimmed.end(), kCcelTerminatorSize, 0xFF);
  return trimmed;
}

Result<Bytes> build_cc_eventlog(std::span<const std::uint8_t> ccel,
                                std::span<const std::uint8_t> runtime_log) {
  CCFDE_ASSIGN_OR_RETURN(Bytes log, trim_ccel(ccel));
  if (runtime_log.empty()) return log;
  log.resize(log.size() - kCcelTerminatorSize);
  const std::size_t runtime_offset = log.size();
  log.insert(log.end(), runtime_log.begin(), runtime_log.end());
  // The runtime records only parse behind a Spec ID header, so the whole log is parsed and the
  // records must reach exactly its end.
  auto parsed = measure::parse_tcg_event_log(log);
  if (!parsed.ok()) return parsed.status().with_context("runtime event log");
  if (parsed->end_offset != log.size()) {
    return make_error(
        ErrorCode::kMalformed,
        "runtime event log: {} of its {} bytes follow its last record (at offset {})",
        log.size() - parsed->end_offset, runtime_log.size(),
        parsed->end_offset >= runtime_offset ? parsed->end_offset - runtime_offset : 0);
  }
  log.insert(log.end(), kCcelTerminatorSize, 0xFF);
  return log;
}

Result<json> build_tdx_evidence(std::span<const std::uint8_t> quote,
                                std::optional<std::span<const std::uint8_t>> ccel,
                                std::span<const std::uint8_t> runtime_log) {
  if (quote.size() < measure::kEvidenceMinTdxQuoteSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "TDX quote of {} bytes is shorter than the smallest quote ({} bytes)",
                      quote.size(), measure::kEvidenceMinTdxQuoteSize);
  }
  json evidence = {{"cc_eventlog", nullptr}, {"quote", base64_encode(quote)}};
  if (ccel) {
    CCFDE_ASSIGN_OR_RETURN(const Bytes log, build_cc_eventlog(*ccel, runtime_log));
    evidence["cc_eventlog"] = base64_encode(log);
  }
  return evidence;
}

Result<json> build_snp_evidence(std::span<const std::uint8_t> report,
                                std::span<const std::uint8_t> certificate_table) {
  auto parsed = measure::parse_snp_report(report);
  if (!parsed.ok()) return parsed.status().with_context("SNP attestation report");
  json chain = nullptr;
  if (!certificate_table.empty()) {
    auto table = measure::parse_snp_cert_table(certificate_table);
    if (!table.ok()) return table.status().with_context("SNP certificate table");
    if (!table->entries.empty()) {
      chain = json::array();
      for (const measure::SnpCertTableEntry& entry : table->entries) {
        chain.push_back({{"cert_type", cert_type_json(entry)}, {"data", entry.data}});
      }
    }
  }
  return json{{"attestation_report", measure::snp_report_to_trustee_json(*parsed)},
              {"cert_chain", std::move(chain)}};
}

json build_sample_evidence(std::span<const std::uint8_t> digest) {
  return json{{"svn", "1"}, {"report_data", base64_encode(digest)}};
}

Result<std::unique_ptr<EvidenceProvider>> make_evidence_provider(
    measure::TeeKind tee, std::unique_ptr<measure::EvidenceSource> source, CcelReader read_ccel,
    RuntimeLogReader read_runtime_log, std::optional<InitData> init_data) {
  if (tee == measure::TeeKind::kNone) {
    return make_error(ErrorCode::kInvalidArgument, "evidence provider: no TEE given");
  }
  if (tee != measure::TeeKind::kSample && source == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "evidence provider: {} needs an evidence source",
                      measure::tee_kind_name(tee));
  }
  std::unique_ptr<EvidenceProvider> provider =
      std::make_unique<SourceEvidenceProvider>(tee, std::move(source), std::move(read_ccel),
                                               std::move(read_runtime_log), std::move(init_data));
  return provider;
}

Result<std::unique_ptr<EvidenceProvider>> make_platform_evidence_provider(
    const measure::PlatformPaths& paths, const measure::EvidenceSourceOptions& options,
    const PlatformEvidenceOptions& evidence_options, const measure::PlatformSeams& seams) {
  measure::TeeKind tee = measure::TeeKind::kNone;
  switch (options.preference) {
    case measure::EvidenceSourceKind::kSample:
      return make_evidence_provider(measure::TeeKind::kSample, nullptr, {}, {},
                                    evidence_options.init_data);
    case measure::EvidenceSourceKind::kTdxGuestDevice: tee = measure::TeeKind::kTdx; break;
    case measure::EvidenceSourceKind::kSevGuestDevice: tee = measure::TeeKind::kSnp; break;
    case measure::EvidenceSourceKind::kAuto:
    case measure::EvidenceSourceKind::kConfigfsTsm: {
      const measure::PlatformInfo info = measure::detect_platform(paths);
      if (info.tee == measure::TeeKind::kNone) {
        return make_error(ErrorCode::kUnsupported, "no TEE detected for key-broker evidence: {}",
                          info.reason);
      }
      tee = info.tee;
      break;
    }
  }
  CCFDE_ASSIGN_OR_RETURN(std::unique_ptr<measure::EvidenceSource> source,
                         measure::open_evidence_source(paths, options, seams));
  CcelReader read_ccel;
  if (tee == measure::TeeKind::kTdx && evidence_options.send_event_log) {
    read_ccel = [paths]() -> Result<std::optional<Bytes>> {
      auto bytes = measure::read_event_log(paths, measure::EventLogKind::kCcelData);
      if (bytes.ok()) return std::optional<Bytes>(std::move(bytes).value());
      if (bytes.status().code() == ErrorCode::kNotFound) return std::optional<Bytes>();
      return bytes.status();
    };
  }
  RuntimeLogReader read_runtime_log;
  if (tee == measure::TeeKind::kTdx && evidence_options.send_event_log) {
    read_runtime_log = [path = paths.runtime_event_log]() -> Result<std::optional<Bytes>> {
      auto bytes = read_file(path, kMaxRuntimeEventLogSize);
      if (bytes.ok()) return std::optional<Bytes>(std::move(bytes).value());
      if (bytes.status().code() == ErrorCode::kNotFound) return std::optional<Bytes>();
      return bytes.status().with_context("runtime event log " + path.string());
    };
  }
  return make_evidence_provider(tee, std::move(source), std::move(read_ccel),
                                std::move(read_runtime_log), evidence_options.init_data);
}

}  // namespace ccfde::kbs_client

// SPDX-License-Identifier: Apache-2.0
// The `primary_evidence` JSON of Trustee's RCAR Attestation per TEE
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.9) and the EvidenceProvider through which
// TrusteeClient obtains evidence bound to a runtime-data digest.
//
// Report-data placement (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.7): a provider receives the raw
// digest (48 bytes for SHA-384) and places it itself: tdx/snp REPORTDATA = digest || zeros to 64
// bytes; sample = the raw digest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/platform.h"

namespace ccfde::kbs_client {

// The 8-byte terminator guest-components appends to the event log it sends.
inline constexpr std::size_t kCcelTerminatorSize = 8;

// The CCEL as guest-components sends it: the log area cut just after its last record (where the
// 0xFF fill starts, found with measure::parse_tcg_event_log) followed by 8 x 0xFF.
// Errors: those of parse_tcg_event_log (kTruncated, kMalformed, kUnsupportedAlgorithm,
// kUnsupportedVersion) with context "CCEL".
Result<Bytes> trim_ccel(std::span<const std::uint8_t> ccel);

// The cc_eventlog bytes as guest-components builds them (docs/reference/TRUSTEE-KBS-PROTOCOL.md
// §3.9): the CCEL cut after its last record, then the runtime event log's TCG_PCR_EVENT2 records
// (if any), then 8 x 0xFF. The runtime records are checked to parse as whole records after the
// CCEL, since one bad record makes the broker's replay, and so the attestation, fail. Errors: those
// of trim_ccel; for the runtime log kTruncated/kMalformed/kUnsupportedAlgorithm with context
// "runtime event log", or kMalformed when bytes that are not records (e.g. 0xFF fill) follow them.
Result<Bytes> build_cc_eventlog(std::span<const std::uint8_t> ccel,
                                std::span<const std::uint8_t> runtime_log = {});

// {"cc_eventlog": base64std(build_cc_eventlog(*ccel, runtime_log)) | null, "quote":
// base64std(quote)}. `ccel` is the raw CCEL data (/sys/firmware/acpi/tables/data/CCEL); nullopt
// sends null (no replay by Trustee, and then no runtime log either: without the firmware records
// there is nothing to append it to). `runtime_log` is the raw AAEL file (empty: none). The quote is
// not parsed (the broker verifies it). Errors: kInvalidArgument for a quote shorter than
// measure::kEvidenceMinTdxQuoteSize; those of build_cc_eventlog.
Result<nlohmann::json> build_tdx_evidence(std::span<const std::uint8_t> quote,
                                          std::optional<std::span<const std::uint8_t>> ccel,
                                          std::span<const std::uint8_t> runtime_log = {});

// {"attestation_report": measure::snp_report_to_trustee_json(report), "cert_chain": [...] | null}.
// `certificate_table` is the GHCB certificate table (SNP_GET_EXT_REPORT certs / configfs-tsm
// auxblob); empty, or a table without entries, gives "cert_chain": null (the broker then fetches
// the VCEK itself). Each entry becomes {"cert_type": "VCEK"|"VLEK"|"ASK"|"ARK"|{"OTHER":"<guid>"},
// "data": [DER bytes as integers]} in table order (the serde form of virtee/sev CertTableEntry).
// Errors: those of measure::parse_snp_report (kTruncated, kMalformed, kUnsupportedVersion,
// kUnsupportedAlgorithm) and measure::parse_snp_cert_table, with context.
Result<nlohmann::json> build_snp_evidence(std::span<const std::uint8_t> report,
                                          std::span<const std::uint8_t> certificate_table);

// {"svn":"1","report_data": base64std(digest)} with the raw, unpadded digest (the sample verifier
// compares exactly its bytes). For development and tests only.
nlohmann::json build_sample_evidence(std::span<const std::uint8_t> digest);

// What TrusteeClient needs from the platform: the TEE name and evidence bound to a runtime-data
// digest.
class EvidenceProvider {
 public:
  virtual ~EvidenceProvider() = default;
  // The TEE whose evidence this provides: kTdx, kSnp or kSample (never kNone). The Request
  // carries its measure::tee_kind_name, the kbs-types Tee name ("tdx", "snp", "sample").
  virtual measure::TeeKind tee() const = 0;
  // The primary_evidence JSON binding `runtime_data_digest` (the raw digest, 32-64 bytes) as the
  // TEE requires it. Errors: kInvalidArgument for a digest longer than 64 bytes; the evidence
  // source's errors.
  virtual Result<nlohmann::json> primary_evidence(
      std::span<const std::uint8_t> runtime_data_digest) = 0;
  // The init-data TOML to send with the evidence ("" = none). A provider that has init-data
  // produces evidence only when the evidence's register holds its digest.
  virtual std::string_view init_data_toml() const { return {}; }
};

// Reads the CCEL when evidence is built: nullopt when the platform has none.
using CcelReader = std::function<Result<std::optional<Bytes>>()>;
// Reads the runtime event log (AAEL) when evidence is built: nullopt when there is none.
using RuntimeLogReader = std::function<Result<std::optional<Bytes>>()>;

// An EvidenceProvider over an already opened evidence source. `tee` must be kTdx or kSnp (and the
// source must produce that TEE's evidence; a mismatch is kInternal at evidence time) or kSample
// (`source` may then be null: sample evidence is built directly from the raw digest). For kTdx,
// `read_ccel` supplies the event log (empty function: never send one) and `read_runtime_log` the
// runtime records appended to it (empty function: none). Both are read for every evidence, so
// records appended in between are sent.
// With `init_data`, every evidence is checked before it is returned: its MRCONFIGID (TDX) or
// HOST_DATA (SNP) must hold the init-data digest (check_init_data_binding), else the evidence is
// not returned (kMeasurementMismatch) and so never sent; sample evidence has no such register
// (kUnsupported at evidence time).
// Errors: kInvalidArgument for kNone, or a null source for kTdx/kSnp.
Result<std::unique_ptr<EvidenceProvider>> make_evidence_provider(
    measure::TeeKind tee, std::unique_ptr<measure::EvidenceSource> source,
    CcelReader read_ccel = {}, RuntimeLogReader read_runtime_log = {},
    std::optional<InitData> init_data = std::nullopt);

// The largest runtime event log read (records of a few hundred bytes each).
inline constexpr std::size_t kMaxRuntimeEventLogSize = std::size_t{1} << 20;

struct PlatformEvidenceOptions {
  // Send the firmware CCEL as cc_eventlog for TDX (Trustee then replays it against RTMR0..3).
  bool send_event_log = true;
  // Init-data to bind and send (make_evidence_provider).
  std::optional<InitData> init_data;
};

// Adapts measure::open_evidence_source + the platform's CCEL (measure::read_event_log kCcelData,
// absent -> null) and runtime event log (PlatformPaths::runtime_event_log: the Attestation Agent
// Event Log, docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.10; absent -> no runtime records; at most
// kMaxRuntimeEventLogSize bytes, else kInvalidArgument at evidence time) into an EvidenceProvider.
// The TEE is taken from the preference (kSample -> TeeKind::kSample, kTdxGuestDevice -> kTdx,
// kSevGuestDevice -> kSnp) or, for kAuto/kConfigfsTsm, from measure::detect_platform. The sample
// TEE is used only when explicitly preferred. Errors: kUnsupported when no TEE is detected; the
// errors of open_evidence_source.
Result<std::unique_ptr<EvidenceProvider>> make_platform_evidence_provider(
    const measure::PlatformPaths& paths, const measure::EvidenceSourceOptions& options,
    const PlatformEvidenceOptions& evidence_options = {}, const measure::PlatformSeams& seams = {});

}  // namespace ccfde::kbs_client

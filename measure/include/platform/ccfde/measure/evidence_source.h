// SPDX-License-Identifier: Apache-2.0
// EvidenceSource: the one interface through which cc-fde obtains hardware evidence (a TDX quote or
// an SNP report) bound to 64 bytes of caller data. Real sources move bytes between the kernel and
// the caller; they never interpret the evidence beyond size sanity checks (parsing lives in the
// pure tdx/ and snp/ parsers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/report_data.h"

namespace ccfde::measure {

// The kind of trusted execution environment evidence comes from.
enum class TeeKind {
  kNone,    // no TEE detected
  kTdx,     // Intel TDX: primary evidence is a TD quote (v4/v5)
  kSnp,     // AMD SEV-SNP: primary evidence is a 1184-byte ATTESTATION_REPORT
  kSample,  // Trustee's `sample` TEE: unsigned JSON, for development only
};

// The stable lowercase name of a TEE kind as the KBS protocol spells it: "none", "tdx", "snp",
// "sample".
std::string_view tee_kind_name(TeeKind kind) noexcept;

// The inverse of tee_kind_name: the kind whose name is exactly `name` (case-sensitive, no
// surrounding space), or nullopt. "none" gives kNone; a caller that reads a configured or
// requested TEE rejects it where no TEE is meaningless.
std::optional<TeeKind> parse_tee_kind(std::string_view name) noexcept;

// parse_tee_kind for a TEE that attests: "tdx", "snp" or "sample", never kNone ("none" gives
// nullopt like any unknown name). For configured and requested TEEs, where no TEE is meaningless.
std::optional<TeeKind> parse_attesting_tee(std::string_view name) noexcept;

// Size sanity limits applied by every source (not a parse: a parser validates the content).
// The smallest TDX quote: 48-byte header + 584-byte TD 1.0 body + 4-byte signature length.
inline constexpr std::size_t kEvidenceMinTdxQuoteSize = 636;
// The SNP ATTESTATION_REPORT size (REPORT_SIZE 0x4A0 in MSG_REPORT_RSP).
inline constexpr std::size_t kEvidenceSnpReportSize = 0x4A0;

// One piece of evidence as a source produced it.
struct Evidence {
  TeeKind tee = TeeKind::kNone;
  // TDX: the raw quote. SNP: the raw ATTESTATION_REPORT. sample: the evidence JSON text.
  Bytes primary;
  // SNP: the GHCB certificate table (VCEK/VLEK, ASK, ARK) when the host provides one; otherwise
  // empty.
  Bytes auxiliary;
  // The name() of the source that produced the evidence.
  std::string source;
};

// {"tee", "source", "primary" (hex), "primary_size", "auxiliary" (hex), "auxiliary_size"}.
nlohmann::json to_json(const Evidence& evidence);

// Produces evidence bound to caller data. Implementations are not required to be thread-safe.
class EvidenceSource {
 public:
  virtual ~EvidenceSource() = default;

  // A human-readable name naming the mechanism and the path or address used.
  virtual std::string name() const = 0;

  // Asks the platform for fresh evidence whose REPORTDATA is `report_data`. Error codes depend on
  // the source; all sources use kNotFound (interface absent), kDeviceError (the kernel refused,
  // with errno), kFirmwareError (the TEE firmware or quoting service failed), kBusy,
  // kTruncated/kMalformed (evidence of an impossible size).
  virtual Result<Evidence> get_evidence(const ReportData& report_data) = 0;
};

// Trustee's `sample` TEE (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.9, §3.15): evidence
// {"svn":"1","report_data":"<base64std of the raw digest>"}. It carries no signature and proves
// nothing; it exists to test a key broker without hardware, is never chosen by auto-detection,
// and the default KBS resource policy denies it.
class SampleEvidenceSource final : public EvidenceSource {
 public:
  // `digest_size` is the size of the runtime-data digest placed at the start of REPORTDATA (48 for
  // SHA-384, the KBS default); the sample TEE compares exactly that many bytes, unpadded.
  // Precondition: 1 <= digest_size <= 64.
  explicit SampleEvidenceSource(std::size_t digest_size = 48);

  // Says loudly that this source is for development only.
  std::string name() const override;

  // The sample evidence JSON for the first digest_size bytes of `report_data`. kInvalidArgument
  // when a byte after the digest is non-zero (the digest would be silently cut).
  Result<Evidence> get_evidence(const ReportData& report_data) override;

 private:
  std::size_t digest_size_;
};

}  // namespace ccfde::measure

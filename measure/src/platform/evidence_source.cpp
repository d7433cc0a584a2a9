// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/evidence_source.h"

#include <algorithm>

namespace ccfde::measure {

std::string_view tee_kind_name(TeeKind kind) noexcept {
  switch (kind) {
    case TeeKind::kNone: return "none";
    case TeeKind::kTdx: return "tdx";
    case TeeKind::kSnp: return "snp";
    case TeeKind::kSample: return "sample";
  }
  return "unknown";
}

std::optional<TeeKind> parse_tee_kind(std::string_view name) noexcept {
  for (TeeKind kind : {TeeKind::kNone, TeeKind::kTdx, TeeKind::kSnp, TeeKind::kSample}) {
    if (name == tee_kind_name(kind)) return kind;
  }
  return std::nullopt;
}

std::optional<TeeKind> parse_attesting_tee(std::string_view name) noexcept {
  const auto kind = parse_tee_kind(name);
  if (kind == TeeKind::kNone) return std::nullopt;
  return kind;
}

nlohmann::json to_json(const Evidence& evidence) {
  return nlohmann::json{
      {"tee", tee_kind_name(evidence.tee)},          {"source", evidence.source},
      {"primary", hex_encode(evidence.primary)},     {"primary_size", evidence.primary.size()},
      {"auxiliary", hex_encode(evidence.auxiliary)}, {"auxiliary_size", evidence.auxiliary.size()},
  };
}

SampleEvidenceSource::SampleEvidenceSource(std::size_t digest_size) : digest_size_(digest_size) {}

std::string SampleEvidenceSource::name() const {
  return "sample (DEVELOPMENT ONLY: unsigned evidence from no hardware, proves nothing)";
}

Result<Evidence> SampleEvidenceSource::get_evidence(const ReportData& report_data) {
  if (digest_size_ == 0 || digest_size_ > report_data.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sample evidence digest size must be 1..{} bytes, got {}", report_data.size(),
                      digest_size_);
  }
  const auto digest = std::span<const std::uint8_t>(report_data).first(digest_size_);
  const auto tail = std::span<const std::uint8_t>(report_data).subspan(digest_size_);
  if (auto it = std::find_if(tail.begin(), tail.end(), [](std::uint8_t b) { return b != 0; });
      it != tail.end()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sample evidence carries a {}-byte digest, but report data byte {} is "
                      "non-zero (0x{:02x}): the digest would be cut",
                      digest_size_, digest_size_ + static_cast<std::size_t>(it - tail.begin()),
                      *it);
  }
  // Key order as the upstream attester emits it; the verifier parses JSON, so it is cosmetic.
  nlohmann::ordered_json json{{"svn", "1"}, {"report_data", base64_encode(digest)}};
  const std::string text = json.dump();
  return Evidence{TeeKind::kSample, Bytes(text.begin(), text.end()), {}, name()};
}

}  // namespace ccfde::measure

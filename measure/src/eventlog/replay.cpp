// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/replay.h"

#include <fmt/format.h>

namespace ccfde::measure {

namespace {

constexpr std::uint32_t kPcrCount = 24;
constexpr std::size_t kRtmrSize = 48;

Status extend(ReplayResult& result, const RegisterId& id, DigestAlgorithm algorithm,
              std::span<const std::uint8_t> value) {
  Bytes& current = result.registers[id];
  CCFDE_ASSIGN_OR_RETURN(current, digest(algorithm, {current, value}));
  ++result.extends[id];
  return Status();
}

Result<std::uint32_t> ima_rtmr_index(const ImaEntry& entry, ImaRegisterMapping mapping) {
  std::uint32_t value = entry.register_index;
  bool as_rtmr = mapping == ImaRegisterMapping::kRtmrIndex ||
                 (mapping == ImaRegisterMapping::kAuto && value < kRtmrCount);
  if (as_rtmr) {
    if (value < kRtmrCount) return value;
  } else if (auto cc_mr = cc_mr_index_from_pcr(value)) {
    if (auto rtmr = rtmr_index_from_cc_mr_index(*cc_mr)) return *rtmr;
  }
  return make_error(ErrorCode::kMalformed,
                    "IMA entry {} at offset {}: register {} does not map to an RTMR", entry.index,
                    entry.offset, value);
}

}  // namespace

std::string register_name(const RegisterId& id) {
  if (id.kind == RegisterId::Kind::kRtmr) return fmt::format("RTMR{}", id.index);
  auto bank = tcg_algorithm_name(id.bank);
  return fmt::format("PCR{}/{}", id.index,
                     bank ? std::string(*bank) : fmt::format("0x{:04x}", id.bank));
}

Result<ReplayResult> replay_rtmrs(const TcgEventLog& ccel, const ImaLog* ima,
                                  ImaRegisterMapping ima_mapping) {
  bool has_sha384 = false;
  for (const auto& entry : ccel.spec_id.algorithms) {
    has_sha384 = has_sha384 || entry.algorithm_id == kTcgAlgSha384;
  }
  if (!has_sha384) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "the CCEL log has no SHA-384 bank, which RTMR replay needs");
  }
  ReplayResult result;
  for (std::uint32_t i = 0; i < kRtmrCount; ++i) {
    result.registers[RegisterId::rtmr(i)] = Bytes(kRtmrSize, 0);
  }
  for (const auto& event : ccel.events) {
    if (event.event_type == kEvNoAction || event.register_index == 0) continue;
    auto rtmr = rtmr_index_from_cc_mr_index(event.register_index);
    if (!rtmr) {
      return make_error(ErrorCode::kMalformed,
                        "record {} at offset {}: CC MR index {} is not 1..4 (RTMR0..3)",
                        event.index, event.offset, event.register_index);
    }
    // The parser guarantees one digest per declared bank.
    const Bytes* digest_value = event.digest_for(kTcgAlgSha384);
    if (digest_value == nullptr) {
      return make_error(ErrorCode::kInternal, "record {} lacks its SHA-384 digest", event.index);
    }
    CCFDE_RETURN_IF_ERROR(
        extend(result, RegisterId::rtmr(*rtmr), DigestAlgorithm::kSha384, *digest_value));
  }
  if (ima != nullptr) {
    if (ima->template_hash_algorithm != DigestAlgorithm::kSha384) {
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "IMA template hashes are {}; extending RTMRs needs sha384",
                        digest_name(ima->template_hash_algorithm));
    }
    for (const auto& entry : ima->entries) {
      CCFDE_ASSIGN_OR_RETURN(auto rtmr, ima_rtmr_index(entry, ima_mapping));
      if (entry.template_hash.size() != kRtmrSize) {
        return make_error(ErrorCode::kMalformed,
                          "IMA entry {}: template hash has {} bytes, expected {}", entry.index,
                          entry.template_hash.size(), kRtmrSize);
      }
      CCFDE_RETURN_IF_ERROR(extend(result, RegisterId::rtmr(rtmr), DigestAlgorithm::kSha384,
                                   ima_extend_digest(entry)));
      ++result.ima_entries;
    }
  }
  return result;
}

Result<ReplayResult> replay_pcrs(const TcgEventLog& tpm_log) {
  std::optional<std::uint8_t> locality;
  for (const auto& event : tpm_log.events) {
    if (event.event_type != kEvNoAction || event.register_index != 0) continue;
    if (const auto* startup = std::get_if<StartupLocalityEvent>(&event.decoded)) {
      locality = startup->locality;
    }
  }
  ReplayResult result;
  for (const auto& bank : tpm_log.spec_id.algorithms) {
    if (!tcg_algorithm_to_digest(bank.algorithm_id)) {
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "PCR replay of bank 0x{:04x} ({}) is not implemented", bank.algorithm_id,
                        tcg_algorithm_name(bank.algorithm_id).value_or("unknown"));
    }
    for (std::uint32_t pcr = 0; pcr < kPcrCount; ++pcr) {
      Bytes initial(bank.digest_size, (pcr >= 17 && pcr <= 22) ? 0xFF : 0x00);
      if (pcr == 0 && locality && !initial.empty()) initial.back() = *locality;
      result.registers[RegisterId::pcr(pcr, bank.algorithm_id)] = std::move(initial);
    }
  }
  for (const auto& event : tpm_log.events) {
    if (event.event_type == kEvNoAction) continue;
    if (event.register_index >= kPcrCount) {
      return make_error(ErrorCode::kMalformed, "record {} at offset {}: PCR index {} is not 0..23",
                        event.index, event.offset, event.register_index);
    }
    for (const auto& entry : event.digests) {
      auto algorithm = tcg_algorithm_to_digest(entry.algorithm_id);
      if (!algorithm) {
        return make_error(ErrorCode::kUnsupportedAlgorithm,
                          "record {}: PCR replay of bank 0x{:04x} is not implemented", event.index,
                          entry.algorithm_id);
      }
      CCFDE_RETURN_IF_ERROR(extend(result,
                                   RegisterId::pcr(event.register_index, entry.algorithm_id),
                                   *algorithm, entry.digest));
    }
  }
  return result;
}

std::vector<RegisterMismatch> compare_registers(const RegisterValues& expected,
                                                const RegisterValues& replayed) {
  std::vector<RegisterMismatch> mismatches;
  for (const auto& [id, value] : expected) {
    auto found = replayed.find(id);
    if (found == replayed.end()) {
      mismatches.push_back({id, value, std::nullopt});
    } else if (found->second != value) {
      mismatches.push_back({id, value, found->second});
    }
  }
  return mismatches;
}

Status check_registers_match(const RegisterValues& expected, const RegisterValues& replayed) {
  auto mismatches = compare_registers(expected, replayed);
  if (mismatches.empty()) return Status();
  std::string details;
  for (const auto& mismatch : mismatches) {
    if (!details.empty()) details += "; ";
    details += fmt::format("{} expected {} replayed {}", register_name(mismatch.id),
                           hex_encode(mismatch.expected),
                           mismatch.actual ? hex_encode(*mismatch.actual) : "(absent)");
  }
  return make_error(ErrorCode::kMeasurementMismatch, "{} of {} registers differ: {}",
                    mismatches.size(), expected.size(), details);
}

nlohmann::json to_json(const RegisterValues& registers) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, value] : registers) out[register_name(id)] = hex_encode(value);
  return out;
}

nlohmann::json to_json(const ReplayResult& result) {
  nlohmann::json extends = nlohmann::json::object();
  for (const auto& [id, count] : result.extends) extends[register_name(id)] = count;
  return nlohmann::json{{"registers", to_json(result.registers)},
                        {"extends", std::move(extends)},
                        {"ima_entries", result.ima_entries}};
}

nlohmann::json to_json(const std::vector<RegisterMismatch>& mismatches) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& mismatch : mismatches) {
    out.push_back({{"register", register_name(mismatch.id)},
                   {"expected", hex_encode(mismatch.expected)},
                   {"actual", mismatch.actual ? nlohmann::json(hex_encode(*mismatch.actual))
                                              : nlohmann::json(nullptr)}});
  }
  return out;
}

}  // namespace ccfde::measure

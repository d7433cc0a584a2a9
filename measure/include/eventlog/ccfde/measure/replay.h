// SPDX-License-Identifier: Apache-2.0
// Event-log replay (docs/reference/MEASUREMENT-FORMATS.md §4.4–§4.6): recomputes TDX RTMRs from a
// CCEL log (plus an optional IMA list) and TPM PCR banks from a TPM2 log, and compares registers.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/ima_log.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::measure {

// One measurement register: a TDX RTMR (always SHA-384) or a TPM PCR of one bank.
struct RegisterId {
  enum class Kind : std::uint8_t { kRtmr, kPcr };
  Kind kind = Kind::kRtmr;
  std::uint32_t index = 0;             // RTMR index 0..3 (not the CC MR index) or PCR 0..23
  std::uint16_t bank = kTcgAlgSha384;  // TCG algorithm id of the bank

  static RegisterId rtmr(std::uint32_t rtmr_index) {
    return {Kind::kRtmr, rtmr_index, kTcgAlgSha384};
  }
  static RegisterId pcr(std::uint32_t pcr_index, std::uint16_t bank) {
    return {Kind::kPcr, pcr_index, bank};
  }
  auto operator<=>(const RegisterId&) const = default;
};

// "RTMR2" or "PCR7/sha256".
std::string register_name(const RegisterId& id);

// Register values by register; fill the expected side directly, e.g.
// `expected[RegisterId::rtmr(0)] = quote_body.rtmr0`.
using RegisterValues = std::map<RegisterId, Bytes>;

struct ReplayResult {
  RegisterValues registers;                   // every register in scope, extended or not
  std::map<RegisterId, std::size_t> extends;  // number of extends per register (absent = 0)
  std::size_t ima_entries = 0;                // IMA entries replayed (RTMR replay)
};

// How the register field of IMA entries is read when replaying into RTMRs.
enum class ImaRegisterMapping {
  kAuto,       // 0..3 are RTMR indices (Intel "IMA over RTMR" kernels print 2); 8..15 are PCRs
               // mapped by MEASUREMENT-FORMATS.md §4.3 (PCR 10 -> RTMR2)
  kRtmrIndex,  // the field is an RTMR index 0..3
  kPcr,        // the field is a TPM PCR, mapped by MEASUREMENT-FORMATS.md §4.3
};

// Replays a CCEL log into RTMR0..3 (CC MR index 1..4): each register starts at 48 zero bytes;
// every record except EV_NO_ACTION extends RTMR[pcrIndex - 1] with its SHA-384 digest; records
// for CC MR index 0 (MRTD) are not extended. Then every entry of `ima` (if given) extends its
// register (mapping per `ima_mapping`) with its template hash (all 0xFF for violations).
// The result holds RTMR0..3. Errors: kUnsupportedAlgorithm (the log has no SHA-384 bank, or the
// IMA template hash is not SHA-384), kMalformed (a record's CC MR index is above 4, or an IMA
// register does not map to an RTMR), kCryptoError if OpenSSL fails.
Result<ReplayResult> replay_rtmrs(const TcgEventLog& ccel, const ImaLog* ima = nullptr,
                                  ImaRegisterMapping ima_mapping = ImaRegisterMapping::kAuto);

// Replays a TPM2 log into PCR 0..23 of every bank of its Spec ID event. Initial values: zero,
// except PCR17..22 all 0xFF; an EV_NO_ACTION "StartupLocality" event for PCR0 makes PCR0 start as
// 0..0 ‖ locality. EV_NO_ACTION records are never extended. Errors: kMalformed (a PCR index above
// 23), kUnsupportedAlgorithm (an SM3 bank: no implementation), kCryptoError if OpenSSL fails.
Result<ReplayResult> replay_pcrs(const TcgEventLog& tpm_log);

struct RegisterMismatch {
  RegisterId id;
  Bytes expected;
  std::optional<Bytes> actual;  // nullopt when the replay has no such register
};

// Every register of `expected` whose value differs from (or is absent in) `replayed`, in register
// order. Registers only in `replayed` are not compared.
std::vector<RegisterMismatch> compare_registers(const RegisterValues& expected,
                                                const RegisterValues& replayed);

// OK when compare_registers finds nothing; otherwise kMeasurementMismatch whose message names every
// mismatching register with its expected and replayed value.
Status check_registers_match(const RegisterValues& expected, const RegisterValues& replayed);

// {"RTMR0": hex, ...}; a replay adds "extends" per register and "ima_entries"; mismatches are
// [{register, expected, actual (null when absent)}].
nlohmann::json to_json(const RegisterValues& registers);
nlohmann::json to_json(const ReplayResult& result);
nlohmann::json to_json(const std::vector<RegisterMismatch>& mismatches);

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// Intel TDX collateral documents as Intel's Provisioning Certification Service (PCS v4) serves
// them: TDX TCB Info (version 3) and TD QE Identity (version 2), each a JSON object
// {"<member>": {...}, "signature": "<hex r||s>"} whose signature covers the exact bytes of the
// member's value. Pure parsers over bytes; nothing here checks a signature or a date
// (tdx_collateral_verify.h does). Format: docs/reference/MEASUREMENT-FORMATS.md §2.6.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/pki.h"

namespace ccfde::measure {

// The TCB statuses of Intel's TCB Info and QE Identity, best first.
enum class TcbStatus {
  kUpToDate,
  kSwHardeningNeeded,
  kConfigurationNeeded,
  kConfigurationAndSwHardeningNeeded,
  kOutOfDate,
  kOutOfDateConfigurationNeeded,
  kRevoked,
};

// Intel's spelling ("UpToDate", "SWHardeningNeeded", ...).
std::string_view tcb_status_name(TcbStatus status) noexcept;
// The inverse (exact, case-sensitive spelling). kInvalidArgument naming the text otherwise.
Result<TcbStatus> parse_tcb_status(std::string_view name);

// A signed PCS document split into the exact signed bytes and the signature.
struct SignedCollateralDocument {
  std::string body;                          // the member's value, byte for byte as served
  std::array<std::uint8_t, 64> signature{};  // ECDSA P-256 r || s, big-endian
};

// Splits `text` = {"<member>": <object>, "signature": "<128 hex digits>"} (members in any order,
// nothing else at top level, no duplicates). kMalformed naming `member` and what is wrong.
Result<SignedCollateralDocument> split_signed_document(std::string_view text,
                                                       std::string_view member);

// One TCB level of TDX TCB Info.
struct TdxTcbLevel {
  std::array<std::uint8_t, 16> sgx_tcb_components{};
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> tdx_tcb_components{};
  std::string tcb_date;
  TcbStatus status = TcbStatus::kRevoked;
  std::vector<std::string> advisory_ids;
};

// One TCB level of a TDX module identity (or of QE Identity): an ISVSVN threshold.
struct IsvTcbLevel {
  std::uint16_t isv_svn = 0;
  std::string tcb_date;
  TcbStatus status = TcbStatus::kRevoked;
  std::vector<std::string> advisory_ids;
};

// A TDX module identity ("TDX_<version as 2 hex digits>") of TCB Info.
struct TdxModuleIdentity {
  std::string id;
  std::array<std::uint8_t, 48> mr_signer{};
  std::array<std::uint8_t, 8> attributes{};
  std::array<std::uint8_t, 8> attributes_mask{};
  std::vector<IsvTcbLevel> tcb_levels;
};

// The "tcbInfo" member of TDX TCB Info v3.
struct TdxTcbInfo {
  std::string id;  // "TDX"
  int version = 0;
  TimePoint issue_date{};
  TimePoint next_update{};
  std::array<std::uint8_t, 6> fmspc{};
  std::array<std::uint8_t, 2> pce_id{};
  int tcb_type = 0;
  std::uint32_t tcb_evaluation_data_number = 0;
  std::array<std::uint8_t, 48> tdx_module_mr_signer{};
  std::array<std::uint8_t, 8> tdx_module_attributes{};
  std::array<std::uint8_t, 8> tdx_module_attributes_mask{};
  std::vector<TdxModuleIdentity> tdx_module_identities;  // empty when absent
  std::vector<TdxTcbLevel> tcb_levels;                   // in document order (best first)
};

// The "enclaveIdentity" member of TD QE Identity v2.
struct QeIdentity {
  std::string id;  // "TD_QE"
  int version = 0;
  TimePoint issue_date{};
  TimePoint next_update{};
  std::uint32_t tcb_evaluation_data_number = 0;
  std::uint32_t misc_select = 0;  // the hex text read as a big-endian number
  std::uint32_t misc_select_mask = 0;
  std::array<std::uint8_t, 16> attributes{};  // report byte order
  std::array<std::uint8_t, 16> attributes_mask{};
  std::array<std::uint8_t, 32> mr_signer{};
  std::uint16_t isv_prod_id = 0;
  std::vector<IsvTcbLevel> tcb_levels;  // in document order (best first)
};

// Parses the value of "tcbInfo". Only id "TDX" version 3 is accepted (kUnsupportedVersion
// otherwise); kMalformed naming the member (e.g. "tcbLevels[1].tcb.pcesvn") for anything missing,
// of the wrong type or out of range, and for unknown TCB statuses.
Result<TdxTcbInfo> parse_tdx_tcb_info(std::string_view body);

// Parses the value of "enclaveIdentity". Only id "TD_QE" version 2 is accepted; errors as above.
Result<QeIdentity> parse_qe_identity(std::string_view body);

// JSON views: byte fields as lowercase hex, dates as RFC 3339, statuses in Intel's spelling.
nlohmann::json to_json(const TdxTcbLevel& level);
nlohmann::json to_json(const IsvTcbLevel& level);

}  // namespace ccfde::measure

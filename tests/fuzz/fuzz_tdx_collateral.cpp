// SPDX-License-Identifier: Apache-2.0
// Fuzzes the TDX collateral document parsers: the signed-document split (both members) and the
// TCB Info and QE Identity body parsers, on the same bytes.
#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/tdx_collateral.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  const std::string_view text = ccfde::as_chars({data, size});
  if (auto document = split_signed_document(text, "tcbInfo"); document.ok()) {
    if (auto info = parse_tdx_tcb_info(document->body); info.ok()) {
      for (const auto& level : info->tcb_levels) (void)to_json(level).dump();
    }
  }
  if (auto document = split_signed_document(text, "enclaveIdentity"); document.ok()) {
    if (auto identity = parse_qe_identity(document->body); identity.ok()) {
      for (const auto& level : identity->tcb_levels) (void)to_json(level).dump();
    }
  }
  (void)parse_tdx_tcb_info(text);
  (void)parse_qe_identity(text);
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/file_io.h"
#include "ccfde/measure/tdx_collateral_verify.h"

namespace ccfde::measure {

Result<TdxCollateral> read_tdx_collateral_directory(const std::filesystem::path& directory) {
  constexpr std::size_t kMaxFileSize = std::size_t{1} << 20;
  TdxCollateral collateral;
  for (const auto& [name, target] : {
           std::pair{kTcbInfoFile, &collateral.tcb_info},
           std::pair{kTcbInfoIssuerChainFile, &collateral.tcb_info_issuer_chain},
           std::pair{kQeIdentityFile, &collateral.qe_identity},
           std::pair{kQeIdentityIssuerChainFile, &collateral.qe_identity_issuer_chain},
           std::pair{kPckCrlFile, &collateral.pck_crl},
           std::pair{kPckCrlIssuerChainFile, &collateral.pck_crl_issuer_chain},
           std::pair{kRootCaCrlFile, &collateral.root_ca_crl},
       }) {
    const std::filesystem::path path = directory / name;
    auto bytes = read_file(path, kMaxFileSize);
    if (!bytes.ok()) return bytes.status().with_context(path.string());
    *target = std::move(bytes).value();
  }
  return collateral;
}

}  // namespace ccfde::measure

// SPDX-License-Identifier: Apache-2.0
// Fuzzes the SMBIOS OEM Strings parser and the credential lookup over what it returns (both read
// bytes the host writes).
#include "ccfde/kbs-client/smbios_credential.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  auto strings = parse_smbios_oem_strings({data, size});
  if (strings.ok()) (void)find_smbios_credential(*strings, "cc-fde.init-data");
  return 0;
}

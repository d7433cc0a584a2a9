// SPDX-License-Identifier: Apache-2.0
// Fuzzes the confdata TOML parser (toml++, the document checks and the wipe of parsed strings).
#include "ccfde/kbs-client/confdata.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  (void)parse_confdata_key({data, size}, kConfdataRootKey);
  return 0;
}

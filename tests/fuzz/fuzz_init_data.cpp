// SPDX-License-Identifier: Apache-2.0
// Fuzzes the init-data TOML parser (toml++ and the document checks) and the binding check.
#include <string_view>

#include "ccfde/kbs-client/init_data.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::kbs_client;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto init_data = parse_init_data(body); init_data.ok()) {
    const std::uint8_t zero[48] = {};
    (void)check_init_data_binding(*init_data, zero, "MRCONFIGID");
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Fuzzes the ACPI CCEL table parser.
#include <nlohmann/json.hpp>

#include "ccfde/measure/ccel.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  if (auto table = parse_ccel_table({data, size}); table.ok()) (void)to_json(*table).dump();
  return 0;
}

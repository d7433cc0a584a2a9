// SPDX-License-Identifier: Apache-2.0
// Fuzzes the IMA measurement-list parsers (ascii and binary).
#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/ima_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  if (auto ascii = parse_ima_ascii(ccfde::as_chars({data, size})); ascii.ok()) {
    (void)to_json(*ascii).dump();
  }
  for (auto algorithm : {ccfde::DigestAlgorithm::kSha1, ccfde::DigestAlgorithm::kSha384}) {
    if (auto binary = parse_ima_binary({data, size}, algorithm); binary.ok()) {
      (void)to_json(*binary).dump();
    }
  }
  return 0;
}

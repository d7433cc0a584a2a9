// SPDX-License-Identifier: Apache-2.0
// Fuzzes the TCG crypto-agile event log parser and both replays over what it accepts.
#include <nlohmann/json.hpp>

#include "ccfde/measure/replay.h"
#include "ccfde/measure/tcg_event_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::measure;
  auto log = parse_tcg_event_log({data, size});
  if (!log.ok()) return 0;
  (void)to_json(*log).dump();
  if (auto rtmrs = replay_rtmrs(*log); rtmrs.ok()) (void)to_json(*rtmrs).dump();
  if (auto pcrs = replay_pcrs(*log); pcrs.ok()) (void)to_json(*pcrs).dump();
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Benchmarks of the measurement core: parse + replay of the largest shipped CCEL log, and TDX
// quote parse + offline verification. Inputs come from the test vectors in tests/data; an absent
// vector ends the program with exit status 1.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ccfde/measure/replay.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/measure/tdx_quote.h"
#include "ccfde/measure/tdx_verify.h"

namespace {

std::vector<std::uint8_t> load(const std::string& relative) {
  std::ifstream in(std::string(CCFDE_TESTDATA_DIR) + "/" + relative, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "measure_bench: test vector %s/%s is absent\n", CCFDE_TESTDATA_DIR,
                 relative.c_str());
    std::exit(1);
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

void BM_ParseAndReplayCcel(benchmark::State& state) {
  // go-tdx-guest/ccel_data.dat: 262144 bytes (43 records, then 0xFF padding), the largest CCEL.
  std::vector<std::uint8_t> log = load("go-tdx-guest/ccel_data.dat");
  std::string label = "go-tdx-guest/ccel_data.dat";
  std::size_t records = 0;
  for (auto _ : state) {
    auto parsed = ccfde::measure::parse_tcg_event_log(log);
    if (!parsed.ok()) {
      state.SkipWithError(parsed.status().to_string().c_str());
      return;
    }
    auto replayed = ccfde::measure::replay_rtmrs(*parsed);
    if (!replayed.ok()) {
      state.SkipWithError(replayed.status().to_string().c_str());
      return;
    }
    records = parsed->events.size();
    benchmark::DoNotOptimize(replayed->registers);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(log.size()));
  state.SetLabel(label + ", " + std::to_string(records) + " records");
}
BENCHMARK(BM_ParseAndReplayCcel)->Unit(benchmark::kMicrosecond);

void BM_ParseAndVerifyTdxQuote(benchmark::State& state) {
  std::vector<std::uint8_t> bytes = load("go-tdx-guest/cos-113-tdx-quote.dat");
  const auto at = *ccfde::measure::parse_rfc3339("2026-06-01T00:00:00Z");
  for (auto _ : state) {
    auto quote = ccfde::measure::parse_tdx_quote(bytes);
    auto verified = quote.ok()
                        ? ccfde::measure::verify_tdx_quote(*quote, at)
                        : ccfde::Result<ccfde::measure::TdxQuoteVerification>(quote.status());
    if (!verified.ok()) {
      state.SkipWithError(verified.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(verified->root_fingerprint);
  }
}
BENCHMARK(BM_ParseAndVerifyTdxQuote)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

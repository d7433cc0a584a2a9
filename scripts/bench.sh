#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the benchmarks in release mode and prints their figures (Google Benchmark).
# Usage: scripts/bench.sh [extra google-benchmark flags]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
testdata=${CCFDE_TESTDATA_DIR:-$root/tests/data}
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCCFDE_BUILD_TESTS=OFF \
  -DCCFDE_BUILD_BENCHMARKS=ON -DCCFDE_TESTDATA_DIR="$testdata" >/dev/null
cmake --build build/bench --target measure_bench kbs_bench -j "$(nproc)"
./build/bench/tests/bench/measure_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"
./build/bench/tests/bench/kbs_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"

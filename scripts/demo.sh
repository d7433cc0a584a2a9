#!/usr/bin/env bash
# The quick-start demo: builds cc-measure, writes synthetic evidence (a TCG event log and a TDX
# quote whose RTMRs match it, signed through a throwaway test PCK chain) and runs cc-measure on it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh >/dev/null; fi
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCFDE_BUILD_TESTS=OFF \
  -DCCFDE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/demo --target cc-measure ccfde-sample-evidence -j "$(nproc)" >/dev/null

cc_measure=build/demo/measure/tools/cc-measure/cc-measure
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/demo/tests/support/ccfde-sample-evidence "$work"

run() {
  printf '\n$ cc-measure %s\n' "$*"
  "$cc_measure" "$@"
}

run show "$work/quote.bin" | head -n 40
run eventlog "$work/ccel.bin" | head -n 40
run replay --eventlog "$work/ccel.bin" --quote "$work/quote.bin"
echo "exit status: 0 (the quote's RTMRs equal the replayed log)"
set +e
run replay --eventlog "$work/ccel.bin" --quote "$work/quote-mismatch.bin"
status=$?
set -e
echo "exit status: $status (RTMR2 of quote-mismatch.bin differs, as it should)"
[ "$status" -eq 1 ]
run verify "$work/quote.bin" --root "$work/root.pem" --at 2026-06-01T00:00:00Z
set +e
run verify "$work/quote.bin" --at 2026-06-01T00:00:00Z
status=$?
set -e
echo "exit status: $status (against the real Intel SGX Root CA the test chain is refused)"
[ "$status" -eq 1 ]
printf '\ndemo finished: synthetic evidence only (test PKI, no hardware)\n'

#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every check.
#   1. release build (GCC, hardening flags), unit tests + fuzz corpora as tests
#   2. ASan+UBSan build (halt on error), the same tests
#   3. libFuzzer smoke run of every fuzz target (clang), seeded from the shared test vectors
#   4. shellcheck over the shell scripts, clang-format over the C++ sources
# Environment: CCFDE_FUZZ_SECONDS (default 20) per fuzz target; CCFDE_TESTDATA_DIR overrides the
# test-vector folder (default ../shared/testdata next to the checkout).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)
fuzz_seconds=${CCFDE_FUZZ_SECONDS:-20}
testdata=${CCFDE_TESTDATA_DIR:-$root/../shared/testdata}

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-deps.sh
else
  bash scripts/install-deps.sh || echo "warning: cannot install packages as non-root; continuing"
fi

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

run_suite() {
  local dir=$1
  shift
  step "configure $dir"
  cmake -S . -B "$dir" -G Ninja -DCCFDE_TESTDATA_DIR="$testdata" "$@" >/dev/null
  step "build $dir"
  cmake --build "$dir" -j "$jobs"
  step "test $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DCCFDE_SANITIZE=address,undefined \
  -DCCFDE_BUILD_BENCHMARKS=OFF

step "fuzz smoke (${fuzz_seconds}s per target)"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCCFDE_FUZZ=ON -DCCFDE_BUILD_TESTS=OFF \
  -DCCFDE_BUILD_BENCHMARKS=OFF -DCCFDE_TESTDATA_DIR="$testdata" >/dev/null
cmake --build build/fuzz -j "$jobs"
bash tests/fuzz/run-fuzzers.sh build/fuzz "$fuzz_seconds"

step "shellcheck"
mapfile -t shell_scripts < <(git ls-files | while read -r f; do
  case "$f" in
    *.sh | .ci/run) echo "$f" ;;
    *) if head -n1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b'; then echo "$f"; fi ;;
  esac
done | sort -u)
shellcheck "${shell_scripts[@]}"
echo "shellcheck: ${#shell_scripts[@]} scripts clean"

step "clang-format"
mapfile -t cxx_sources < <(git ls-files '*.cpp' '*.h')
clang-format --dry-run -Werror "${cxx_sources[@]}"
echo "clang-format: ${#cxx_sources[@]} files clean"

step "all checks passed"

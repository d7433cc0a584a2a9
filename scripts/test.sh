#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: installs what is missing, builds, and runs every check.
#   1. the Debian packages (dpkg-buildpackage -us -uc -b, debian/): their build directory build/deb
#      is the release build (GCC, Debian's and the project's hardening flags); its unit tests +
#      fuzz corpora as tests; the shipped binaries' hardening; lintian (beside the later steps)
#   2. ASan+UBSan build (halt on error), the same tests
#   3. the encrypted-root VM test (tests/e2e/run.sh, every case), the guests installing the
#      packages of step 1 with apt
#   4. with CCFDE_FUZZ_SECONDS > 0 only: a libFuzzer run of every fuzz target (clang), seeded from
#      the test vectors (tests/data); by default the fuzz targets run only as corpus tests
#      (seeds, truncations, mutations) in steps 1 and 2, which keeps CI within its time budget
#   5. shellcheck over the shell scripts, clang-format over the C++ sources, clang-tidy (the checks
#      of .clang-tidy, no finding allowed) over the non-test sources with the release build's
#      compile database (run beside step 3, at the lowest priority), the layering rule and the citation rule (nothing cites documents outside
#      the repository)
# Environment: CCFDE_FUZZ_SECONDS (default 0: no libFuzzer run) per fuzz target; CCFDE_TESTDATA_DIR overrides the
# test-vector folder (default tests/data, which the repository carries).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)
fuzz_seconds=${CCFDE_FUZZ_SECONDS:-0}
testdata=${CCFDE_TESTDATA_DIR:-$root/tests/data}

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-deps.sh
else
  bash scripts/install-deps.sh || echo "warning: cannot install packages as non-root; continuing"
fi

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

total_passed=0
total_failed=0
total_skipped=0

# check_skips DIR LOG: every test that ctest reports as skipped in LOG (a GoogleTest GTEST_SKIP,
# which gtest_discover_tests maps to ctest's skip through SKIP_REGULAR_EXPRESSION, or a script's
# exit 77 under SKIP_RETURN_CODE) must be allowed by tests/allowed-skips. Its lines are
# REGEX<TAB>REASON (# starts a comment); the extended regex must match the whole test name, or
# BUILD/NAME where BUILD is the build directory's base name (deb/NAME: in build/deb only).
check_skips() {
  local build=${1##*/} log=$2 re reason name allowed
  local -a patterns=() offending=()
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    IFS=$'\t' read -r re reason <<<"$line"
    if [[ $line != *$'\t'* || -z $re || -z $reason ]]; then
      echo "tests/allowed-skips: not REGEX<TAB>REASON: $line"
      return 1
    fi
    patterns+=("$re")
  done <tests/allowed-skips
  while IFS= read -r name; do
    allowed=0
    for re in "${patterns[@]}"; do
      if [[ $name =~ ^($re)$ || $build/$name =~ ^($re)$ ]]; then
        allowed=1
        break
      fi
    done
    [ "$allowed" -eq 1 ] || offending+=("$name")
  done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .*\*\*\*Skipped.*/\1/p' "$log")
  if [ "${#offending[@]}" -gt 0 ]; then
    echo "skipped, and not allowed by tests/allowed-skips (in $1):"
    printf '  %s\n' "${offending[@]}"
    return 1
  fi
}

# configure_and_build DIR CMAKE_ARGS...: a Ninja build of the tree in DIR.
configure_and_build() {
  local dir=$1
  shift
  step "configure $dir"
  cmake -S . -B "$dir" -G Ninja -DCCFDE_TESTDATA_DIR="$testdata" "$@" >/dev/null
  step "build $dir"
  cmake --build "$dir" -j "$jobs"
}

# test_suite DIR: ctest in DIR; counts passed, failed and skipped tests (skips must be allowed).
test_suite() {
  local dir=$1
  step "test $dir"
  local log="$dir/ctest.log" status=0
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" 2>&1 | tee "$log" || status=1
  local summary total failed skipped
  summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")
  # ctest's "tests passed" counts skipped tests (exit 77) as passed: they are counted apart.
  skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
  total_passed=$((total_passed + ${total:-0} - ${failed:-0} - skipped))
  total_failed=$((total_failed + ${failed:-0}))
  total_skipped=$((total_skipped + skipped))
  check_skips "$dir" "$log" || status=1
  if [ "$status" -ne 0 ] || [ -z "$summary" ]; then
    echo "ctest: $total_passed passed, $total_failed failed, $total_skipped skipped (in $dir)"
    exit 1
  fi
}

# Release binaries carry the hardening flags: PIE, full RELRO (BIND_NOW), non-executable stack,
# stack protector and FORTIFY (checked through the symbols they pull in).
check_hardening() {
  local binary=$1 header segments dynamic symbols
  # Captured first: `readelf | grep -q` would fail under pipefail when grep stops reading early.
  header=$(readelf -h "$binary")
  segments=$(readelf -lW "$binary")
  dynamic=$(readelf -d "$binary")
  symbols=$(readelf -sW --dyn-syms "$binary")
  grep -q 'Type:.*DYN' <<<"$header" || { echo "$binary: not PIE"; exit 1; }
  grep -q GNU_RELRO <<<"$segments" || { echo "$binary: no RELRO"; exit 1; }
  grep -qE 'BIND_NOW|FLAGS.*NOW' <<<"$dynamic" || { echo "$binary: no BIND_NOW"; exit 1; }
  [[ $(grep GNU_STACK <<<"$segments") == *"RW "* ]] || { echo "$binary: executable stack"; exit 1; }
  grep -q __stack_chk_fail <<<"$symbols" || { echo "$binary: no stack protector"; exit 1; }
  grep -qE '__[a-z]+_chk@' <<<"$symbols" || { echo "$binary: no FORTIFY"; exit 1; }
  echo "hardening: $binary is PIE, full RELRO, NX stack, stack protector, FORTIFY"
}

# Step 1: the packages. debian/rules builds in build/deb (prefix /usr, Debian's build flags with
# hardening=+all on top of the project's own), which is the release build every later step uses:
# its tests run here, the VM test installs its packages and takes devkbs and cc-measure from it,
# and clang-tidy reads its compile database. nocheck: its tests run below (with the skip
# accounting), not in dh_auto_test; terse: no compiler command lines in the log;
# ccfde-line-tables: -g1 instead of -g (debian/rules); noautodbgsym: no debug-symbol packages,
# which CI would only throw away.
step "packages (dpkg-buildpackage -us -uc -b; build directory build/deb)"
version=$(dpkg-parsechangelog -S Version)
DEB_BUILD_OPTIONS="nocheck noautodbgsym terse ccfde-line-tables parallel=$jobs" \
  CCFDE_TESTDATA_DIR="$testdata" dpkg-buildpackage -us -uc -b
# dpkg-buildpackage writes its results next to the source tree; they are moved into it.
rm -rf build/packages
mkdir -p build/packages
mv ../cc-fde*_"$version"_*.deb ../cc-fde_"$version"_*.buildinfo ../cc-fde_"$version"_*.changes \
  build/packages/
ls -l build/packages
lintian_log=build/packages/lintian.log
setsid nice -n 19 lintian --fail-on error,warning,info --display-info \
  "build/packages/cc-fde_${version}_amd64.changes" >"$lintian_log" 2>&1 &
lintian_pid=$!
# Stopped if a later step fails before its result is read (clang-tidy joins this trap below).
trap 'kill -TERM -- "-$lintian_pid" 2>/dev/null || true' EXIT
# The shipped (stripped) binaries, as the packages hold them.
check_hardening debian/cc-fde/usr/bin/cc-measure
check_hardening debian/cc-fde/usr/sbin/fdectl
check_hardening debian/cc-fde/usr/sbin/fde-agent
check_hardening debian/cc-fde/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-cc-fde.so
check_hardening debian/cc-fde-devkbs/usr/sbin/devkbs
test_suite build/deb

# Both builds keep line tables only (-g1: function names and source lines in backtraces and
# sanitizer reports, no variable information), which compiles about a third faster than -g.
line_tables=(-DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1)
# The sanitizer build also compiles fdectl's test-only fault points for the crash-injection suite;
# the release build above stays free of them, like a shipped build. It also compiles the
# benchmarks (never run here: scripts/bench.sh), which the packages' build leaves out.
configure_and_build build/asan -DCMAKE_BUILD_TYPE=Debug -DCCFDE_SANITIZE=address,undefined \
  -DCCFDE_FAULT_INJECTION=ON "${line_tables[@]}"
test_suite build/asan

# The VM test leaves about a quarter of the two cores idle (QEMU waits on its guest's timers and
# on the broker), so clang-tidy runs beside it at the lowest priority and is checked after it
# (step "clang-tidy" below). It slows the VM test by about a sixth and takes some ten minutes off
# the whole run. Its own process group, so that an early exit stops it.
tidy_log=build/deb/clang-tidy.log
setsid nice -n 19 bash scripts/clang-tidy.sh build/deb "$jobs" >"$tidy_log" 2>&1 &
tidy_pid=$!
trap 'kill -TERM -- "-$tidy_pid" "-$lintian_pid" 2>/dev/null || true' EXIT

step "encrypted-root VM test (tests/e2e)"
echo "(clang-tidy runs beside it, at nice 19; its result follows the libFuzzer step)"
if [ "$(id -u)" -eq 0 ]; then
  bash tests/e2e/run.sh --build-dir build/deb --packages build/packages
else
  echo "e2e: NOT RUN: the VM test needs root (debootstrap, chroot); run as root for the full suite"
  exit 1
fi

if [ "$fuzz_seconds" -gt 0 ]; then
  step "libFuzzer (${fuzz_seconds}s per target)"
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DCCFDE_FUZZ=ON -DCCFDE_BUILD_TESTS=OFF \
    -DCCFDE_BUILD_BENCHMARKS=OFF -DCCFDE_TESTDATA_DIR="$testdata" >/dev/null
  cmake --build build/fuzz -j "$jobs"
  bash tests/fuzz/run-fuzzers.sh build/fuzz "$fuzz_seconds"
else
  step "libFuzzer: NOT RUN (CCFDE_FUZZ_SECONDS unset or 0)"
  echo "fuzz: the targets ran above as corpus tests (fuzz_corpus_*, release and ASan+UBSan builds);"
  echo "fuzz: a coverage-guided run needs the clang build: CCFDE_FUZZ_SECONDS=60 scripts/test.sh"
  echo "fuzz: or tests/fuzz/run-fuzzers.sh build/fuzz SECONDS (README.md)"
fi

step "shellcheck"
mapfile -t shell_scripts < <(git ls-files | while read -r f; do
  case "$f" in
    *.sh | .ci/run | shell-completion/bash/*) echo "$f" ;;
    tests/data/* | tests/fuzz/seeds/*) ;;
    *) if [[ $(head -n1 "$f" 2>/dev/null) =~ ^\#!.*(ba)?sh ]]; then echo "$f"; fi ;;
  esac
done | sort -u)
shellcheck -x "${shell_scripts[@]}"
echo "shellcheck: ${#shell_scripts[@]} scripts clean"

step "clang-format"
mapfile -t cxx_sources < <(git ls-files '*.cpp' '*.h')
clang-format --dry-run -Werror "${cxx_sources[@]}"
echo "clang-format: ${#cxx_sources[@]} files clean"

step "clang-tidy"
# Started before the VM test with the release build's compile database (build/deb); prints the
# number of translation units checked and the time taken, and fails on any finding.
tidy_status=0
wait "$tidy_pid" || tidy_status=$?
cat "$tidy_log"
[ "$tidy_status" -eq 0 ] || { echo "clang-tidy: exit status $tidy_status"; exit 1; }

step "lintian"
# Started after the package build (beside the tests); no error, warning or info tag may remain
# (debian/*.lintian-overrides give each override's reason).
lintian_status=0
wait "$lintian_pid" || lintian_status=$?
cat "$lintian_log"
[ "$lintian_status" -eq 0 ] || { echo "lintian: exit status $lintian_status"; exit 1; }
echo "lintian: clean (error, warning and info tags)"

step "layering"
# Public headers must not reach into private code, and measure must not use later components.
if grep -rnE '#include "(\.\./)*[a-z-]+/src/|#include "ccfde/(kbs-client|agent)' measure/include common/include; then
  echo "layering: a public header includes private or higher-layer code"
  exit 1
fi
if grep -rnE 'ccfde/(kbs-client|agent)/' measure common; then
  echo "layering: measure/common include kbs-client or agent headers"
  exit 1
fi
echo "layering: ok"

step "citations"
# Comments and docs cite only what a clone contains (docs/, docs/reference/) or upstream sources
# (repository, path, commit), never notes kept outside the repository. The patterns are spelt with
# [.] and [x] so that this check does not match itself. Test vectors live in tests/data, so no
# path outside the clone (a sibling folder) is allowed either.
outside_docs='kbs-protocol[.]md|measurement-formats[.]md|boot-integration[.]md|vm-testing-note[s]'
outside_docs+='|style-example[s]|testdata READM[E]|testdata/READM[E]|shared/doc[s]|/work/share[d]'
outside_docs+='|[.][.]/share[d]'
citations=$(git ls-files -z | grep -zv '^docs/reference/' |
  xargs -0 grep -nIP -- "$outside_docs" || true)
if [[ -n $citations ]]; then
  printf '%s\n' "$citations" | sed 's/^/citations: /'
  echo "citations: the lines above cite documents outside the repository; cite docs/reference/ or"
  echo "citations: the upstream source (repository, path, commit) instead"
  exit 1
fi
echo "citations: ok"

step "licence headers"
# Every source file the project wrote carries its SPDX licence line in its first three lines; test
# vectors (tests/data, each origin with its own licence), fuzz seeds, docs, the example configuration
# (JSON has no comments) and the Debian files whose format has none are data, not code.
missing=()
while IFS= read -r f; do
  first_lines=$(head -n 3 "$f")
  grep -q 'SPDX-License-Identifier: Apache-2[.]0' <<<"$first_lines" || missing+=("$f")
done < <(git ls-files | grep -vE '^tests/data/|^tests/fuzz/seeds/|[.]md$|^LICENSE$|^[.]clang-(format|tidy)$|^[.]gitignore$|^agent/examples/.*[.]json$|^debian/(changelog|copyright|source/format)$')
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'licence headers: no SPDX-License-Identifier line in %s\n' "${missing[@]}"
  exit 1
fi
echo "licence headers: ok"

step "all checks passed"
echo "ctest: $total_passed passed, $total_failed failed, $total_skipped skipped"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs clang-tidy with the checks of the top-level .clang-tidy over the project's own sources
# (common, measure, kbs-client, devkbs, agent; not tests, fuzz targets or benchmarks), one process
# per translation unit, JOBS at a time, with the compile database of a configured build.
# Usage: scripts/clang-tidy.sh BUILD_DIR [JOBS]   (JOBS defaults to nproc)
# Exit status: 0 no finding, 1 a finding (or a translation unit clang-tidy could not check), whose
# output is printed; 2 bad usage.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [JOBS]" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
jobs=${2:-$(nproc)}
database="$build/compile_commands.json"
if [ ! -f "$database" ]; then
  echo "clang-tidy: $database: no compile database (configure the build first)" >&2
  exit 2
fi

mapfile -t sources < <(jq -r --arg root "$root/" \
  '.[].file | select(startswith($root)) | ltrimstr($root)' "$database" |
  grep -E '^(common|measure|kbs-client|devkbs|agent)/' | sort -u)
if [ "${#sources[@]}" -eq 0 ]; then
  echo "clang-tidy: $database names none of the project's sources" >&2
  exit 2
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$SECONDS
# Each translation unit writes its own log; a failing one is renamed *.failed and printed below,
# so the output of parallel runs never interleaves. The build uses GCC: clang does not know some
# of its warning options.
# shellcheck disable=SC2016 # the inner script's variables expand in the inner shell
printf '%s\0' "${sources[@]}" | xargs -0 -n 1 -P "$jobs" bash -c '
  log="$3/$(printf %s "$4" | tr / _).log"
  clang-tidy -p "$1" --quiet --extra-arg=-Wno-unknown-warning-option "$2/$4" >"$log" 2>&1 ||
    mv "$log" "${log%.log}.failed"
' _ "$build" "$root" "$logs" || true
elapsed=$((SECONDS - start))

shopt -s nullglob
failed=("$logs"/*.failed)
for log in "${failed[@]}"; do
  # clang's count of the warnings it generated (nearly all in system headers, not shown) is noise.
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" || true
done
echo "clang-tidy: ${#sources[@]} translation units checked in ${elapsed}s with $jobs jobs," \
  "${#failed[@]} with findings"
[ "${#failed[@]}" -eq 0 ]

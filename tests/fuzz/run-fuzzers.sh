#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke-runs every libFuzzer target of a CCFDE_FUZZ=ON build for a few seconds each, seeded with
# the test vectors (tests/data) listed in fuzz_<name>.seeds.  Usage: run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail

build=${1:?build directory}
seconds=${2:-20}
fuzz_dir="$build/tests/fuzz"
corpus_root="$build/fuzz-corpus"

shopt -s nullglob
targets=("$fuzz_dir"/fuzz_*)
found=0
for target in "${targets[@]}"; do
  if [ ! -f "$target" ] || [ ! -x "$target" ]; then continue; fi
  name=$(basename "$target")
  corpus="$corpus_root/$name"
  mkdir -p "$corpus"
  if [ -f "$target.seeds" ]; then
    while IFS= read -r seed; do
      [ -n "$seed" ] || continue
      if [ -d "$seed" ]; then
        find "$seed" -maxdepth 1 -type f -exec cp -f {} "$corpus/" \;
        continue
      fi
      if [ ! -f "$seed" ]; then
        echo "fuzz: seed $seed of $name is absent (the repository carries it in tests/data)" >&2
        exit 1
      fi
      cp -f "$seed" "$corpus/"
    done <"$target.seeds"
  fi
  echo "fuzz: $name for ${seconds}s ($(find "$corpus" -type f | wc -l) corpus files)"
  "$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$corpus_root/$name-" \
    "$corpus" 2>"$corpus_root/$name.log" || {
    tail -n 60 "$corpus_root/$name.log"
    echo "fuzz: $name FAILED"
    exit 1
  }
  grep -E '^stat::number_of_executed_units' "$corpus_root/$name.log" || true
  found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
  echo "fuzz: no fuzz targets in $fuzz_dir" >&2
  exit 1
fi
echo "fuzz: $found targets ran without a crash"

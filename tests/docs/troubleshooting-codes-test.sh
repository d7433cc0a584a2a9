#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Keeps docs/TROUBLESHOOTING.md complete: every enumerator of ccfde::ErrorCode
# (common/include/ccfde/common/status.h) must have an entry there, a heading
#   ### `NAME` (VALUE)
# where NAME is what error_code_name() returns for it (common/src/status.cpp) and VALUE its number.
# Fails naming every enumerator without a name, every code without an entry, and every entry that
# names no code. A second pass runs the same check on a copy of the document with one entry
# removed and requires it to fail naming that code, so the check itself is seen to work.
# Usage: troubleshooting-codes-test.sh SOURCE_DIR [DOCUMENT]
set -u
src=${1:?source directory}
doc=${2:-$src/docs/TROUBLESHOOTING.md}
header=$src/common/include/ccfde/common/status.h
names_source=$src/common/src/status.cpp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for file in "$header" "$names_source" "$doc"; do
  [ -f "$file" ] || {
    echo "FAIL $file does not exist"
    exit 1
  }
done

# "kEnumerator VALUE" for every enumerator between `enum class ErrorCode` and its closing brace.
sed -n '/^enum class ErrorCode\b/,/^};/s/^ *\(k[A-Za-z0-9]*\) *= *\([0-9][0-9]*\),.*/\1 \2/p' \
  "$header" >"$work/enumerators"
# "kEnumerator name" from error_code_name()'s switch.
sed -n 's/^ *case ErrorCode::\(k[A-Za-z0-9]*\): *return "\([a-z0-9_]*\)";.*/\1 \2/p' \
  "$names_source" >"$work/names"

count=$(wc -l <"$work/enumerators")
if [ "$count" -lt 40 ]; then
  echo "FAIL only $count ErrorCode enumerators found in $header: the extraction is broken"
  exit 1
fi

failed=0
: >"$work/expected"
while read -r enumerator value; do
  name=$(awk -v e="$enumerator" '$1 == e { print $2 }' "$work/names")
  if [ -z "$name" ]; then
    echo "FAIL ErrorCode::$enumerator has no name in error_code_name() ($names_source)"
    failed=1
    continue
  fi
  printf '%s (%s)\n' "$name" "$value" >>"$work/expected"
done <"$work/enumerators"

# check_document DOC: prints a FAIL line per missing or stale entry; returns 1 if there is one.
check_document() {
  local document=$1 result=0 entry
  # shellcheck disable=SC2016  # the backquotes are the Markdown heading's, not a command
  sed -n 's/^### `\([a-z0-9_]*\)` (\([0-9]*\))$/\1 (\2)/p' "$document" >"$work/documented"
  while read -r entry; do
    if ! grep -qxF -- "$entry" "$work/documented"; then
      echo "FAIL $document has no entry for error code $entry (add a heading: ### \`${entry% *}\` ${entry#* })"
      result=1
    fi
  done <"$work/expected"
  while read -r entry; do
    if ! grep -qxF -- "$entry" "$work/expected"; then
      echo "FAIL $document has an entry for $entry, which is not an ErrorCode (renamed or renumbered?)"
      result=1
    fi
  done <"$work/documented"
  return "$result"
}

if check_document "$doc"; then
  echo "ok   $doc has an entry for each of the $(wc -l <"$work/expected") error codes"
else
  failed=1
fi

# The check must fail when an entry is missing: remove the entry of the last code and expect a
# failure that names it.
last=$(tail -n 1 "$work/expected")
grep -vxF -- "### \`${last% *}\` ${last#* }" "$doc" >"$work/without-one.md"
if check_document "$work/without-one.md" >"$work/negative.out"; then
  echo "FAIL the check accepted a document without the entry for $last"
  failed=1
elif grep -qF "no entry for error code $last" "$work/negative.out"; then
  echo "ok   a document without the entry for $last is refused"
else
  echo "FAIL the check refused a document without $last, but did not name it:"
  sed 's/^/  | /' "$work/negative.out"
  failed=1
fi

exit "$failed"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages and bash completions against the programs' --help: for every command and every
# subcommand its --help lists, each option (--foo) and subcommand must be documented in the man
# page (as *--foo* in the block of that subcommand, *--help* once per page) and offered by the bash
# completion; and the reverse: every *--foo* a page documents, every subcommand block it has and
# every option a completion offers must exist in --help. cc-fde.json(5) and cc-fde-cmdline(7) are
# checked the same way against the keys and options fde-agent's parsers name in their errors. Every
# rendered page must render with groff -ww and man without a warning.
# Usage: man-pages-test.sh MAN_SOURCE_DIR MAN_RENDERED_DIR COMPLETION_DIR NAME=PROGRAM...
#   (a NAME without a completion file, devkbs, is checked against its man page only)
set -uo pipefail

man_source=${1:?man page sources (man/)}
man_rendered=${2:?rendered man pages (build dir)}
completions=${3:?bash completion folder}
shift 3
# shellcheck source=tests/cli/lib/harness.sh
source "$(dirname "$0")/lib/harness.sh"

declare -A program=()   # NAME -> binary
declare -A page=()      # NAME -> man page source
declare -A help_opts=() # "NAME|PATH" -> options --help lists ("" PATH: the program itself)
declare -A help_subs=() # "NAME|PATH" -> subcommands --help lists
declare -A paths=()     # NAME -> "|"-separated subcommand paths ("" first)
names=()
for pair in "$@"; do
  name=${pair%%=*}
  program[$name]=${pair#*=}
  names+=("$name")
  page[$name]=$(find "$man_source" -maxdepth 1 -name "$name.[0-9].scd" | head -n 1)
done

# The options and subcommands of a CLI11 help text: "option --foo" and "command foo" lines.
parse_help() {
  awk '
    /^[A-Za-z]+:$/ { section = $0; next }
    /^[^ ]/ { section = "" }
    section == "Options:" && /^  -/ {
      n = split($1, names, ",")
      for (i = 1; i <= n; i++) if (names[i] ~ /^--[a-z0-9]/) print "option " names[i]
    }
    section == "Subcommands:" && /^  [a-z]/ { print "command " $1 }
  ' "$1"
}

# walk NAME PATH: records the --help of `NAME PATH... --help` and walks its subcommands.
walk() {
  local name=$1 path=$2 kind word
  local -a words=()
  [ -n "$path" ] && read -r -a words <<<"$path"
  if ! "${program[$name]}" "${words[@]}" --help >"$work/help" 2>"$work/help.err"; then
    echo "FAIL $name $path --help exited non-zero"
    failed=$((failed + 1))
    return
  fi
  paths[$name]+="$path|"
  help_opts["$name|$path"]=""
  help_subs["$name|$path"]=""
  while read -r kind word; do
    if [ "$kind" = option ]; then
      help_opts["$name|$path"]+="$word "
    else
      help_subs["$name|$path"]+="$word "
    fi
  done < <(parse_help "$work/help")
  for word in ${help_subs["$name|$path"]}; do
    walk "$name" "${path:+$path }$word"
  done
}

# The lines of a subcommand's block in a page: from the line starting "*PATH*" or "*PATH " to the
# next line starting with "*" or "#" (a block's own lines are indented).
block_of() {
  awk -v header="*$2" '
    inside && /^[*#]/ { inside = 0 }
    index($0, header "*") == 1 || index($0, header " ") == 1 { inside = 1 }
    inside { print }
  ' "$1"
}

# The subcommand blocks of the COMMANDS section: "*word*" or "*word word*" starting a line.
page_commands() {
  awk '
    /^# / { inside = ($0 == "# COMMANDS") ; next }
    inside && match($0, /^\*[a-z][a-z-]*( [a-z][a-z-]*)?\*/) { print substr($0, 2, RLENGTH - 2) }
  ' "$1"
}

page_options() { grep -oE '\*--[a-z0-9][a-z0-9-]*\*' "$1" | tr -d '*' | sort -u; }

# expect_empty NAME LABEL LIST: a check that LIST is empty (else it shows "LABEL LIST").
expect_empty() {
  echo "$2$3" >"$work/out"
  : >"$work/err"
  check "$1" test -z "$3"
}

in_list() { [[ " $2 " == *" $1 "* ]]; }

# complete_words NAME WORD...: what NAME's bash completion offers for the command line
# `NAME WORD...` with the cursor on the last word, one per line.
complete_words() {
  local name=$1
  shift
  bash --noprofile --norc -c '
    source "$1" || exit 3
    spec=$(complete -p "$2") || exit 4
    function=${spec#*-F }
    function=${function%% *}
    shift 2
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    "$function" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"
  ' completion "$completions/$name" "$name" "$name" "$@"
}

# completes NAME: NAME's completion file defines a completion function that runs.
completes() { complete_words "$1" "" >"$work/out"; }

for name in "${names[@]}"; do
  walk "$name" ""
  count=0
  for key in "${!help_opts[@]}"; do
    [[ $key == "$name|"* ]] && count=$((count + $(wc -w <<<"${help_opts[$key]}")))
  done
  # A help format this parser no longer understands would make every check below pass vacuously.
  levels=$(tr -cd '|' <<<"${paths[$name]}" | wc -c)
  check "$name: --help lists options ($count options in $levels (sub)command levels)" \
    test "$count" -gt 2
  src=${page[$name]}
  check "$name: man page source exists" test -n "$src" -a -f "$src"
  [ -n "$src" ] || continue

  # Forward: every option and subcommand of --help is in the page.
  missing=""
  IFS='|' read -r -a walked <<<"${paths[$name]}"
  for path in "${walked[@]}"; do
    if [ -n "$path" ] && ! block_of "$src" "$path" | grep -q .; then
      missing+=" subcommand '$path' (no block starting *$path*)"
      continue
    fi
    for option in ${help_opts["$name|$path"]}; do
      if [ -z "$path" ] || [ "$option" = --help ]; then
        grep -qF -- "*$option*" "$src" || missing+=" $option"
      else
        block_of "$src" "$path" | grep -qF -- "*$option*" || missing+=" $path:$option"
      fi
    done
  done
  expect_empty "$name: every option and subcommand of --help is in $(basename "$src")" \
    "not documented:" "$missing"

  # Reverse: every documented option and subcommand exists.
  all_opts=" "
  for path in "${walked[@]}"; do all_opts+="${help_opts["$name|$path"]} "; done
  stale=""
  while read -r option; do
    in_list "$option" "$all_opts" || stale+=" $option"
  done < <(page_options "$src")
  while read -r path; do
    [[ "|${paths[$name]}" == *"|$path|"* ]] || stale+=" subcommand '$path'"
  done < <(page_commands "$src")
  expect_empty "$name: everything $(basename "$src") documents is in some --help" \
    "not in --help:" "$stale"

  # The bash completion, if the command has one.
  [ -f "$completions/$name" ] || continue
  check "$name: completion registers a function" completes "$name"
  missing=""
  stale=""
  for path in "${walked[@]}"; do
    read -r -a words <<<"$path"
    offered=" $(complete_words "$name" "${words[@]}" -- | tr '\n' ' ') "
    for option in ${help_opts["$name|$path"]}; do
      in_list "$option" "$offered" || missing+=" ${path:+$path:}$option"
    done
    # Offered options must exist here or on an enclosing command (cc-measure's global ones).
    allowed=" ${help_opts["$name|"]} ${help_opts["$name|$path"]} "
    [[ $path == *" "* ]] && allowed+=" ${help_opts["$name|${path% *}"]} "
    for option in $offered; do
      in_list "$option" "$allowed" || stale+=" ${path:+$path:}$option"
    done
    subs=${help_subs["$name|$path"]}
    if [ -n "$subs" ]; then
      offered=" $(complete_words "$name" "${words[@]}" "" | tr '\n' ' ') "
      for sub in $subs; do
        in_list "$sub" "$offered" || missing+=" ${path:+$path:}$sub"
      done
    fi
  done
  expect_empty "$name: completion offers every option and subcommand of --help" \
    "not offered:" "$missing"
  expect_empty "$name: completion offers nothing --help lacks" \
    "offered but not in --help:" "$stale"
done

# File names after the options that take a path, and block devices for fdectl's DEVICE.
touch "$work/config.json" "$work/ca.pem"
offers() { # WORD NAME ARGS...: the completion of `NAME ARGS...` offers WORD
  local want=$1
  shift
  complete_words "$@" | grep -qxF -- "$want"
}
for name in "${names[@]}"; do
  [ -f "$completions/$name" ] || continue
  case $name in
    fdectl)
      check "fdectl enroll --config completes file names" \
        offers "$work/config.json" fdectl enroll --config "$work/con"
      check "fdectl kbs get --ca completes file names" \
        offers "$work/ca.pem" fdectl kbs get --ca "$work/c"
      check "fdectl reencrypt --backup-dir completes directories" \
        offers "$work" fdectl reencrypt /dev/x --backup-dir "$work"
      first_block=$(find /sys/class/block -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -n 1)
      if [ -n "$first_block" ]; then
        check "fdectl test DEVICE completes /dev/$first_block" \
          offers "/dev/$first_block" fdectl test "/dev/$first_block"
      fi
      check "fdectl test DEVICE completes image files" \
        offers "$work/config.json" fdectl test "$work/con"
      check "fdectl enroll --key-source completes its values" \
        offers broker fdectl enroll --key-source ""
      ;;
    fde-agent)
      check "fde-agent unlock --config completes file names" \
        offers "$work/config.json" fde-agent unlock --config "$work/con"
      ;;
    cc-measure)
      check "cc-measure show FILE completes file names" \
        offers "$work/ca.pem" cc-measure show "$work/c"
      check "cc-measure predict --format completes its values" \
        offers trustee cc-measure predict --format t
      ;;
  esac
done

# cc-fde.json(5) and cc-fde-cmdline(7) against fde-agent's parsers: the "allowed" lists of their
# unknown-key and unknown-option errors, and the reverse.
json_page="$man_source/cc-fde.json.5.scd"
cmdline_page="$man_source/cc-fde-cmdline.7.scd"
if [ -n "${program[fde-agent]-}" ]; then
  touch "$work/ca.pem"
  profile='"default": {"url": "https://kbs.example", "ca_file": "'"$work"'/ca.pem",
    "resources": ["default/fde/*"]}'
  # An unknown key at each level: the error lists the keys allowed there.
  configs=(
    '{"version": 1, "zz": 1, "profiles": {'"$profile"'}}'
    '{"version": 1, "profiles": {"default": {"zz": 1}}}'
    '{"version": 1, "profiles": {'"$profile"'}, "evidence": {"zz": 1}}'
    '{"version": 1, "profiles": {'"$profile"'}, "unlock": {"zz": 1}}'
    '{"version": 1, "profiles": {'"$profile"'}, "unlock": {"volumes": [{"zz": 1}]}}'
    '{"version": 1, "profiles": {'"$profile"'}, "unlock": {"first_boot": [{"zz": 1}]}}'
    '{"version": 1, "profiles": {'"$profile"'}, "kernel_command_line": {"zz": 1}}'
  )
  config_keys=" "
  for config in "${configs[@]}"; do
    echo "$config" >"$work/config.json"
    "${program[fde-agent]}" initramfs-files --config "$work/config.json" >/dev/null 2>"$work/err"
    list=$(sed -n 's/.*unknown key (allowed: \(.*\))$/\1/p' "$work/err" | tr -d ,)
    : >"$work/out"
    where=$(sed -n 's/.*: \(\/[^:]*\)\/zz: unknown key.*/\1/p' "$work/err")
    check "fde-agent names the keys allowed beside an unknown one in ${where:-/}" test -n "$list"
    config_keys+="$list "
  done
  echo '{"version": 1, "profiles": {'"$profile"'}, "kernel_command_line": {"allow": ["zz"]}}' \
    >"$work/config.json"
  "${program[fde-agent]}" initramfs-files --config "$work/config.json" >/dev/null 2>"$work/err"
  allow_names=$(sed -n 's/.*unknown option "zz" (\(.*\))$/\1/p' "$work/err" | tr -d ,)
  check "fde-agent names the kernel_command_line.allow names" test -n "$allow_names"
  echo '{"version": 1, "profiles": {'"$profile"'}}' >"$work/config.json"
  echo "rd.cc-fde.zz=1" >"$work/cmdline"
  "${program[fde-agent]}" unlock --config "$work/config.json" --cmdline "$work/cmdline" --all \
    --dry-run >/dev/null 2>"$work/err"
  cmdline_options=$(sed -n 's/.*unknown option (\(.*\))$/\1/p' "$work/err" | tr -d ,)
  check "fde-agent names the rd.cc-fde options" test -n "$cmdline_options"

  missing=""
  for key in $config_keys $allow_names; do
    grep -qF -- "*$key*" "$json_page" || missing+=" $key"
  done
  expect_empty "cc-fde.json.5.scd documents every key and allow name" "not documented:" "$missing"
  stale=""
  while read -r key; do
    in_list "$key" "$config_keys" || stale+=" $key"
  done < <(sed -n 's/^\*\([a-z][a-z_]*\)\* (.*/\1/p' "$json_page")
  expect_empty "cc-fde.json.5.scd documents no key the parser lacks" "unknown keys:" "$stale"

  missing=""
  for option in $cmdline_options; do
    grep -qE -- "^\*rd\.cc-fde\.${option}[=*]" "$cmdline_page" || missing+=" rd.cc-fde.$option"
  done
  for name in $allow_names; do
    grep -qE -- "^\*rd\.cc-fde[.=].*\($name\)$" "$cmdline_page" || missing+=" ($name)"
  done
  expect_empty "cc-fde-cmdline.7.scd documents every option and allow name" "not documented:" \
    "$missing"
  stale=""
  while read -r option; do
    in_list "$option" "$cmdline_options" || stale+=" rd.cc-fde.$option"
  done < <(sed -n 's/^\*rd\.cc-fde\.\([a-z][a-z-]*\)[=*].*/\1/p' "$cmdline_page")
  expect_empty "cc-fde-cmdline.7.scd documents no option the parser lacks" "unknown options:" \
    "$stale"
fi

# Every page renders without a warning, and every source has its rendered page.
for src in "$man_source"/*.scd; do
  rendered="$man_rendered/$(basename "$src" .scd)"
  : >"$work/out"
  : >"$work/err"
  check "$(basename "$rendered") is rendered" test -s "$rendered"
  [ -s "$rendered" ] || continue
  groff -man -Tutf8 -ww -z "$rendered" >"$work/out" 2>"$work/err"
  check "$(basename "$rendered"): groff -man -ww renders it without a warning" \
    test "$?" -eq 0 -a ! -s "$work/err"
  MANWIDTH=80 man --warnings -l "$rendered" >"$work/out" 2>"$work/err"
  check "$(basename "$rendered"): man --warnings -l renders it without a warning" \
    test "$?" -eq 0 -a ! -s "$work/err" -a -s "$work/out"
done

finish man-pages

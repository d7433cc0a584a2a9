# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers of the encrypted-root VM test: logging, paths, the Debian mirror, the chroot mounts.
# Sourced by tests/e2e/run.sh; every function expects the variables set there (E2E_DIR, CACHE_DIR,
# WORKDIR, SUITE).

# log MESSAGE...: a host-timestamped progress line on stderr.
log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }

# die MESSAGE...: prints the cause and exits 1 (the EXIT trap cleans up).
die() {
  log "ERROR: $*"
  exit 1
}

# now_s: host monotonic seconds with millisecond resolution (for phase timings).
now_s() { awk '{printf "%.3f\n", $1}' /proc/uptime; }

# phase_begin NAME / phase_end: times one phase; phase_end appends "NAME SECONDS" to
# $WORKDIR/phases.txt and logs it.
phase_begin() {
  PHASE_NAME=$1
  PHASE_T0=$(now_s)
  log "phase $PHASE_NAME: begin"
}
phase_end() {
  local dt
  dt=$(awk -v a="$PHASE_T0" -v b="$(now_s)" 'BEGIN{printf "%.1f", b-a}')
  printf '%-28s %8s s\n' "$PHASE_NAME" "$dt" >>"$WORKDIR/phases.txt"
  log "phase $PHASE_NAME: ${dt} s"
}

# mirror_uri SUITE: the first URI of the host's apt sources that serves SUITE (deb822 .sources
# files first, then one-line sources.list), falling back to deb.debian.org.
mirror_uri() {
  local suite=$1 uri
  uri=$(awk -v s="$suite" '
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s && u != "") { print u; exit } }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list)
  fi
  case $suite in
    *-security) printf '%s\n' "${uri:-http://deb.debian.org/debian-security}" ;;
    *) printf '%s\n' "${uri:-http://deb.debian.org/debian}" ;;
  esac
}

# key_of WORDS...: a short stable cache key (first 16 hex digits of a SHA-256).
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# chroot_mount ROOT / chroot_umount ROOT: bind-mounts /proc /sys /dev (and /dev/pts) into ROOT and
# removes them again. chroot_umount is safe to call on an unmounted tree.
chroot_mount() {
  local root=$1 d
  for d in proc sys dev dev/pts; do
    mkdir -p "$root/$d"
    mountpoint -q "$root/$d" || mount --bind "/$d" "$root/$d"
  done
}
chroot_umount() {
  local root=$1 d
  for d in dev/pts dev sys proc; do
    if mountpoint -q "$root/$d" 2>/dev/null; then umount -l "$root/$d" || true; fi
  done
}

# remove_tree DIR: unmounts anything chroot_mount left in DIR (an interrupted run), then deletes
# DIR without crossing into another filesystem (never into a bind-mounted /dev, /proc or /sys).
remove_tree() {
  local dir=$1
  [ -e "$dir" ] || return 0
  chroot_umount "$dir"
  rm -rf --one-file-system "$dir"
}

# in_chroot ROOT COMMAND...: runs COMMAND inside ROOT with a clean, non-interactive environment.
in_chroot() {
  local root=$1
  shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
}
